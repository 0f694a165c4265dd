"""Detector runtime: letterbox, NMS and output decoding on synthetic arrays; real YOLOv5n and helmet models on real images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from models.session import choose_providers
from pipelines.cli.main import app
from pipelines.eval.labelled_images import read_voc_dir, read_yolo_dir
from tests.support.models import helmet_detector, registry, yolov5n_detector  # noqa: F401  (fixtures)
from vision.detections import box_iou
from vision.detector import decode_yolov5, decode_yolov8, domain_lookup, postprocess
from vision.letterbox import Letterbox, letterbox
from vision.nms import batched_nms, nms

# --- letterbox ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "h, w, size, scale, pad_x, pad_y",
    [
        (720, 1280, 640, 0.5, 0, 140),  # landscape: bars top and bottom
        (1280, 720, 640, 0.5, 140, 0),  # portrait: bars left and right
        (320, 320, 640, 2.0, 0, 0),  # square, upscaled
        (1080, 1920, 640, 1 / 3, 0, 140),
    ],
)
def test_synthetic_letterbox_geometry(h, w, size, scale, pad_x, pad_y):
    image = np.full((h, w, 3), 7, np.uint8)
    canvas, box = letterbox(image, size, size)
    assert canvas.shape == (size, size, 3)
    assert box.scale == pytest.approx(scale) and (box.pad_x, box.pad_y) == (pad_x, pad_y)
    if pad_y:
        assert (canvas[: pad_y - 1] == 114).all() and (canvas[pad_y + 1 : size - pad_y - 1] == 7).all()
    if pad_x:
        assert (canvas[:, : pad_x - 1] == 114).all()


@pytest.mark.parametrize(
    "box, model_xyxy, frame_xyxy",
    [
        (Letterbox(0.5, 0, 140, 1280, 720), [0, 140, 640, 500], [0, 0, 1280, 720]),
        (Letterbox(0.5, 0, 140, 1280, 720), [100, 240, 200, 290], [200, 200, 400, 300]),
        (Letterbox(0.5, 0, 140, 1280, 720), [-10, 100, 700, 600], [0, 0, 1280, 720]),  # clipped to the frame
        (Letterbox(2.0, 0, 0, 320, 320), [64, 64, 128, 256], [32, 32, 64, 128]),
    ],
)
def test_synthetic_letterbox_maps_boxes_back(box, model_xyxy, frame_xyxy):
    np.testing.assert_allclose(box.to_frame(np.array([model_xyxy], np.float32))[0], frame_xyxy, atol=1e-4)


# --- NMS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "boxes, scores, iou, kept",
    [
        ([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.9, 0.8, 0.7], 0.45, [0, 2]),  # overlap suppressed
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.6, 0.9], 0.45, [1]),  # the higher score wins
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.45, [0, 1]),  # IoU 1/3 below the threshold
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.3, [0]),
        ([], [], 0.45, []),
    ],
)
def test_synthetic_nms(boxes, scores, iou, kept):
    assert nms(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), iou).tolist() == kept


def test_synthetic_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert sorted(batched_nms(boxes, scores, np.array([1, 2, 1]), 0.45).tolist()) == [0, 1]


# --- output layouts ----------------------------------------------------------------------------


def _v5_row(cx, cy, w, h, obj, cls_scores):
    return [cx, cy, w, h, obj, *cls_scores]


@pytest.mark.parametrize(
    "rows, conf, expected",  # expected: (xyxy in input px, score, model class)
    [
        ([_v5_row(100, 100, 20, 40, 0.9, [0.1, 0.9, 0.0])], 0.25, [([90, 80, 110, 120], 0.81, 1)]),
        ([_v5_row(100, 100, 20, 40, 0.2, [0.0, 1.0, 0.0])], 0.25, []),  # low objectness
        ([_v5_row(100, 100, 20, 40, 0.9, [0.2, 0.25, 0.1])], 0.25, []),  # obj x cls = 0.225 < conf
        ([_v5_row(50, 60, 10, 10, 0.5, [0.0, 0.0, 0.8])], 0.25, [([45, 55, 55, 65], 0.4, 2)]),
    ],
)
def test_synthetic_decode_yolov5(rows, conf, expected):
    raw = decode_yolov5(np.array(rows, np.float32), conf)
    assert len(raw.score) == len(expected)
    for (xyxy, score, cls), got_xyxy, got_score, got_cls in zip(expected, raw.xyxy, raw.score, raw.model_class):
        np.testing.assert_allclose(got_xyxy, xyxy, atol=1e-4)
        assert got_score == pytest.approx(score) and got_cls == cls


@pytest.mark.parametrize(
    "columns, conf, expected",
    [
        ([[320, 320, 64, 32, 0.1, 0.7]], 0.25, [([288, 304, 352, 336], 0.7, 1)]),
        ([[320, 320, 64, 32, 0.2, 0.1]], 0.25, []),
        ([[10, 20, 4, 4, 0.9, 0.3], [30, 40, 2, 2, 0.0, 0.5]], 0.25, [([8, 18, 12, 22], 0.9, 0), ([29, 39, 31, 41], 0.5, 1)]),
    ],
)
def test_synthetic_decode_yolov8(columns, conf, expected):
    pred = np.array(columns, np.float32).T  # the model emits (4 + nc) x N
    raw = decode_yolov8(pred, conf)
    assert len(raw.score) == len(expected)
    for (xyxy, score, cls), got_xyxy, got_score, got_cls in zip(expected, raw.xyxy, raw.score, raw.model_class):
        np.testing.assert_allclose(got_xyxy, xyxy, atol=1e-4)
        assert got_score == pytest.approx(score) and got_cls == cls


def test_synthetic_postprocess_maps_classes_drops_unmapped_and_scales_back():
    # COCO-like: 0 person, 2 car, 6 train (unmapped). Two overlapping cars, one train, one person.
    nc = 8
    rows = np.zeros((4, 5 + nc), np.float32)
    rows[0, :5], rows[0, 5 + 2] = [100, 240, 40, 20, 1.0], 0.9  # car
    rows[1, :5], rows[1, 5 + 2] = [101, 241, 40, 20, 1.0], 0.8  # same car, suppressed
    rows[2, :5], rows[2, 5 + 6] = [300, 300, 40, 40, 1.0], 0.95  # train: no domain class
    rows[3, :5], rows[3, 5 + 0] = [101, 241, 40, 20, 1.0], 0.7  # person on the car box: other class, kept
    lookup = domain_lookup({0: "person", 2: "car", 6: None}, nc)
    dets = postprocess(decode_yolov5(rows, 0.25), lookup, Letterbox(0.5, 0, 140, 1280, 720), 0.45)
    assert sorted(dets.class_name.tolist()) == ["car", "person"]
    car = dets.of_class("car")
    np.testing.assert_allclose(car.xyxy[0], [160, 180, 240, 220], atol=1e-3)  # (80..120, 230..250) in input px
    assert dets.data["model_class"].tolist() == [2, 0]


def test_providers_always_end_in_cpu():
    assert choose_providers()[-1] == "CPUExecutionProvider"
    assert choose_providers(["CUDA", "CPU"])[-1] == "CPUExecutionProvider"


# --- real models on real images ----------------------------------------------------------------


def _cctv_dev_frames(shared_data, n=20):
    items = read_voc_dir(shared_data / "cctv" / "train")
    assert len(items) >= 100
    return items[:: max(1, len(items) // n)][:n]


def test_yolov5n_on_a_real_cctv_frame_finds_cars_and_motorcycles(yolov5n_detector, shared_data):
    import cv2

    frame = cv2.imread(str(shared_data / "cctv" / "train" / "frame1008.jpg"))
    dets = yolov5n_detector.detect([frame])[0]
    names = dets.class_name.tolist()
    assert names.count("car") >= 2 and names.count("motorcycle") >= 5
    assert set(names) <= {"person", "bicycle", "car", "motorcycle", "bus", "truck"}
    assert (dets.xyxy[:, 2] <= frame.shape[1]).all() and (dets.xyxy[:, 3] <= frame.shape[0]).all()
    assert yolov5n_detector.model_version.startswith("yolov5n_coco@2e9abd4db60c")


def test_batched_detection_equals_one_by_one(yolov5n_detector, shared_data):
    import cv2

    paths = [shared_data / "cctv" / "train" / f for f in ("frame1008.jpg", "frame1020.jpg")]
    frames = [cv2.imread(str(p)) for p in paths]
    frames.append(cv2.resize(frames[0], (640, 352)))  # another size in the same batch
    batched = yolov5n_detector.detect(frames)
    for frame, got in zip(frames, batched):
        single = yolov5n_detector.detect([frame])[0]
        np.testing.assert_allclose(got.xyxy, single.xyxy, atol=1e-3)
        assert got.class_id.tolist() == single.class_id.tolist()
    assert yolov5n_detector.detect([]) == []


def test_car_recall_at_iou50_on_labelled_cctv_frames(yolov5n_detector, shared_data):
    import cv2

    frames = _cctv_dev_frames(shared_data)
    hit = total = 0
    for item in frames:
        dets = yolov5n_detector.detect([cv2.imread(str(item.image))])[0].of_class("car")
        gt = item.xyxy[np.array(item.names) == "car"]
        total += len(gt)
        if len(gt) and len(dets):
            hit += int((box_iou(gt, dets.xyxy).max(axis=1) >= 0.5).sum())
    assert total >= 50
    assert hit / total >= 0.9, f"car recall {hit}/{total}"


def test_helmet_model_tells_helmet_from_no_helmet_heads(helmet_detector, shared_data):
    import cv2

    from pipelines.eval.detection import head_accuracy

    items = read_yolo_dir(shared_data / "helmet" / "valid", {0: "head_helmet", 1: "head_no_helmet"})
    # ~290 ms per image on CPU: take the 10 images with the most no-helmet heads (the rarer class)
    # and the next 6 by any head, so both classes are well represented in a few seconds.
    items.sort(key=lambda it: (-it.names.count("head_no_helmet"), -len(it.names), it.image.name))
    items = items[:16]
    pairs = [(dets, item) for dets, item in zip(helmet_detector.detect([cv2.imread(str(i.image)) for i in items]), items)]
    acc = head_accuracy(pairs, conf=0.25, iou=0.5)
    assert acc is not None and acc.matched >= 25
    assert acc.per_class.get("head_no_helmet", {}).get("head_no_helmet", 0) >= 5  # both classes really seen
    assert acc.accuracy > 0.85, acc


runner = CliRunner()


def test_cli_detect_prints_boxes_and_writes_annotated_image(registry, shared_data, tmp_path):
    from tests.support.models import require_model

    require_model(registry, "yolov5n_coco")
    frame = shared_data / "cctv" / "train" / "frame1008.jpg"
    result = runner.invoke(app, ["detect", str(frame), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert " car " in result.output and "motorcycle" in result.output
    assert (tmp_path / "frame1008_det.jpg").stat().st_size > 10_000
    as_json = runner.invoke(app, ["detect", str(frame), "--json", "--conf", "0.5"])
    report = json.loads(as_json.output)
    confs = [d["confidence"] for d in report["images"][0]["detections"]]
    assert confs and min(confs) >= 0.5
