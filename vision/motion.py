"""Motion gating: decide cheaply whether a frame is worth running the detector on.

Frame differencing on a small blurred grey image costs well under a millisecond, while detection
costs tens. At night or on an empty road most frames show nothing new. The gate only says
"nothing moved"; it never drops tracks: a parked car does not move, and the parking rule needs
its track kept alive, so the engine must still age and hold tracks on gated frames (it treats a
gated frame as "same detections as last time"), and a detection is forced every
``max_skip_s`` seconds anyway so stationary vehicles are re-confirmed.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from models.strict import StrictModel


class MotionConfig(StrictModel):
    enabled: bool = Field(False, description="skip detection on frames where nothing moves")
    width: int = Field(160, ge=32, description="width of the grey thumbnail compared between frames")
    pixel_threshold: int = Field(18, ge=1, le=255, description="grey-level change that counts a pixel as moving")
    min_area: float = Field(0.002, gt=0, lt=1, description="share of moving pixels that counts as motion")
    max_skip_s: float = Field(2.0, gt=0, description="force a detection at least this often, even without motion")


class MotionGate:
    """Stateful per camera: compares each frame with the last one that was *detected*."""

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self._reference: np.ndarray | None = None
        self._last_detect_pts: float | None = None
        self.skipped = 0

    def _thumb(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        width = min(self.config.width, w)
        small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def motion_fraction(self, image: np.ndarray) -> float:
        """Share of thumbnail pixels that changed since the reference (1.0 without a reference)."""
        thumb = self._thumb(image)
        if self._reference is None or self._reference.shape != thumb.shape:
            return 1.0
        diff = cv2.absdiff(thumb, self._reference)
        return float(np.count_nonzero(diff > self.config.pixel_threshold)) / diff.size

    def should_detect(self, image: np.ndarray, pts: float) -> bool:
        """True when the detector should run on this frame; updates the reference when it does."""
        if not self.config.enabled:
            return True
        due = self._last_detect_pts is None or pts - self._last_detect_pts >= self.config.max_skip_s
        if due or self.motion_fraction(image) >= self.config.min_area:
            self._reference = self._thumb(image)
            self._last_detect_pts = pts
            return True
        self.skipped += 1
        return False
