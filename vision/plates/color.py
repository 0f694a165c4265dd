"""Plate background colour from the rectified crop: blue, yellow, green, white or black.

Text covers a minority of a plate, so the background is the colour class holding most of the inner
pixels. Chromatic classes win over white/black once they cover a fair share, because new-energy
plates fade from white into green and glare whitens blue plates. Hue bands are OpenCV's 0..180.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

# The same values as evidence.event.PlateColor: the arrows keep vision from importing evidence.
PlateColorName = Literal["blue", "yellow", "green", "white", "black", "unknown"]


@dataclass(frozen=True)
class ColorResult:
    color: PlateColorName
    shares: dict[str, float]  # fraction of inner pixels per class


def color_shares(plate_bgr: np.ndarray) -> dict[str, float]:
    h, w = plate_bgr.shape[:2]
    inner = plate_bgr[int(h * 0.12): max(int(h * 0.88), 1), int(w * 0.04): max(int(w * 0.96), 1)]
    if inner.size == 0:
        inner = plate_bgr
    hsv = cv2.cvtColor(inner, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    # brightness relative to the plate's own highlights (its text or background), so a dark blue
    # plate at night stays blue while a black plate, whose white text is far brighter, stays black
    val = np.clip(val * (255.0 / max(float(np.percentile(val, 95)), 1.0)), 0, 255)
    chroma = (sat >= 80) & (val >= 80)
    classes = {
        # blue plates drift towards cyan when over-exposed (hue ~90); green plates sit below
        "blue": chroma & (hue >= 88) & (hue <= 130),
        "yellow": chroma & (hue >= 12) & (hue < 35),
        "green": chroma & (hue >= 35) & (hue < 88),
        "white": ~chroma & (sat < 70) & (val >= 150),
        "black": ~chroma & (val < 90),
    }
    n = max(len(hsv), 1)
    return {name: float(mask.sum()) / n for name, mask in classes.items()}


def classify_color(plate_bgr: np.ndarray, chroma_share: float = 0.2) -> ColorResult:
    """The background colour class; a chromatic class with >= ``chroma_share`` of pixels wins."""
    shares = color_shares(plate_bgr)
    chromatic = max(("blue", "yellow", "green"), key=lambda k: shares[k])
    if shares[chromatic] >= chroma_share:
        return ColorResult(chromatic, shares)
    achromatic = max(("white", "black"), key=lambda k: shares[k])
    if shares[achromatic] >= 0.2:
        return ColorResult(achromatic, shares)
    best = max(shares, key=lambda k: shares[k])
    return ColorResult(best if shares[best] > 0.1 else "unknown", shares)
