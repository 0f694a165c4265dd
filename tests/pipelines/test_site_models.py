"""A site's own detector end to end: trained (tiny YOLOv8 from its YAML, one epoch on four labelled
CCTV frames, in the export interpreter), registered with `epolice models add`, named by a camera in
``extra_detectors``, and merged into the main detector's output by the engine.

Needs the export venv (torch + ultralytics; `.ci/install` creates it): skipped with the reason
when absent, failed under CI=true.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from models.domain import CLASS_ID
from models.registry import Registry
from pipelines.cli.main import app
from pipelines.config import parse_site
from pipelines.engine import CameraPipeline
from pipelines.site_models import extra_detectors_for
from tests.support.models import export_python, registry, yolov5n_detector  # noqa: F401,F811  (fixtures)
from vision.frame import Frame

FRAMES = ("frame1008", "frame1020", "frame1052", "frame1649")
NAMES = ("motorcycle", "truck")
SCRIPT = Path(__file__).parents[1] / "support" / "train_tiny_yolo.py"


def yolo_dataset(train: Path, out: Path) -> Path:
    """The four frames with their VOC boxes as a YOLO dataset (motorcycle 0, truck 1)."""
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    for frame in FRAMES:
        root = ET.parse(train / f"{frame}.xml").getroot()
        w, h = float(root.findtext("size/width")), float(root.findtext("size/height"))
        lines = []
        for obj in root.iter("object"):
            if obj.findtext("name") in NAMES:
                b = obj.find("bndbox")
                x1, y1, x2, y2 = (float(b.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
                lines.append(f"{NAMES.index(obj.findtext('name'))} {(x1 + x2) / 2 / w:.5f} {(y1 + y2) / 2 / h:.5f} {(x2 - x1) / w:.5f} {(y2 - y1) / h:.5f}")
        (out / "images" / f"{frame}.jpg").write_bytes((train / f"{frame}.jpg").read_bytes())
        (out / "labels" / f"{frame}.txt").write_text("\n".join(lines) + "\n")
    data = out / "data.yaml"
    data.write_text(f"path: {out}\ntrain: images\nval: images\nnames: {{0: motorcycle, 1: truck}}\n")
    return data


def test_site_model_trained_registered_and_merged(cctv, tmp_path, monkeypatch, yolov5n_detector):
    python = export_python()
    train = cctv / "train"
    data = yolo_dataset(train, tmp_path / "ds")
    onnx = tmp_path / "tiny.onnx"
    proc = subprocess.run([python, str(SCRIPT), str(data), str(onnx)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0 and onnx.is_file(), proc.stderr[-2000:]

    models_dir = tmp_path / "models"
    monkeypatch.setenv("EPOLICE_MODELS_DIR", str(models_dir))
    result = CliRunner().invoke(app, ["models", "add", str(onnx), "--name", "site_tiny", "--classes", "tricycle,truck"])
    assert result.exit_code == 0, result.output
    site_registry = Registry(models_dir)
    manifest = site_registry.manifest("site_tiny")
    assert manifest.class_map == {0: "tricycle", 1: "truck"} and manifest.output_layout == "yolov8"
    assert site_registry.path("site_tiny").is_file()  # sha256 verified against the written manifest
    again = CliRunner().invoke(app, ["models", "add", str(onnx), "--name", "site_tiny", "--classes", "tricycle,truck"])
    assert again.exit_code != 0 and "already registered" in again.output

    image = cv2.imread(str(train / "frame1008.jpg"))
    h, w = image.shape[:2]
    site = parse_site({"id": "s", "cameras": [{"id": "c", "source": "-", "frame_size": [w, h], "extra_detectors": ["site_tiny"]}],
                       "models": {"helmet": None, "detector_conf": 0.001}})
    (extra,) = extra_detectors_for(site.cameras[0], site, registry=site_registry)
    own = extra.detect([image])[0]
    assert len(own) and set(np.unique(own.class_id)) <= {CLASS_ID["tricycle"], CLASS_ID["truck"]}
    main = yolov5n_detector.detect([image])[0]
    pipe = CameraPipeline(site.cameras[0], site, yolov5n_detector, extra_detectors=[extra])
    pipe.on_detections(Frame("c", 0, 0.0, datetime.now(timezone.utc), image), main)
    assert pipe.stats.detect_s > 0  # the site model ran inside the engine's detection step
