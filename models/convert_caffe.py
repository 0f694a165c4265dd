"""Convert a small Caffe classifier/recogniser (``.prototxt`` + ``.caffemodel``) to ONNX; run in the EXPORT interpreter.

Stand-alone on purpose, like ``export_onnx.py``: the runtime venv has OpenCV 5, which no longer reads
Caffe, and must not carry conversion tools. This file imports nothing of ours and needs only numpy
and onnx to convert: the prototxt (protobuf text) and the caffemodel (protobuf binary) are parsed
here directly, so no Caffe and no ``caffe_pb2`` are needed. The layer set covers what HyperLPR's
``SegmenationFree-Inception`` uses (Convolution, BatchNorm + Scale, ReLU, max Pooling, Concat,
Softmax); anything else is refused by name rather than converted wrongly.

Weights are copied bit for bit (BatchNorm mean/variance divided by Caffe's stored scale factor, as
Caffe does), nothing is folded, and the batch axis is dynamic so the runtime can batch plates.

``--check`` compares the ONNX (onnxruntime) with the ORIGINAL Caffe model run by OpenCV 4's Caffe
importer (``opencv-python-headless<5`` in the export interpreter) on seeded synthetic images and,
given a folder, on real plate crops preprocessed the way HyperLPR feeds them; it exits non-zero when
any probability differs by more than ``--tolerance`` or a greedy CTC decode differs.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from pathlib import Path

# ----------------------------------------------------------------------------- prototxt (text format)

_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|([A-Za-z_][A-Za-z0-9_]*)\s*:\s*("(?:[^"\\]|\\.)*"|[^\s{}]+)|([A-Za-z_][A-Za-z0-9_]*)\s*\{|(\}))')


def parse_prototxt(text: str) -> dict:
    """Protobuf text format as nested dicts; every field maps to a list of its values."""
    root: dict = {}
    stack = [root]
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"prototxt: cannot parse near {text[pos:pos + 40]!r}")
        pos = m.end()
        comment, key, value, block, close = m.groups()
        if comment:
            continue
        if key:
            stack[-1].setdefault(key, []).append(_scalar(value))
        elif block:
            child: dict = {}
            stack[-1].setdefault(block, []).append(child)
            stack.append(child)
        elif close:
            stack.pop()
    if len(stack) != 1:
        raise ValueError("prototxt: unbalanced braces")
    return root


def _scalar(raw: str):
    if raw.startswith('"'):
        return raw[1:-1]
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(raw, raw)  # enums (MAX) stay strings


def _one(msg: dict, key: str, default=None):
    values = msg.get(key)
    return values[0] if values else default


# ----------------------------------------------------------------------------- caffemodel (binary)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, pos
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of one protobuf message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"caffemodel: unsupported wire type {wire}")
        yield number, wire, value


def _blob(buf: bytes):
    """BlobProto -> float32 array with its shape (new ``shape`` field or legacy num/channels/height/width)."""
    import numpy as np

    data: list[float] = []
    raw, raw_type = None, 1
    dims: list[int] = []
    legacy = {1: 1, 2: 1, 3: 1, 4: 1}
    for number, wire, value in _fields(buf):
        if number == 5:  # data: packed (wire 2) or one float (wire 5)
            data.extend(struct.unpack(f"<{len(value) // 4}f", value) if wire == 2 else struct.unpack("<f", value))
        elif number == 10 and wire == 0:  # raw_data_type (OpenCV's caffe.proto): DOUBLE, FLOAT, FLOAT16
            raw_type = value
        elif number == 12:  # raw_data: little-endian values of raw_data_type
            raw = value
        elif number == 7:  # BlobShape { repeated int64 dim = 1 [packed] }
            for n2, w2, v2 in _fields(value):
                if n2 == 1 and w2 == 2:
                    p = 0
                    while p < len(v2):
                        d, p = _varint(v2, p)
                        dims.append(d)
                elif n2 == 1:
                    dims.append(v2)
        elif number in legacy and wire == 0:
            legacy[number] = value
    shape = dims or [legacy[1], legacy[2], legacy[3], legacy[4]]
    if raw is not None:
        if raw_type not in _RAW_TYPES:
            raise ValueError(f"caffemodel: raw_data_type {raw_type} not supported")
        return np.frombuffer(raw, dtype=_RAW_TYPES[raw_type]).astype(np.float32).reshape(shape)  # fp16 -> fp32 is exact
    return np.asarray(data, dtype=np.float32).reshape(shape)


_RAW_TYPES = {0: "<f8", 1: "<f4", 2: "<f2"}


def read_caffemodel(path: Path) -> dict[str, list]:
    """Layer name -> list of weight blobs (NetParameter.layer = 100; legacy V1 layers = 2)."""
    out: dict[str, list] = {}
    for number, _, value in _fields(Path(path).read_bytes()):
        if number not in (100, 2):
            continue
        name, blobs = None, []
        name_field, blob_field = (1, 7) if number == 100 else (4, 6)
        for n2, _, v2 in _fields(value):
            if n2 == name_field:
                name = v2.decode("utf-8")
            elif n2 == blob_field:
                blobs.append(_blob(v2))
        if name is not None and blobs:
            out[name] = blobs
    return out


# ----------------------------------------------------------------------------- graph


def _pair(param: dict, key: str, default: int) -> tuple[int, int]:
    """Caffe's (h, w) from ``key_h``/``key_w`` or the square ``key`` / ``key_size``."""
    square = _one(param, key, _one(param, f"{key}_size", default))
    return int(_one(param, f"{key}_h", square)), int(_one(param, f"{key}_w", square))


