"""Plane geometry the rules and the site config share: zone polygons and headings.

Everything is in image pixels with y pointing down, so a heading of 90 degrees means "moving down
the frame". Zones are tested against a vehicle's ground point (bottom-centre of its box), because
that is where it touches the road; the box centre floats above the road and drifts with perspective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Polygon:
    """A simple (non-self-intersecting) polygon in image pixels."""

    points: np.ndarray  # (N, 2) float64, N >= 3

    @classmethod
    def of(cls, points) -> "Polygon":
        arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(arr) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(arr)}")
        return cls(arr)

    @property
    def area(self) -> float:
        x, y = self.points[:, 0], self.points[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)

    def contains(self, points) -> np.ndarray:
        """Even-odd ray casting for (M, 2) points -> (M,) bool; points on an edge count as inside."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        px, py = pts[:, 0:1], pts[:, 1:2]
        x1, y1 = self.points[:, 0], self.points[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        straddles = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside = np.count_nonzero(straddles & (px < x_cross), axis=1) % 2 == 1
        return inside | self._on_edge(pts)

    def contains_point(self, x: float, y: float) -> bool:
        return bool(self.contains([[x, y]])[0])

    def _on_edge(self, pts: np.ndarray, tol: float = 1e-6) -> np.ndarray:
        a = self.points[None, :, :]
        b = np.roll(self.points, -1, axis=0)[None, :, :]
        p = pts[:, None, :]
        ab = b - a
        t = np.clip(np.sum((p - a) * ab, axis=2) / np.maximum(np.sum(ab * ab, axis=2), 1e-12), 0, 1)
        d = np.linalg.norm(a + t[..., None] * ab - p, axis=2)
        return np.any(d <= tol, axis=1)

    def self_intersection(self) -> tuple[int, int] | None:
        """The first pair of non-adjacent edges that cross, or None when the polygon is simple."""
        n = len(self.points)
        edges = [(self.points[i], self.points[(i + 1) % n]) for i in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                if j == i + 1 or (i == 0 and j == n - 1):
                    continue  # adjacent edges share a vertex by construction
                if segments_intersect(*edges[i], *edges[j]):
                    return i, j
        return None


def _orient(a, b, c) -> float:
    return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))


def _on_segment(a, b, c) -> bool:
    return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])


def segments_intersect(p1, p2, q1, q2) -> bool:
    """True when segment p1-p2 touches or crosses segment q1-q2."""
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 != 0 and d2 != 0 and d3 != 0 and d4 != 0:
        return True
    return (
        (d1 == 0 and _on_segment(q1, q2, p1))
        or (d2 == 0 and _on_segment(q1, q2, p2))
        or (d3 == 0 and _on_segment(p1, p2, q1))
        or (d4 == 0 and _on_segment(p1, p2, q2))
    )


def heading_deg(dx: float, dy: float) -> float:
    """Direction of a displacement in degrees, 0 = +x (right), 90 = +y (down the frame), in [0, 360)."""
    return math.degrees(math.atan2(dy, dx)) % 360.0


def angle_diff(a: float, b: float) -> float:
    """Signed smallest rotation from heading a to heading b, in (-180, 180]."""
    d = (b - a + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def net_turn(headings) -> float:
    """Accumulated signed rotation along a heading sequence (degrees); a U-turn sums to about +-180.

    Summing step-wise differences, instead of comparing end points, tells a real reversal (one
    steady rotation) from two jittery headings that merely happen to point apart.
    """
    h = list(headings)
    return float(sum(angle_diff(a, b) for a, b in zip(h, h[1:])))


def polyline_heading_at(polyline, x: float, y: float) -> float:
    """Heading of the segment of ``polyline`` (N >= 2 points, in order) nearest to (x, y), degrees.

    A lane's direction of travel is drawn as a polyline; the local heading follows its bends, and in
    the image it follows the perspective too, so it can be compared with a vehicle's heading there.
    """
    pts = np.asarray(polyline, dtype=np.float64).reshape(-1, 2)
    a, b = pts[:-1], pts[1:]
    ab = b - a
    p = np.array([x, y], dtype=np.float64)
    t = np.clip(np.sum((p - a) * ab, axis=1) / np.maximum(np.sum(ab * ab, axis=1), 1e-12), 0, 1)
    d = np.linalg.norm(a + t[:, None] * ab - p, axis=1)
    i = int(np.argmin(d))
    return heading_deg(float(ab[i, 0]), float(ab[i, 1]))
