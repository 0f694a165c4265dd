"""Train the small head classifier (helmet / no helmet) and export it to ONNX; run in the EXPORT interpreter.

Stand-alone on purpose, like ``export_onnx.py``: the export venv has torch but not epolice, so this
file imports nothing of ours. ``models.head_training`` prepares the labelled head crops with the
runtime's own cropping code (``--data heads.npz``: ``x`` N x S x S x 3 uint8 BGR, ``y`` N with
1 = no helmet) and runs ``PY train_head.py --data heads.npz --out head.onnx``.

Deterministic: one seed for data order, augmentation and initial weights, one torch thread. The
network is four 3x3 convolution blocks and a linear layer (about 25k weights): small enough to
train in seconds on a CPU from a few hundred heads, and to run in well under a millisecond per head.
"""

from __future__ import annotations

import argparse
import sys


def build(size: int):
    import torch.nn as nn

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(
        block(3, 16), block(16, 24), block(24, 32), block(32, 48),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(48, 2),
    )


def augment(x, gen):
    """Random flips, brightness/contrast, shifts of up to 1/8 of the crop, a little blur: CCTV heads vary."""
    import torch
    import torch.nn.functional as F

    n, _, s, _ = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    gain = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=gen)
    bias = 0.15 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    x = (x * gain + bias).clamp(0, 1)
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * 0.25
    scale = 0.85 + 0.3 * torch.rand(n, generator=gen)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    blur = torch.rand(n, generator=gen) < 0.3
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :]) / 16.0
        w = k.expand(3, 1, 3, 3).contiguous()
        x = torch.where(blur[:, None, None, None], F.conv2d(x, w, padding=1, groups=3), x)
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="npz with x (N,S,S,3 uint8 BGR) and y (N, 1 = no helmet)")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    data = np.load(args.data)
    x = torch.from_numpy(data["x"][..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255.0  # BGR -> RGB
    y = torch.from_numpy(data["y"].astype(np.int64))
    size = x.shape[2]
    model = build(size)
    counts = torch.bincount(y, minlength=2).float()
    weight = (counts.sum() / (2 * counts.clamp(min=1))).clamp(max=10.0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            if len(idx) < 2:
                continue
            loss = F.cross_entropy(model(augment(x[idx], gen)), y[idx], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        sched.step()
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1}: loss {total / len(x):.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    print(f"training accuracy {acc:.3f} on {len(x)} heads ({int(counts[1])} without helmet)", flush=True)

    class Softmax(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, images):
            return torch.softmax(self.net(images), dim=1)

    torch.onnx.export(
        Softmax(model), torch.zeros(1, 3, size, size), args.out, input_names=["images"], output_names=["probs"],
        dynamic_axes={"images": {0: "batch"}, "probs": {0: "batch"}}, opset_version=17, dynamo=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
