"""Draw detections onto a frame copy, for `epolice detect --out` and debugging (evidence has its own renderer)."""

from __future__ import annotations

import cv2
import numpy as np

from models.domain import DOMAIN_CLASSES
from vision.detections import Detections

# One fixed colour per domain class so the same class looks the same in every image.
_PALETTE = [
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
    (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0),
]


def class_colour(class_id: int) -> tuple[int, int, int]:
    return _PALETTE[int(class_id) % len(_PALETTE)]


def draw_detections(image: np.ndarray, detections: Detections, thickness: int = 2) -> np.ndarray:
    """A copy of ``image`` with each box outlined and labelled ``class conf``."""
    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 1000)
    for box, conf, cid in zip(detections.xyxy, detections.confidence, detections.class_id):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        colour = class_colour(cid)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        label = f"{DOMAIN_CLASSES[cid]} {conf:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = max(y1, th + base)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw, ty), colour, -1)
        cv2.putText(out, label, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