def build_onnx(net: dict, weights: dict[str, list], opset: int = 17):
    """The ONNX model of a parsed prototxt with its weights; in-place Caffe tops get unique names."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inputs = net.get("input", [])
    dims = [int(d) for d in net.get("input_dim", [])] or [int(d) for d in _one(_one(net, "input_shape", {}), "dim", [])]
    if len(inputs) != 1 or len(dims) != 4:
        raise ValueError("only single-input nets with a 4-d input_dim are supported")
    nodes, inits = [], []
    current = {inputs[0]: inputs[0]}  # Caffe blob name -> latest ONNX tensor name
    counter = 0

    def fresh(top: str) -> str:
        nonlocal counter
        counter += 1
        name = top if top not in current else f"{top}__{counter}"
        current[top] = name
        return name

    def init(name: str, array) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    bn_pending: dict[str, str] = {}  # BatchNorm output waiting for its Scale (Caffe splits the two)
    last = inputs[0]
    for layer in net.get("layer", []):
        kind, name = _one(layer, "type"), _one(layer, "name")
        bottoms = [current[b] for b in layer.get("bottom", [])]
        tops = layer.get("top", [])
        blobs = weights.get(name, [])
        if kind == "Convolution":
            p = _one(layer, "convolution_param", {})
            kh, kw = _pair(p, "kernel", 1)
            ph, pw = _pair(p, "pad", 0)
            sh, sw = _pair(p, "stride", 1)
            group = int(_one(p, "group", 1))
            if _one(p, "dilation") not in (None, 1):
                raise ValueError(f"{name}: dilated convolution not supported")
            args = [bottoms[0], init(f"{name}.weight", blobs[0])]
            if _one(p, "bias_term", True):
                args.append(init(f"{name}.bias", blobs[1].reshape(-1)))
            nodes.append(helper.make_node("Conv", args, [fresh(tops[0])], name=name, kernel_shape=[kh, kw],
                                          pads=[ph, pw, ph, pw], strides=[sh, sw], group=group))
        elif kind == "BatchNorm":
            factor = float(blobs[2].reshape(-1)[0]) if len(blobs) > 2 else 1.0
            factor = 0.0 if factor == 0 else 1.0 / factor
            eps = float(_one(_one(layer, "batch_norm_param", {}), "eps", 1e-5))
            mean = init(f"{name}.mean", blobs[0].reshape(-1) * np.float32(factor))
            var = init(f"{name}.var", blobs[1].reshape(-1) * np.float32(factor))
            bn_pending[tops[0]] = (bottoms[0], mean, var, eps, name)
            current[tops[0]] = bottoms[0]  # resolved when the Scale arrives
        elif kind == "Scale":
            src = layer["bottom"][0]
            if src not in bn_pending:
                raise ValueError(f"{name}: a Scale not following a BatchNorm is not supported")
            x, mean, var, eps, bn_name = bn_pending.pop(src)
            gamma = init(f"{name}.gamma", blobs[0].reshape(-1))
            beta = init(f"{name}.beta", blobs[1].reshape(-1) if len(blobs) > 1 else np.zeros_like(blobs[0].reshape(-1)))
            nodes.append(helper.make_node("BatchNormalization", [x, gamma, beta, mean, var], [fresh(tops[0])],
                                          name=f"{bn_name}+{name}", epsilon=eps))
        elif kind == "ReLU":
            if _one(_one(layer, "relu_param", {}), "negative_slope", 0) not in (0, 0.0):
                raise ValueError(f"{name}: leaky ReLU not supported")
            nodes.append(helper.make_node("Relu", [bottoms[0]], [fresh(tops[0])], name=name))
        elif kind == "Pooling":
            p = _one(layer, "pooling_param", {})
            if _one(p, "pool", "MAX") != "MAX" or _one(p, "global_pooling", False):
                raise ValueError(f"{name}: only max pooling is supported")
            kh, kw = _pair(p, "kernel", 1)
            ph, pw = _pair(p, "pad", 0)
            sh, sw = _pair(p, "stride", 1)
            # Caffe rounds pooled sizes up
            nodes.append(helper.make_node("MaxPool", [bottoms[0]], [fresh(tops[0])], name=name, kernel_shape=[kh, kw],
                                          pads=[ph, pw, ph, pw], strides=[sh, sw], ceil_mode=1))
        elif kind == "Concat":
            axis = int(_one(_one(layer, "concat_param", {}), "axis", 1))
            nodes.append(helper.make_node("Concat", bottoms, [fresh(tops[0])], name=name, axis=axis))
        elif kind == "Softmax":
            axis = int(_one(_one(layer, "softmax_param", {}), "axis", 1))
            nodes.append(helper.make_node("Softmax", [bottoms[0]], [fresh(tops[0])], name=name, axis=axis))
        else:
            raise ValueError(f"layer {name}: type {kind} is not supported by this converter")
        last = tops[0]
    if bn_pending:
        raise ValueError(f"BatchNorm without Scale: {sorted(bn_pending)}")
    out_name = current[last]
    graph = helper.make_graph(
        nodes, "caffe_converted",
        [helper.make_tensor_value_info(inputs[0], TensorProto.FLOAT, ["N", *dims[1:]])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", None, None, None])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="epolice.convert_caffe")
    model.ir_version = 8  # readable by every onnxruntime the runtime may have
    return model


def convert(prototxt: Path, caffemodel: Path, out: Path, opset: int) -> Path:
    import onnx

    net = parse_prototxt(Path(prototxt).read_text(encoding="utf-8"))
    model = build_onnx(net, read_caffemodel(caffemodel), opset)
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


# ----------------------------------------------------------------------------- check against the original


def _check_inputs(spec: str, count: int):
    """(label, NCHW float32 batch of one) inputs: HyperLPR's 160x40 transposed BGR / 255 layout."""
    import cv2
    import numpy as np

    def prep(bgr):
        resized = cv2.resize(bgr, (160, 40))
        return resized.transpose(1, 0, 2).transpose(2, 0, 1)[None].astype(np.float32) / 255.0

    if spec == "synthetic":
        rng = np.random.default_rng(0)
        for i in range(count):
            img = np.full((40, 160, 3), rng.integers(0, 255, 3), np.uint8)
            for k in range(7):  # plate-like strokes on a flat background, plus noise
                x = 8 + k * 21
                cv2.rectangle(img, (x, 8), (x + int(rng.integers(6, 14)), 32), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
            img = np.clip(img.astype(np.int16) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
            yield f"synthetic-{i}", prep(img)
        return
    path = Path(spec)
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if path.is_dir() else [path]
    for f in files[:count]:
        img = cv2.imdecode(np.fromfile(str(f), np.uint8), cv2.IMREAD_COLOR)
        if img is not None:
            yield f.name, prep(img)


def _greedy(probs) -> list[int]:
    """Greedy CTC class path (blank = last class, as HyperLPR's table) for comparing decodes."""
    idx = probs.argmax(axis=0).reshape(-1)
    blank = probs.shape[0] - 1
    return [int(k) for i, k in enumerate(idx) if k != blank and (i == 0 or k != idx[i - 1])]


def check(prototxt: Path, caffemodel: Path, onnx_path: Path, specs: list[str], count: int) -> tuple[float, int, int]:
    """(max |Caffe - ONNX| over the outputs, inputs compared, decodes that differ)."""
    import cv2
    import numpy as np
    import onnxruntime as ort

    if not hasattr(cv2.dnn, "readNetFromCaffe") or int(cv2.__version__.split(".")[0]) >= 5:
        raise SystemExit(f"--check needs OpenCV < 5 (Caffe importer); this interpreter has {cv2.__version__}")
    ref = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    worst, n, differ = 0.0, 0, 0
    for spec in specs:
        for label, blob in _check_inputs(spec, count):
            ref.setInput(blob)
            expected = ref.forward()
            got = sess.run(None, {name: blob})[0]
            if expected.shape != got.shape:
                raise SystemExit(f"{label}: Caffe output {expected.shape} vs ONNX {got.shape}")
            worst = max(worst, float(np.abs(expected - got).max()))
            differ += _greedy(expected[0]) != _greedy(got[0])
            n += 1
    print(f"check: OpenCV {cv2.__version__} Caffe vs onnxruntime {ort.__version__} on {n} inputs "
          f"({', '.join(specs)}): max_abs_diff {worst:.3g}, decodes differing {differ}")
    return worst, n, differ


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, type=Path, help=".caffemodel")
    ap.add_argument("--prototxt", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--check", action="append", default=[], metavar="SPEC",
                    help="'synthetic' or a folder/file of real plate crops; repeatable")
    ap.add_argument("--check-count", type=int, default=200, help="inputs per --check spec")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="fail --check above this probability difference")
    args = ap.parse_args(argv)
    out = convert(args.prototxt, args.weights, args.out, args.opset)
    print(f"converted {out}")
    if args.check:
        worst, n, differ = check(args.prototxt, args.weights, out, args.check, args.check_count)
        if n == 0 or worst > args.tolerance or differ:
            print(f"check failed: {n} inputs, max diff {worst:.3g} (tolerance {args.tolerance}), {differ} decodes differ",
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
