"""Perspective rectification of a detected plate, and the split of double-row plates.

The detector's corners hug the plate's outer edge; a small outward margin keeps the first and
last characters whole when a corner lands a few pixels inside. Output is at the recogniser's
working scale (48 px high per text row) so no further resampling blurs it. Chinese plates are
440 x 140 mm (single row) or 440 x 220 mm (double row, top row about a third of the height); which
quads are tried as double-row is the reader's choice (``PlateReaderConfig.double_row_max_aspect``).
"""

from __future__ import annotations

import cv2
import numpy as np


def expand_quad(corners: np.ndarray, margin_x: float, margin_y: float) -> np.ndarray:
    """Push the TL, TR, BR, BL quad outward by fractions of its width and height."""
    c = corners.astype(np.float32)
    right = ((c[1] - c[0]) + (c[2] - c[3])) / 2
    down = ((c[3] - c[0]) + (c[2] - c[1])) / 2
    dx, dy = right * margin_x, down * margin_y
    return np.stack([c[0] - dx - dy, c[1] + dx - dy, c[2] + dx + dy, c[3] - dx + dy]).astype(np.float32)


def quad_aspect(corners: np.ndarray) -> float:
    c = corners.astype(np.float32)
    w = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    h = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    return float(w / max(h, 1e-6))


def warp(image: np.ndarray, corners: np.ndarray, width: int, height: int) -> np.ndarray:
    dst = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    return cv2.warpPerspective(image, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def rectify(image: np.ndarray, corners: np.ndarray, height: int = 48, margin_x: float = 0.04, margin_y: float = 0.1,
            aspect: float | None = None) -> np.ndarray:
    """The flat plate, ``height`` pixels high, width from the quad's own aspect (or ``aspect``)."""
    quad = expand_quad(corners, margin_x, margin_y)
    a = aspect if aspect is not None else quad_aspect(quad)
    return warp(image, quad, max(16, round(height * a)), height)


def split_rows(corners: np.ndarray, top_fraction: float = 0.36) -> tuple[np.ndarray, np.ndarray]:
    """Quads of the top row (province + letter) and bottom row (serial) of a double-row plate."""
    c = corners.astype(np.float32)
    left = c[0] + (c[3] - c[0]) * top_fraction
    right = c[1] + (c[2] - c[1]) * top_fraction
    top = np.stack([c[0], c[1], right, left])
    bottom = np.stack([left, right, c[2], c[3]])
    return top, bottom
