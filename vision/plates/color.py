"""Plate background colour from the rectified crop: blue, yellow, green, white or black.

Text covers a minority of a plate, so the background is the colour class holding most of the inner
pixels. Chromatic classes win over white/black once they cover a fair share, because new-energy
plates fade from white into green and glare whitens blue plates. Hue bands are OpenCV's 0..180.

HyperLPR3's learned classifier (``ColorClassifier``: blue / green / yellow only) is more robust to
lighting than hue bands; ``combine_color`` takes it for the chromatic plates and keeps the HSV
answer for white and black plates, which it cannot name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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


CLASSIFIER_LABELS = ("blue", "green", "yellow")


class ColorClassifier:
    """HyperLPR3 ``litemodel_cls_96x_r1``: the plate crop resized to 96x96, BGR / 255 (as HyperLPR3
    feeds it; measured: RGB input turns blue plates yellow), three class probabilities."""

    def __init__(self, session: Any, size: int = 96, labels: tuple[str, ...] = CLASSIFIER_LABELS) -> None:
        self.session = session
        self.size = size
        self.labels = labels
        self.input_name = session.get_inputs()[0].name

    def probabilities(self, plate_bgr: np.ndarray) -> dict[str, float]:
        x = cv2.resize(plate_bgr, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        blob = x.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        probs = self.session.run(None, {self.input_name: blob})[0].reshape(-1)
        return {label: float(p) for label, p in zip(self.labels, probs)}


def combine_color(hsv: ColorResult, probs: dict[str, float] | None, min_prob: float = 0.9) -> PlateColorName:
    """The classifier's colour when it is sure and the pixels are not white/black; else the HSV colour."""
    if probs is None or hsv.color in ("white", "black"):
        return hsv.color
    best = max(probs, key=lambda k: probs[k])
    return best if probs[best] >= min_prob else hsv.color
