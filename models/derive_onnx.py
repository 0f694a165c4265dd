"""Derive an ONNX model from another: a YOLOv5 graph at a smaller static input, or a static INT8 copy.

Stand-alone, run in the EXPORT interpreter (it needs the ``onnx`` package, which the runtime venv does
not have); imports nothing of ours. ``models.fetch`` runs it for manifests with a ``derived`` source.

``--resize S``: YOLOv5 (v6.x) exports bake the input size into constants: the two upsampling sizes
(S/16, S/8), and per detection scale the reshape to (1, 3, 85, S/s, S/s), the grid of cell offsets,
the anchor grid and the flattening to (1, 3(S/s)^2, 85). Those are recomputed for S; every weight is
untouched, so the model is the same network seeing a smaller picture (YOLOv5 is trained at varying
sizes). ``--check`` rebuilds the graph at the base size and requires bit-identical outputs on a
seeded image: the surgery changes nothing but the size.

``--quantize int8 --calibration DIR``: ONNX Runtime's static QDQ quantization (per-channel weights,
activations calibrated on the letterboxed images of DIR). Worth it only on CPUs with VNNI or AMX.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _constants(graph):  # noqa: ANN001, ANN202
    from onnx import numpy_helper

    return {n.output[0]: (n, numpy_helper.to_array(n.attribute[0].t)) for n in graph.node if n.op_type == "Constant"}


def _set(node, array) -> None:  # noqa: ANN001
    from onnx import numpy_helper

    node.attribute[0].t.CopyFrom(numpy_helper.from_array(array.astype(node_dtype(node)), node.output[0]))


def node_dtype(node):  # noqa: ANN001, ANN201
    from onnx import numpy_helper

    return numpy_helper.to_array(node.attribute[0].t).dtype


def resize_yolov5(model, size: int, base: int):  # noqa: ANN001, ANN201
    """The YOLOv5 graph ``model`` (exported at ``base``) rewritten for a ``size`` x ``size`` input."""
    import numpy as np

    if size % 32:
        raise SystemExit(f"--resize must be a multiple of 32 (the largest stride), got {size}")
    graph = model.graph
    consts = _constants(graph)
    changed = 0
    for name, (node, value) in consts.items():
        v = value
        if v.ndim == 0 and v.dtype.kind == "f" and float(v) in (base / 16, base / 8) and "/Constant" in name and "model.24" not in name:
            _set(node, np.array(float(v) * size / base))  # upsampling output sizes
            changed += 1
        elif v.ndim == 1 and v.size == 5 and int(v[2]) == 85 and v[3] == v[4]:
            cells = int(v[3]) * size // base
            _set(node, np.array([v[0], v[1], v[2], cells, cells]))  # (1, 3, 85, ny, nx)
            changed += 1
        elif v.ndim == 1 and v.size == 3 and int(v[2]) == 85:
            cells = int(round((int(v[1]) // 3) ** 0.5)) * size // base
            _set(node, np.array([v[0], 3 * cells * cells, v[2]]))  # (1, 3 ny nx, 85)
            changed += 1
        elif v.ndim == 5 and v.shape[-1] == 2 and v.shape[2] == v.shape[3]:
            cells = v.shape[2] * size // base
            if np.allclose(v[0, 0, 0, 1], [0.5, -0.5]):  # the grid of cell offsets, x fastest
                ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
                grid = np.stack([xs, ys], axis=-1)[None, None].repeat(v.shape[1], axis=1) - 0.5
            else:  # the anchor grid: one (w, h) per anchor, the same in every cell
                grid = np.broadcast_to(v[:, :, :1, :1, :], (1, v.shape[1], cells, cells, 2))
            _set(node, np.ascontiguousarray(grid))
            changed += 1
    if changed != 4 + 3 * 4:  # two upsamplings (height and width each), four constants per detection scale
        raise SystemExit(f"not a YOLOv5 v6 export: rewrote {changed} size constants, expected 16")
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = size
    out = graph.output[0].type.tensor_type.shape.dim
    out[1].dim_value = sum(3 * (size // s) ** 2 for s in (8, 16, 32))
    del graph.value_info[:]  # stale intermediate shapes
    return model


def quantize_int8(src: Path, out: Path, calibration: Path, size: int, limit: int = 64) -> None:
    """Static QDQ INT8 quantization of ``src`` calibrated on the letterboxed images of ``calibration``."""
    import cv2
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    files = sorted(p for p in calibration.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit]
    if not files:
        raise SystemExit(f"no calibration images in {calibration}")

    from export_onnx import letterbox_tensor  # the sibling script (both run stand-alone from models/)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(files)

        def get_next(self):  # noqa: ANN202
            path = next(self.items, None)
            return None if path is None else {"images": letterbox_tensor(cv2.imread(str(path)), size)}

    import onnx

    # The detection head's decoding (sigmoid, grid and anchor arithmetic, the concatenated boxes and
    # scores) stays in float: quantized, its mixed ranges collapse and no box survives.
    head = [n.name for n in onnx.load(str(src)).graph.node if n.name.startswith("/model.24/") and n.op_type != "Conv"]
    quantize_static(str(src), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=head)


def _check(base_path: Path, base: int) -> None:
    """The surgery at the base size must reproduce the base model exactly."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    same = resize_yolov5(onnx.load(str(base_path)), base, base)
    x = np.random.default_rng(0).random((1, 3, base, base), dtype=np.float32)
    a = ort.InferenceSession(str(base_path), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    b = ort.InferenceSession(same.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    if not np.array_equal(a, b):
        raise SystemExit(f"check failed: rebuilt graph differs from the base by {float(np.abs(a - b).max())}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path, help="the base ONNX model")
    ap.add_argument("--base-size", type=int, default=640)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--resize", type=int, help="new static input size (YOLOv5)")
    ap.add_argument("--quantize", choices=["int8"])
    ap.add_argument("--calibration", type=Path, help="folder of images for INT8 calibration")
    ap.add_argument("--check", action="store_true", help="prove the resize surgery is exact at the base size first")
    args = ap.parse_args()
    import onnx

    size = args.resize or args.base_size
    if args.check:
        _check(args.base, args.base_size)
    model = onnx.load(str(args.base))
    if args.resize:
        model = resize_yolov5(model, args.resize, args.base_size)
        onnx.checker.check_model(model)
    if args.quantize:
        if args.calibration is None:
            raise SystemExit("--quantize needs --calibration DIR")
        tmp = args.out.with_suffix(".fp32.onnx")
        onnx.save(model, str(tmp))
        quantize_int8(tmp, args.out, args.calibration, size)
        tmp.unlink()
    else:
        onnx.save(model, str(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
