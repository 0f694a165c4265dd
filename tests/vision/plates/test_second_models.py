"""The second detector, second recogniser and colour classifier on synthetic tensors; fusion; the Caffe parser."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from vision.plates.color import ColorResult, combine_color
from vision.plates.detect import PlateDetection
from vision.plates.detect_y5fu import Y5fuDetector, Y5fuParams
from vision.plates.fuse import fuse_detections
from vision.plates.segfree import SegFreeRecognizer
from vision.plates.views import Plate, ViewSpec, double_view, inset_rows, single_view


class _Input:
    def __init__(self, name: str) -> None:
        self.name = name


class _Session:
    """Returns a fixed output and remembers the input it was given."""

    def __init__(self, output: np.ndarray, name: str = "input") -> None:
        self.output = output
        self.name = name
        self.seen: np.ndarray | None = None

    def get_inputs(self):
        return [_Input(self.name)]

    def run(self, _names, feeds):
        self.seen = next(iter(feeds.values()))
        return [self.output]


def _y5_row(cx, cy, w, h, obj, single, double):
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    return [cx, cy, w, h, obj, x1, y1, x2, y1, x2, y2, x1, y2, single, double]


def test_synthetic_y5fu_decode_maps_boxes_corners_and_row_flag_back_through_the_letterbox() -> None:
    rows = np.zeros((1, 6300, 15), np.float32)
    rows[0, 0] = _y5_row(160, 160, 100, 30, 0.9, 0.95, 0.05)  # a single-row plate in the middle
    rows[0, 1] = _y5_row(161, 160, 98, 30, 0.85, 0.9, 0.1)  # its duplicate: suppressed
    rows[0, 2] = _y5_row(60, 200, 40, 20, 0.8, 0.1, 0.9)  # a double-row plate
    rows[0, 3] = _y5_row(250, 60, 40, 20, 0.2, 0.9, 0.1)  # below the threshold
    session = _Session(rows)
    det = Y5fuDetector(session, Y5fuParams(320, name="plate_det_y5fu_320"))
    image = np.zeros((320, 640, 3), np.uint8)  # letterbox: scale 0.5, pad_y 80
    dets = det.detect(image, min_score=0.5)
    assert session.seen.shape == (1, 3, 320, 320)
    assert session.seen[0, :, 0, 0].tolist() == [0.0, 0.0, 0.0]  # black padding (pad_value 0)
    assert len(dets) == 2
    first, second = dets
    assert first.score == pytest.approx(0.9 * 0.95)
    assert first.double_row == pytest.approx(0.05)
    assert first.sources == ("plate_det_y5fu_320",)
    np.testing.assert_allclose(first.box, [(110 - 0) / 0.5, (145 - 80) / 0.5, 210 / 0.5, (175 - 80) / 0.5], atol=1e-3)
    np.testing.assert_allclose(first.corners[0], [220, 130], atol=1e-3)  # TL
    np.testing.assert_allclose(first.corners[2], [420, 190], atol=1e-3)  # BR
    assert second.double_row == pytest.approx(0.9)


def _det(box, score, source, double=None) -> PlateDetection:
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
    return PlateDetection(tuple(float(v) for v in box), corners, score, double, (source,))


def test_synthetic_fusion_is_a_union_with_corners_from_the_surer_and_rows_from_y5fu() -> None:
    clp = [_det((100, 100, 200, 130), 0.99, "clp_det"), _det((400, 100, 500, 130), 0.6, "clp_det")]
    y5 = [_det((102, 101, 201, 131), 0.7, "y5fu", 0.02), _det((398, 99, 499, 129), 0.95, "y5fu", 0.9),
          _det((10, 300, 80, 330), 0.8, "y5fu", 0.1)]
    fused = fuse_detections(clp, 0.5, y5, 0.6)
    assert len(fused) == 3
    by_x = sorted(fused, key=lambda d: d.box[0])
    night, left, right = by_x
    assert night.sources == ("y5fu",)  # found by y5fu alone: kept
    assert left.sources == ("clp_det", "y5fu") and right.sources == ("clp_det", "y5fu")
    assert left.box == (100.0, 100.0, 200.0, 130.0)  # clp surer (0.98 vs 0.25 of its range)
    assert left.double_row == pytest.approx(0.02)  # row flag from y5fu
    assert right.box == (398.0, 99.0, 499.0, 129.0)  # y5fu surer (0.875 vs 0.2)
    assert right.double_row == pytest.approx(0.9)
    assert fuse_detections([], 0.5, y5[:1], 0.6) == y5[:1]


def test_synthetic_segfree_input_layout_and_blank_last() -> None:
    charset = list("皖A19")
    probs = np.zeros((1, 5, 20, 1), np.float32)  # C = 4 characters + blank (last), T = 20
    probs[0, 4, :, 0] = 1.0  # blank everywhere
    for t, k in [(0, 1), (1, 1), (4, 0), (6, 1), (8, 2), (9, 2), (11, 3)]:  # steps 0-1 are dropped
        probs[0, :, t, 0] = 0.0
        probs[0, k, t, 0] = 0.9
        probs[0, 4, t, 0] = 0.1
    session = _Session(probs, "data")
    rec = SegFreeRecognizer(session, charset, skip_steps=2)
    crop = np.zeros((30, 100, 3), np.uint8)
    crop[:, :10] = 255  # left edge white
    read = rec.read([crop])[0]
    assert read.text == "皖A19"
    assert read.char_confidences == pytest.approx((0.9, 0.9, 0.9, 0.9))
    assert session.seen.shape == (1, 3, 160, 40)  # width runs down the tensor's height axis
    assert session.seen[0, 0, 0, 0] == pytest.approx(1.0) and session.seen[0, 0, -1, 0] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("hsv", "probs", "color"),
    [
        ("blue", {"blue": 0.1, "green": 0.05, "yellow": 0.85}, "blue"),  # not sure enough: HSV stands
        ("blue", {"blue": 0.02, "green": 0.01, "yellow": 0.97}, "yellow"),
        ("unknown", {"blue": 0.99, "green": 0.0, "yellow": 0.01}, "blue"),
        ("white", {"blue": 1.0, "green": 0.0, "yellow": 0.0}, "white"),  # the classifier has no white
        ("black", {"blue": 1.0, "green": 0.0, "yellow": 0.0}, "black"),
        ("green", None, "green"),
    ],
)
def test_synthetic_colour_classifier_beside_hsv(hsv, probs, color) -> None:
    assert combine_color(ColorResult(hsv, {}), probs, 0.9) == color


def _plate(w: int = 220, h: int = 110) -> Plate:
    image = np.zeros((300, 400, 3), np.uint8)
    image[100:100 + h // 3, 50:50 + w] = 255  # top row area
    corners = np.array([[50, 100], [50 + w, 100], [50 + w, 100 + h], [50, 100 + h]], np.float32)
    return Plate(PlateDetection((50, 100, 50 + w, 100 + h), corners, 0.9, 0.95), image, corners)


def test_synthetic_double_row_split_reads_top_and_bottom_rows() -> None:
    spec = ViewSpec(48, 0.04, 0.1, 3.2, 0.36)
    view = double_view(_plate(), spec)
    assert view.rows == 2 and len(view.images) == 2
    top, bottom = view.images
    assert top.shape[0] == bottom.shape[0] == 48
    assert top.mean() > 100 and bottom.mean() < 60  # the white top third lands in the top row
    assert view.margins_y == (0.2, 0.05)
    single = single_view(_plate(), spec)
    assert single.rows == 1 and single.margins_y == (0.1,)


@pytest.mark.parametrize(("margin", "inset", "kept"), [(0.0, 0.1, 38), (0.1, 0.1, 32), (0.0, 0.0, 48), (0.1, 0.0, 40)])
def test_synthetic_second_reader_framing_cuts_to_the_plate_then_insets(margin, inset, kept) -> None:
    assert inset_rows(np.zeros((48, 150, 3), np.uint8), margin, inset).shape[0] == kept


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_synthetic_caffemodel_parser_reads_float_and_fp16_blobs(tmp_path) -> None:
    from models.convert_caffe import parse_prototxt, read_caffemodel

    weights = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1)
    shape = _field(7, _field(1, b"".join(_varint(d) for d in weights.shape)))
    blob_f32 = shape + _field(5, struct.pack("<6f", *weights.reshape(-1)))
    blob_f16 = shape + _varint(10 << 3) + _varint(2) + _field(12, weights.astype("<f2").tobytes())
    layer = _field(1, b"conv0") + _field(2, b"Convolution") + _field(7, blob_f32) + _field(7, blob_f16)
    path = tmp_path / "m.caffemodel"
    path.write_bytes(_field(100, layer))
    blobs = read_caffemodel(path)["conv0"]
    np.testing.assert_array_equal(blobs[0], weights)
    np.testing.assert_array_equal(blobs[1], weights)
    net = parse_prototxt('input: "data"\ninput_dim: 1\nlayer {\n  name: "conv0"  # comment\n  type: "Convolution"\n'
                         '  convolution_param { num_output: 2 kernel_h: 1 bias_term: false }\n}\n')
    assert net["input"] == ["data"] and net["input_dim"] == [1]
    conv = net["layer"][0]
    assert conv["name"] == ["conv0"] and conv["convolution_param"][0]["bias_term"] == [False]
