"""The Hong Kong / Macau local plate that cross-border vehicles carry beside their 粤Z…港/澳 plate.

The plate detector was trained on mainland plates and rarely finds the local plate, but once the
mainland plate is read its position is known: the local plate sits directly above or below it, in
the same plane. Candidate windows there (single-row and double-row shapes, a few gaps) are warped
in the mainland plate's own frame and read in one batch. Single-row readings win over double-row
ones (splitting a single-row plate in two can still spell a valid plate), then the most confident;
every character must be fairly sure and none repaired. The winning window's images are returned
so the second recogniser can read the same pixels (the double read).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.plates.color import classify_color
from vision.plates.grammar import normalise
from vision.plates.ocr import TextRecognizer
from vision.plates.rectify import quad_aspect, warp

# (name, x0, x1, y0, y1) in mainland-plate units: x across (0..1 = plate width), y down (0..1 = height)
_SINGLE = [("above", -0.2, 1.2, -g - 1.15, -g) for g in (0.0, 0.5, 1.0)] + [
    ("below", -0.2, 1.2, 1 + g, 1 + g + 1.15) for g in (0.0, 0.5)
]
_DOUBLE = [("above", 0.05, 0.95, -g - hh, -g) for g in (0.0, 0.3) for hh in (1.2, 1.5)] + [
    ("below", 0.05, 0.95, 1 + g, 1 + g + hh) for g in (0.0, 0.3) for hh in (1.2, 1.5)
]


@dataclass(frozen=True)
class CompanionRead:
    text: str
    char_confidences: tuple[float, ...]
    rows: int
    color: str
    corners: np.ndarray  # TL, TR, BR, BL of the window read, image pixels
    images: tuple[np.ndarray, ...] = ()  # the window as read (one per row)


def _quad(c: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    right = ((c[1] - c[0]) + (c[2] - c[3])) / 2
    down = ((c[3] - c[0]) + (c[2] - c[1])) / 2
    o = c[0]
    return np.stack([o + x0 * right + y0 * down, o + x1 * right + y0 * down,
                     o + x1 * right + y1 * down, o + x0 * right + y1 * down]).astype(np.float32)


def _flat(image: np.ndarray, quad: np.ndarray, height: int) -> np.ndarray:
    return warp(image, quad, max(16, round(height * quad_aspect(quad))), height)


def read_companion(image: np.ndarray, corners: np.ndarray, recognizer: TextRecognizer,
                   min_char_confidence: float = 0.5) -> CompanionRead | None:
    """The local plate next to the mainland plate with ``corners`` (TL, TR, BR, BL), or None."""
    c = corners.astype(np.float32)
    h = recognizer.height
    windows: list[tuple[int, np.ndarray, list[np.ndarray]]] = []
    for _, x0, x1, y0, y1 in _SINGLE:
        q = _quad(c, x0, x1, y0, y1)
        windows.append((1, q, [_flat(image, q, h)]))
    for _, x0, x1, y0, y1 in _DOUBLE:
        mid = (y0 + y1) / 2
        q = _quad(c, x0, x1, y0, y1)
        windows.append((2, q, [_flat(image, _quad(c, x0, x1, y0, mid), h), _flat(image, _quad(c, x0, x1, mid, y1), h)]))
    reads = iter(recognizer.read([img for _, _, imgs in windows for img in imgs]))
    found: list[tuple[int, float, CompanionRead]] = []
    for rows, q, imgs in windows:
        cands = [cand for _ in imgs for cand in next(reads).candidates]
        res = normalise(cands, max_repairs=0, min_char_confidence=min_char_confidence)
        if not res.valid or res.kind != "hk_macau_local":
            continue
        # the window also shows the mainland plate's edge and the bumper, so only tell white from
        # yellow (HK front / rear); the position beside a 港/澳 plate already says what this is
        shares = classify_color(_flat(image, q, 24)).shares
        color = "yellow" if shares["yellow"] >= 0.2 else "white"
        mean = float(np.mean(res.char_confidences))
        found.append((rows, -mean, CompanionRead(res.text, res.char_confidences, rows, color, q, tuple(imgs))))
    if not found:
        return None
    found.sort(key=lambda f: (f[0], f[1]))
    return found[0][2]
