"""One columnar type for boxes everywhere: detector output, tracker output, attribute results.

Parallel numpy arrays keep per-frame work vectorised and make filtering a boolean mask; the
``data`` dict carries per-box extra columns that stay aligned with the boxes through every mask,
index, merge and tracker update. One is set today: ``model_class``, the detector model's own class
id before it was mapped to a domain class (``vision.detector.postprocess``; the Ultralytics
comparison bench reads it). Per-track facts (riders, helmets, plates) are not columns here: they
live on the track's history and in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from models.domain import CLASS_ID, DOMAIN_CLASSES

_NAMES = np.array(DOMAIN_CLASSES, dtype=object)


@dataclass
class Detections:
    xyxy: np.ndarray  # (N, 4) float32, frame pixels
    confidence: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int32, index into models.domain.DOMAIN_CLASSES
    tracker_id: np.ndarray = field(default=None)  # (N,) int64, -1 = not tracked
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, dtype=np.int32).reshape(-1)
        if self.tracker_id is None:
            self.tracker_id = np.full(n, -1, dtype=np.int64)
        self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
        for name, arr in (("confidence", self.confidence), ("class_id", self.class_id), ("tracker_id", self.tracker_id)):
            if len(arr) != n:
                raise ValueError(f"Detections.{name} has {len(arr)} entries, xyxy has {n}")
        if n and (self.class_id.min() < 0 or self.class_id.max() >= len(DOMAIN_CLASSES)):
            raise ValueError(f"Detections.class_id out of range 0..{len(DOMAIN_CLASSES) - 1}")
        for key, arr in self.data.items():
            arr = np.asarray(arr)
            if len(arr) != n:
                raise ValueError(f"Detections.data[{key!r}] has {len(arr)} entries, xyxy has {n}")
            self.data[key] = arr

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def from_names(cls, xyxy, confidence, names: Iterable[str], **kwargs) -> "Detections":
        return cls(xyxy, confidence, np.array([CLASS_ID[n] for n in names], dtype=np.int32), **kwargs)

    @classmethod
    def merge(cls, parts: Iterable["Detections"]) -> "Detections":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        keys = set(parts[0].data)
        for p in parts[1:]:
            keys &= set(p.data)
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.tracker_id for p in parts]),
            {k: np.concatenate([p.data[k] for p in parts]) for k in keys},
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> "Detections":
        """Boolean mask, integer array or slice; a single int returns a one-box Detections."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.tracker_id[index],
            {k: v[index] for k, v in self.data.items()},
        )

    @property
    def class_name(self) -> np.ndarray:
        return _NAMES[self.class_id]

    def of_class(self, *names: str) -> "Detections":
        return self[np.isin(self.class_id, [CLASS_ID[n] for n in names])]

    def scaled(self, sx: float, sy: float) -> "Detections":
        """The same boxes in pixels of another size of the same picture (x times ``sx``, y times ``sy``)."""
        if sx == 1.0 and sy == 1.0:
            return self
        xyxy = self.xyxy * np.array([sx, sy, sx, sy], np.float32)
        return Detections(xyxy, self.confidence, self.class_id, self.tracker_id, dict(self.data))

    @property
    def area(self) -> np.ndarray:
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    @property
    def center(self) -> np.ndarray:
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], axis=1)

def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) xyxy arrays -> (N,M)."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
