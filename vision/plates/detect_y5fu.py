"""HyperLPR3's plate detector ``y5fu`` (YOLOv5-face style): box, four corners and the row layout.

Output rows are ``cx, cy, w, h`` (letterboxed input pixels), objectness, the four corners TL, TR,
BR, BL (8 values, same pixels), then two class scores single-row / double-row; a plate's score is
objectness x its best class score, as HyperLPR3 computes it. The input is a fixed square (320 or
640, from the manifest), letterboxed with black padding, RGB in 0..1. Results come back in the
input image's pixels as the same ``PlateDetection`` the ``clp_det`` decoder returns, with the
detector's double-row probability (the row flag), so the two detectors can be fused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vision.letterbox import letterbox
from vision.nms import nms
from vision.plates.detect import PlateDetection


@dataclass(frozen=True)
class Y5fuParams:
    size: int = 320
    pad_value: int = 0
    nms_threshold: float = 0.5
    name: str = "y5fu"

    @classmethod
    def from_manifest(cls, name: str, input_size: int | None, params: dict[str, Any]) -> "Y5fuParams":
        return cls(size=int(input_size or 320), pad_value=int(params.get("pad_value", 0)),
                   nms_threshold=float(params.get("nms_threshold", 0.5)), name=name)


class Y5fuDetector:
    """Finds plates with corners and row layout. ``session`` is an onnxruntime session of y5fu."""

    def __init__(self, session: Any, params: Y5fuParams | None = None) -> None:
        self.session = session
        self.params = params or Y5fuParams()
        self.input_name = session.get_inputs()[0].name

    def detect(self, image: np.ndarray, min_score: float = 0.3) -> list[PlateDetection]:
        """Plates in a BGR image, best first (score = objectness x row-class score)."""
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
            return []
        size = self.params.size
        canvas, lb = letterbox(image, size, size, self.params.pad_value)
        blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(blob)})[0][0]
        return self._decode(out, lb, min_score)

    def _decode(self, out: np.ndarray, lb, min_score: float) -> list[PlateDetection]:
        obj = out[:, 4]
        rows = out[obj > min_score]
        if not len(rows):
            return []
        cls = rows[:, 13:15] * rows[:, 4:5]
        score = cls.max(axis=1)
        rows, cls, score = rows[score > min_score], cls[score > min_score], score[score > min_score]
        if not len(rows):
            return []
        cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        pts = rows[:, 5:13].reshape(-1, 4, 2).copy()
        pts[:, :, 0] = (pts[:, :, 0] - lb.pad_x) / lb.scale
        pts[:, :, 1] = (pts[:, :, 1] - lb.pad_y) / lb.scale
        frame_boxes = lb.to_frame(boxes)
        double = rows[:, 14] / np.maximum(rows[:, 13] + rows[:, 14], 1e-6)
        out_dets = [
            PlateDetection(box=tuple(float(v) for v in frame_boxes[i]), corners=pts[i].astype(np.float32),
                           score=float(score[i]), double_row=float(double[i]), sources=(self.params.name,))
            for i in nms(boxes, score, self.params.nms_threshold)
        ]
        return out_dets
