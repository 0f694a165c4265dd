"""Plate colour classes and rectification geometry on synthetic plates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision.plates.color import classify_color
from vision.plates.rectify import expand_quad, quad_aspect, rectify, split_rows


def _plate(bg: tuple[int, int, int], fg: tuple[int, int, int], gradient_from: tuple[int, int, int] | None = None) -> np.ndarray:
    img = np.zeros((48, 154, 3), np.uint8)
    img[:] = bg
    if gradient_from is not None:
        for y in range(48):
            t = y / 47
            img[y] = [round(gradient_from[c] * (1 - t) + bg[c] * t) for c in range(3)]
    cv2.putText(img, "A12345", (8, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.2, fg, 3)
    return img


@pytest.mark.parametrize(
    ("plate", "color"),
    [
        (_plate((200, 70, 10), (255, 255, 255)), "blue"),
        (_plate((60, 20, 3), (110, 110, 110)), "blue"),  # a dark blue plate at night stays blue
        (_plate((240, 220, 90), (255, 255, 255)), "blue"),  # over-exposed, cyan-ish blue
        (_plate((20, 200, 235), (0, 0, 0)), "yellow"),
        (_plate((70, 200, 60), (0, 0, 0), gradient_from=(245, 245, 245)), "green"),  # new-energy gradient
        (_plate((235, 235, 235), (0, 0, 0)), "white"),
        (_plate((120, 120, 120), (10, 10, 10)), "white"),  # dim white plate (relative brightness)
        (_plate((25, 25, 25), (250, 250, 250)), "black"),
    ],
)
def test_synthetic_plate_colour(plate: np.ndarray, color: str) -> None:
    assert classify_color(plate).color == color


def _square_scene() -> tuple[np.ndarray, np.ndarray]:
    """A 400x300 scene with a 160x50 plate: left half red, right half green, seen in perspective."""
    plate = np.zeros((50, 160, 3), np.uint8)
    plate[:, :80] = (0, 0, 255)
    plate[:, 80:] = (0, 255, 0)
    quad = np.array([[100, 100], [280, 120], [270, 180], [110, 160]], np.float32)  # TL, TR, BR, BL
    src = np.array([[0, 0], [159, 0], [159, 49], [0, 49]], np.float32)
    scene = cv2.warpPerspective(plate, cv2.getPerspectiveTransform(src, quad), (400, 300))
    return scene, quad


def test_synthetic_rectify_undoes_perspective() -> None:
    scene, quad = _square_scene()
    flat = rectify(scene, quad, height=48, margin_x=0, margin_y=0, aspect=3.2)
    assert flat.shape == (48, 154, 3)
    left, right = flat[5:-5, 5:70], flat[5:-5, 85:-5]
    assert left[..., 2].mean() > 200 and left[..., 1].mean() < 40
    assert right[..., 1].mean() > 200 and right[..., 2].mean() < 40


def test_synthetic_expand_quad_grows_each_side() -> None:
    quad = np.array([[0, 0], [100, 0], [100, 30], [0, 30]], np.float32)
    grown = expand_quad(quad, 0.1, 0.2)
    assert grown.tolist() == [[-10, -6], [110, -6], [110, 36], [-10, 36]]


@pytest.mark.parametrize(("w", "h"), [(440, 140), (480, 140), (440, 220), (300, 170), (520, 110)])
def test_synthetic_quad_aspect(w: int, h: int) -> None:
    quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    assert quad_aspect(quad) == pytest.approx(w / h)


def test_synthetic_split_rows_cuts_at_top_fraction() -> None:
    quad = np.array([[0, 0], [200, 0], [200, 100], [0, 100]], np.float32)
    top, bottom = split_rows(quad, 0.36)
    assert top.tolist() == [[0, 0], [200, 0], [200, 36], [0, 36]]
    assert bottom.tolist() == [[0, 36], [200, 36], [200, 100], [0, 100]]
