"""Export ultralytics ``.pt`` weights (or a hub name) to ONNX; run in the EXPORT interpreter, not the runtime.

Stand-alone on purpose: the export venv has torch + ultralytics but not epolice, so this file
imports nothing of ours. ``models.fetch`` runs it as ``PY export_onnx.py --weights W --out O``.
With ``--check IMAGE`` it also runs the PyTorch model and the exported ONNX on that image and
prints the max absolute difference of the raw outputs (the export must not change the model).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def export(weights: str, out: Path, imgsz: int, opset: int, dynamic: bool, simplify: bool) -> Path:
    from ultralytics import YOLO

    model = YOLO(weights)
    produced = Path(model.export(format="onnx", imgsz=imgsz, opset=opset, dynamic=dynamic, simplify=simplify, batch=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    if produced.resolve() != out.resolve():
        shutil.move(str(produced), out)
    return out


def check(weights: str, onnx_path: Path, image: str, imgsz: int) -> float:
    """Max |torch - onnx| on the raw head output for one letterboxed real image."""
    import cv2
    import numpy as np
    import onnxruntime as ort
    import torch
    from ultralytics import YOLO

    img = cv2.imread(image)
    if img is None:
        raise SystemExit(f"cannot read {image}")
    h, w = img.shape[:2]
    r = min(imgsz / h, imgsz / w)
    nh, nw = round(h * r), round(w * r)
    canvas = np.full((imgsz, imgsz, 3), 114, np.uint8)
    top, left = (imgsz - nh) // 2, (imgsz - nw) // 2
    canvas[top : top + nh, left : left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    x = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    net = YOLO(weights).model.float().eval()
    with torch.no_grad():
        ref = net(torch.from_numpy(x))
    ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    diff = float(np.abs(ref - got).max())
    print(f"check: torch {tuple(ref.shape)} onnx {tuple(got.shape)} max_abs_diff {diff:.6g} (output range {ref.min():.4g}..{ref.max():.4g})")
    return diff


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", required=True, help=".pt path or ultralytics hub name (yolo11n.pt)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--dynamic", action="store_true")
    ap.add_argument("--simplify", action="store_true")
    ap.add_argument("--check", metavar="IMAGE", help="compare torch and ONNX outputs on this image")
    ap.add_argument("--tolerance", type=float, default=1e-2, help="fail --check above this max abs diff")
    args = ap.parse_args(argv)
    out = export(args.weights, args.out, args.imgsz, args.opset, args.dynamic, args.simplify)
    print(f"exported {out}")
    if args.check:
        diff = check(args.weights, out, args.check, args.imgsz)
        if diff > args.tolerance:
            print(f"check failed: max abs diff {diff} > {args.tolerance}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
