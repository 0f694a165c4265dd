"""Labelled head crops for training the head classifier, from the tuning part of the CCTV riders only.

Heads are found by the engine's own rider path (``pipelines.eval.riders.evaluate`` on the ``tune``
part: the helmet model's heads and heads derived from person boxes) and cut with the runtime's
``vision.heads.head_crop``. The labels are per bike, not per head, so a bike gives its heads a
label only when it is unambiguous: every labelled rider has the same definite label (all helmet,
or all without) and no more heads were found than riders labelled. The helmet heads set (YOLO
labels, class 0 with helmet, 1 without) adds web photos of heads. Held-out frames are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from pipelines.config import SiteConfig
from pipelines.eval.rider_truth import RiderTruth, image_path
from vision.heads import head_crop


@dataclass(frozen=True)
class HeadSet:
    x: np.ndarray  # N x S x S x 3 uint8 BGR
    y: np.ndarray  # N, 1 = no helmet
    sources: dict[str, int]  # heads per source

    def save(self, path: Path) -> None:
        np.savez_compressed(path, x=self.x, y=self.y)


def _cctv_heads(truth: Sequence[RiderTruth], images: Path, site: SiteConfig, detector, helmet, size: int, context: float):
    from pipelines.eval.riders import evaluate

    loose = site.model_copy(deep=True)
    loose.engine.judge.min_head_px = 1.0  # every head the path finds, judgeable or not, is a training head
    report = evaluate(truth, images, loose, detector, helmet, part="tune")
    out = []
    for b in report.bikes:
        labels = set(b["helmets"])
        if b["part"] != "tune" or len(labels) != 1 or labels & {"unclear"} or len(b["heads"]) > b["riders"]:
            continue
        image = cv2.imread(str(image_path(images, b["file"])))
        for h in b["heads"]:
            out.append((head_crop(image, h["box"], size, context), int("no_helmet" in labels)))
    return out


def _helmet_set_heads(folder: Path, size: int, context: float):
    out = []
    for label_file in sorted((folder / "labels").glob("*.txt")):
        matches = [p for p in (folder / "images").glob(label_file.stem + ".*")]
        image = cv2.imread(str(matches[0])) if matches else None
        if image is None:
            continue
        h, w = image.shape[:2]
        for line in label_file.read_text().split("\n"):
            parts = line.split()
            if len(parts) != 5 or parts[0] not in ("0", "1"):
                continue
            cx, cy, bw, bh = (float(v) for v in parts[1:])
            box = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
            out.append((head_crop(image, box, size, context), int(parts[0] == "1")))
    return out


def build_head_set(
    truth: Sequence[RiderTruth], images: Path, helmet_set: Path | None, site: SiteConfig, detector, helmet,
    size: int = 32, context: float = 2.0,
) -> HeadSet:
    cctv = _cctv_heads(truth, images, site, detector, helmet, size, context)
    web = _helmet_set_heads(helmet_set, size, context) if helmet_set is not None else []
    both = cctv + web
    if not both:
        raise ValueError("no labelled heads found for training")
    x = np.stack([c for c, _ in both]).astype(np.uint8)
    y = np.array([lab for _, lab in both], np.int64)
    return HeadSet(x, y, {"cctv_tune": len(cctv), "cctv_tune_no_helmet": sum(lab for _, lab in cctv),
                          "helmet_set": len(web), "helmet_set_no_helmet": sum(lab for _, lab in web)})
