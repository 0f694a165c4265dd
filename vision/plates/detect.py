"""Plate detector decoder for ``clp_det`` (RetinaFace-style: box + 4 corner points per plate).

The network is fully convolutional (any H x W), regresses boxes and corners against SSD priors laid
on three strides; decoding constants come from the model manifest's ``params`` so the weights can be
swapped without code changes. Images are downscaled to ``max_side`` before inference (plates in a
vehicle crop are large; CPU time scales with pixels) and results mapped back to input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from vision.nms import nms

_MEANS_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


# clp_det's corner order (BR, BL, TL, TR, as trained on CCPD) -> TL, TR, BR, BL
_CLP_CORNER_ORDER = [2, 3, 0, 1]


@dataclass(frozen=True)
class PlateDetection:
    """One plate in input-image pixels. ``corners`` are (4, 2) in order TL, TR, BR, BL.

    ``double_row`` is the detector's own double-row probability when it has one (HyperLPR3's y5fu),
    None otherwise; ``sources`` names the detector(s) that found the plate.
    """

    box: tuple[float, float, float, float]
    corners: np.ndarray
    score: float
    double_row: float | None = None
    sources: tuple[str, ...] = ("clp_det",)

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.corners[1] - self.corners[0]) + np.linalg.norm(self.corners[2] - self.corners[3])) / 2

    @property
    def height(self) -> float:
        return float(np.linalg.norm(self.corners[3] - self.corners[0]) + np.linalg.norm(self.corners[2] - self.corners[1])) / 2


@dataclass(frozen=True)
class DetectorParams:
    min_sizes: tuple[tuple[int, ...], ...] = ((24, 48), (96, 192), (384, 768))
    steps: tuple[int, ...] = (8, 16, 32)
    variance: tuple[float, float] = (0.1, 0.2)
    confidence_threshold: float = 0.02
    nms_threshold: float = 0.4
    vis_threshold: float = 0.7

    @classmethod
    def from_manifest(cls, params: dict[str, Any]) -> "DetectorParams":
        known = {k: params[k] for k in ("confidence_threshold", "nms_threshold", "vis_threshold") if k in params}
        if "min_sizes" in params:
            known["min_sizes"] = tuple(tuple(int(s) for s in m) for m in params["min_sizes"])
        if "steps" in params:
            known["steps"] = tuple(int(s) for s in params["steps"])
        if "variance" in params:
            known["variance"] = tuple(float(v) for v in params["variance"])
        return cls(**known)


@lru_cache(maxsize=32)
def _priors(h: int, w: int, params: DetectorParams) -> np.ndarray:
    """(P, 4) priors cx, cy, w, h normalised to the input size; cached (vehicle crops repeat sizes)."""
    rows = []
    for step, sizes in zip(params.steps, params.min_sizes):
        fh, fw = -(-h // step), -(-w // step)
        ys, xs = np.meshgrid((np.arange(fh) + 0.5) * step / h, (np.arange(fw) + 0.5) * step / w, indexing="ij")
        cx = np.repeat(xs.reshape(-1), len(sizes))
        cy = np.repeat(ys.reshape(-1), len(sizes))
        sw = np.tile(np.array(sizes, dtype=np.float64) / w, fh * fw)
        sh = np.tile(np.array(sizes, dtype=np.float64) / h, fh * fw)
        rows.append(np.stack([cx, cy, sw, sh], axis=1))
    return np.concatenate(rows).astype(np.float32)


class PlateDetector:
    """Finds plates with their corners. ``session`` is an onnxruntime session for clp_det."""

    def __init__(self, session: Any, params: DetectorParams | None = None, max_side: int = 640) -> None:
        self.session = session
        self.params = params or DetectorParams()
        self.max_side = max_side
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]

    def detect(self, image: np.ndarray, min_score: float | None = None, max_side: int | None = None) -> list[PlateDetection]:
        """Plates in a BGR image (a vehicle crop or a whole photo), best first."""
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 8 or image.shape[1] < 8:
            return []
        limit = max_side or self.max_side
        h0, w0 = image.shape[:2]
        scale = min(1.0, limit / max(h0, w0))
        if scale < 1.0:
            image = cv2.resize(image, (max(8, round(w0 * scale)), max(8, round(h0 * scale))), interpolation=cv2.INTER_LINEAR)
        h, w = image.shape[:2]
        blob = (image.astype(np.float32) - _MEANS_BGR).transpose(2, 0, 1)[None]
        outputs = dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: blob})))
        loc, conf, landms = outputs["loc"][0], outputs["conf"][0], outputs["landms"][0]
        return self._decode(loc, conf, landms, h, w, 1.0 / scale, self.params.vis_threshold if min_score is None else min_score)

    def _decode(self, loc, conf, landms, h, w, back, min_score) -> list[PlateDetection]:
        p = self.params
        priors = _priors(h, w, p)
        scores = conf[:, 1]
        keep = np.flatnonzero(scores > max(p.confidence_threshold, min_score))
        if keep.size == 0:
            return []
        pr, lo, lm, sc = priors[keep], loc[keep], landms[keep], scores[keep]
        centre = pr[:, :2] + lo[:, :2] * p.variance[0] * pr[:, 2:]
        size = pr[:, 2:] * np.exp(lo[:, 2:] * p.variance[1])
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) * np.array([w, h, w, h], np.float32)
        pts = (pr[:, None, :2] + lm.reshape(-1, 4, 2) * p.variance[0] * pr[:, None, 2:]) * np.array([w, h], np.float32)
        out = []
        for i in nms(boxes, sc, p.nms_threshold):
            b = boxes[i] * back
            corners = (pts[i] * back)[_CLP_CORNER_ORDER].astype(np.float32)
            out.append(PlateDetection(box=tuple(float(v) for v in b), corners=corners, score=float(sc[i])))
        out.sort(key=lambda d: -d.score)
        return out
