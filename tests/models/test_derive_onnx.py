"""Derived detectors (``models/derive_onnx.py``, run by ``models fetch`` in the export interpreter):
YOLOv5n rewritten for a 416 input is the same network seeing a smaller picture. The derivation's own
check rebuilds the graph at 640 and requires bit-identical outputs; here the derived model must load
through the registry with a 416 input, decode 52² + 26² + 13² anchor cells, and find on real CCTV
frames the vehicles the 640 model finds (fewer small ones, never other ones).

Needs the export venv (`.ci/install` creates it): skipped with the reason when absent, failed under CI=true.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.fetch import fetch
from models.registry import Registry
from tests.support.models import export_python, registry, require_model  # noqa: F401 (fixture)
from vision.detections import box_iou
from vision.detector import Detector


def test_yolov5n_derived_at_416_finds_the_vehicles_the_640_model_finds(registry, cctv, tmp_path: Path) -> None:
    python = export_python()
    base_file = require_model(registry, "yolov5n_coco")
    reg = Registry(tmp_path / "models")
    fetch(reg, "yolov5n_coco", from_dirs=[base_file.parent], online=False)
    result = fetch(reg, "yolov5n_coco_416", export_python=python, online=False)  # --resize 416 --check
    assert reg.path("yolov5n_coco_416").is_file(), result

    base, small = Detector(reg, "yolov5n_coco", conf=0.4), Detector(reg, "yolov5n_coco_416", conf=0.4)
    assert tuple(small.session.get_inputs()[0].shape[2:]) == (416, 416)
    raw = small.session.run(None, {small.session.get_inputs()[0].name: np.zeros((1, 3, 416, 416), np.float32)})[0]
    assert raw.shape == (1, 3 * (52 * 52 + 26 * 26 + 13 * 13), 85)

    images = [cv2.imread(str(p)) for p in sorted((cctv / "train").glob("*.jpg"))[:8]]
    found = kept = 0
    for big_dets, small_dets in zip(base.detect(images), small.detect(images)):
        if len(big_dets) == 0:
            continue
        found += len(big_dets)
        if len(small_dets) == 0:
            continue
        overlap = box_iou(big_dets.xyxy, small_dets.xyxy)
        same_class = big_dets.class_id[:, None] == small_dets.class_id[None, :]
        kept += int(((overlap > 0.5) & same_class).any(axis=1).sum())
        # every confident 416 detection is one the 640 model also made (same place, same class)
        confident = small_dets.confidence >= 0.6
        assert ((overlap[:, confident] > 0.3) & same_class[:, confident]).any(axis=0).all()
    assert found >= 10 and kept / found >= 0.6, (kept, found)
