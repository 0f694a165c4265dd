"""The trained head classifier (head_cls_cctv): how the registry says to get it, and that it reads
head crops cut by the runtime's own ``head_crop`` (trained by `.ci/install` via `epolice models train-head`)."""

from __future__ import annotations

import cv2
import numpy as np

from models.registry import Registry
from tests.support.models import registry, require_model  # noqa: F401  (fixture)
from vision.head_classifier import HeadClassifier
from vision.heads import head_crop


def test_head_classifier_synthetic_missing_names_the_training_command(tmp_path):
    fix = Registry(tmp_path).fix_command("head_cls_cctv")
    assert "epolice models train-head" in fix and "--export-python" in fix
    assert Registry(tmp_path).manifest("head_cls_cctv").optional  # a bare `models fetch` does not try to download it


def test_head_classifier_real_reads_helmet_set_heads(registry, helmet_set):
    require_model(registry, "head_cls_cctv")
    clf = HeadClassifier(registry, "head_cls_cctv")
    crops, labels = [], []
    for label_file in sorted((helmet_set / "labels").glob("*.txt"))[:20]:
        image = cv2.imread(str(next((helmet_set / "images").glob(label_file.stem + ".*"))))
        h, w = image.shape[:2]
        for line in label_file.read_text().split("\n"):
            parts = line.split()
            if len(parts) == 5:
                cx, cy, bw, bh = (float(v) for v in parts[1:])
                crops.append(head_crop(image, ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h), clf.size, clf.context))
                labels.append(parts[0] == "1")
    probs = clf.classify(crops)
    assert probs.shape == (len(crops),) and np.all((probs >= 0) & (probs <= 1))
    # these heads were in its training set: a sanity check of the crop path, not an accuracy figure
    assert np.mean((probs >= 0.5) == np.array(labels)) >= 0.9
