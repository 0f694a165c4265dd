"""Export ultralytics ``.pt`` weights (or a hub name) to ONNX; run in the EXPORT interpreter, not the runtime.

Stand-alone on purpose: the export venv has torch + ultralytics but not epolice, so this file
imports nothing of ours. ``models.fetch`` runs it as ``PY export_onnx.py --weights W --out O``.

Legacy YOLOv12 checkpoints (the sunsmarterjie/yolov12 fork, saved as "ultralytics 8.3.63") pickle
their area-attention layers with two convolutions, ``qk`` (q then k, all heads) and ``v``, while
every released ultralytics AAttn uses one ``qkv`` convolution whose output channels are grouped
per head as [q_h, k_h, v_h]. ``convert_legacy_aattn`` rebuilds ``qkv`` from ``qk`` and ``v`` by
permuting output channels (conv weights and BatchNorm statistics alike), which is exact: the
attention arithmetic that follows is identical. ``--check IMAGE`` proves it on a real image by
comparing the ONNX output with the fork's original attention (``legacy_aattn_forward``) in PyTorch.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def letterbox_tensor(img, size: int):  # noqa: ANN001, ANN201 - BGR image -> 1x3xSxS float32 RGB in [0, 1]
    """The model input YOLO preprocessing makes of a BGR image: letterboxed (pad 114), RGB, /255, NCHW."""
    import cv2
    import numpy as np

    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nh, nw = round(h * r), round(w * r)
    canvas = np.full((size, size, 3), 114, np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top : top + nh, left : left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0)


def legacy_aattn_forward(self, x):
    """The fork's AAttn arithmetic on separate ``qk``/``v`` convolutions (CPU path), as reference."""
    import torch

    B, C, H, W = x.shape
    N = H * W
    qk = self.qk(x).flatten(2).transpose(1, 2)
    v = self.v(x)
    pp = self.pe(v)
    v = v.flatten(2).transpose(1, 2)
    if self.area > 1:
        qk = qk.reshape(B * self.area, N // self.area, C * 2)
        v = v.reshape(B * self.area, N // self.area, C)
        B, N, _ = qk.shape
    q, k = qk.split([C, C], dim=2)
    q = q.transpose(1, 2).view(B, self.num_heads, self.head_dim, N)
    k = k.transpose(1, 2).view(B, self.num_heads, self.head_dim, N)
    v = v.transpose(1, 2).view(B, self.num_heads, self.head_dim, N)
    attn = torch.softmax((q.transpose(-2, -1) @ k) * (self.head_dim**-0.5), dim=-1)
    x = (v @ attn.transpose(-2, -1)).permute(0, 3, 1, 2)
    if self.area > 1:
        x = x.reshape(B // self.area, N * self.area, C)
        B, N, _ = x.shape
    x = x.reshape(B, H, W, C).permute(0, 3, 1, 2)
    return self.proj(x + pp)


def _legacy_aattn_modules(model):
    return [m for m in model.modules() if type(m).__name__ == "AAttn" and hasattr(m, "qk") and hasattr(m, "v")]


def convert_legacy_aattn(model) -> int:
    """Replace each legacy (qk, v) AAttn pair by the equivalent ``qkv`` conv; returns how many."""
    import copy

    import torch

    converted = 0
    for m in _legacy_aattn_modules(model):
        heads, hd = m.num_heads, m.head_dim
        c = heads * hd
        # new channel h*3hd + j  <-  q: qk[h*hd+j], k: qk[c+h*hd+j-hd], v: v[h*hd+j-2hd]
        order = []
        for h in range(heads):
            order += [h * hd + j for j in range(hd)]
            order += [c + h * hd + j for j in range(hd)]
            order += [2 * c + h * hd + j for j in range(hd)]
        order = torch.tensor(order)
        qkv = copy.deepcopy(m.qk)
        qk_state, v_state = m.qk.state_dict(), m.v.state_dict()
        new_state = {}
        for key, tensor in qk_state.items():
            if tensor.ndim >= 1 and tensor.shape[0] == 2 * c:
                new_state[key] = torch.cat([tensor, v_state[key]], 0)[order].clone()
            else:
                new_state[key] = tensor.clone()
        for name, module in qkv.named_modules():
            for attr in ("out_channels", "num_features"):
                if hasattr(module, attr) and getattr(module, attr) == 2 * c:
                    setattr(module, attr, 3 * c)
        for key, value in new_state.items():
            owner, _, leaf = key.rpartition(".")
            target = qkv.get_submodule(owner) if owner else qkv
            current = getattr(target, leaf)
            if isinstance(current, torch.nn.Parameter):
                setattr(target, leaf, torch.nn.Parameter(value, requires_grad=current.requires_grad))
            else:
                target.register_buffer(leaf, value)
        del m.qk, m.v
        m.qkv = qkv
        converted += 1
    return converted


def load(weights: str):
    """ultralytics YOLO with legacy attention converted, fp32, eval."""
    from ultralytics import YOLO

    model = YOLO(weights)
    n = convert_legacy_aattn(model.model)
    if n:
        print(f"converted {n} legacy YOLOv12 AAttn (qk, v) layers to qkv")
    return model


def export(weights: str, out: Path, imgsz: int, opset: int, dynamic: bool, simplify: bool) -> Path:
    """Export beside a private copy of the weights (ultralytics writes next to them; sources may be read-only)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="epolice-export-") as tmp:
        if Path(weights).is_file():
            private = Path(tmp) / Path(weights).name
            shutil.copyfile(weights, private)
            weights = str(private)
        return _export(weights, out, imgsz, opset, dynamic, simplify)


def _export(weights: str, out: Path, imgsz: int, opset: int, dynamic: bool, simplify: bool) -> Path:
    model = load(weights)
    produced = Path(model.export(format="onnx", imgsz=imgsz, opset=opset, dynamic=dynamic, simplify=simplify, batch=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    _strip_export_date(produced, out)
    if produced.resolve() != out.resolve():
        produced.unlink()
    return out


def _strip_export_date(src: Path, dst: Path) -> None:
    """Drop ultralytics' wall-clock ``date`` metadata: it is the only thing that differs between two exports."""
    import onnx

    model = onnx.load(str(src))
    keep = [(p.key, p.value) for p in model.metadata_props if p.key != "date"]
    del model.metadata_props[:]
    for key, value in keep:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(dst))


def check(weights: str, onnx_path: Path, image: str, imgsz: int) -> float:
    """Max |reference torch - onnx| on the raw head output for one letterboxed real image.

    The reference is the checkpoint as saved (legacy attention run by ``legacy_aattn_forward``),
    so the figure covers both the weight conversion and the ONNX export.
    """
    import types

    import cv2
    import numpy as np
    import onnxruntime as ort
    import torch
    from ultralytics import YOLO

    if image == "synthetic":  # seeded noise + shapes: enough to compare two implementations numerically
        rng = np.random.default_rng(0)
        img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        cv2.rectangle(img, (100, 100), (300, 260), (40, 200, 40), -1)
        cv2.circle(img, (450, 300), 80, (200, 60, 60), -1)
    else:
        img = cv2.imread(image)
    if img is None:
        raise SystemExit(f"cannot read {image}")
    x = letterbox_tensor(img, imgsz)
    net = YOLO(weights).model.float().eval()
    for m in _legacy_aattn_modules(net):
        m.forward = types.MethodType(legacy_aattn_forward, m)
    with torch.no_grad():
        ref = net(torch.from_numpy(x))
    ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    diff = float(np.abs(ref - got).max())
    box_diff = float(np.abs(ref[:, :4] - got[:, :4]).max())  # pixels of the 640 input
    cls_diff = float(np.abs(ref[:, 4:] - got[:, 4:]).max()) if ref.shape[1] > 4 else 0.0  # class probabilities
    print(
        f"check on {image}: reference torch vs onnx {tuple(got.shape)}: max_abs_diff {diff:.3g} "
        f"(boxes {box_diff:.3g} px, class scores {cls_diff:.3g}; max score {ref[:, 4:].max():.3f})"
    )
    return max(box_diff / 10.0, cls_diff)  # 0.1 px of box and 0.01 of score weigh the same


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", required=True, help=".pt path or ultralytics hub name (yolo11n.pt)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--dynamic", action="store_true")
    ap.add_argument("--simplify", action="store_true")
    ap.add_argument("--check", metavar="IMAGE", help="compare torch and ONNX outputs on this image ('synthetic': seeded noise)")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="fail --check above this (score diff, or box px diff / 10)")
    args = ap.parse_args(argv)
    out = export(args.weights, args.out, args.imgsz, args.opset, args.dynamic, args.simplify)
    print(f"exported {out}")
    if args.check:
        diff = check(args.weights, out, args.check, args.imgsz)
        if diff > args.tolerance:
            print(f"check failed: torch and ONNX outputs differ ({diff:.3g} > {args.tolerance})", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
