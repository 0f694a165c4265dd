"""Letterbox resize: keep the aspect ratio, pad to the model's square, and map boxes back.

Detectors were trained on letterboxed images; stretching a 16:9 frame to 640x640 squashes
vehicles and costs recall. The inverse transform is kept with the image so boxes return to
frame pixels exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the model input: ``input = frame * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: int
    pad_y: int
    frame_width: int
    frame_height: int

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Model-input boxes -> frame pixels, clipped to the frame."""
        out = np.asarray(xyxy, np.float32).reshape(-1, 4).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.frame_width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.frame_height)
        return out

def letterbox(image: np.ndarray, width: int, height: int, pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` (HxWxC) into a ``height x width`` canvas, centred, padded with ``pad_value``."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
    canvas = np.full((height, width, image.shape[2]), pad_value, dtype=image.dtype)
    resized = image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, Letterbox(scale, pad_x, pad_y, w, h)
