"""A decoded frame and where it came from: the unit every source yields and the engine consumes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    camera_id: str
    seq: int  # index of this frame in its source (monotonic, counts every decoded frame)
    pts: float  # seconds from the start of the source
    wall_time: datetime  # timezone-aware capture time (evidence clock)
    image: np.ndarray  # HxWx3 uint8, BGR

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.image.shape[:2]
        return w, h
