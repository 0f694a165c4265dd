"""Camera calibration: the homography between the image and the road plane, in metres.

A camera sees the road in perspective, so a pixel near the bottom of the frame covers centimetres
and one near the horizon covers metres; the two directions of a road converge toward a vanishing
point. Four or more image points with their positions on the road (metres, any right-handed or
left-handed frame the site chooses) fix a homography ``H``: ground = H(image). With it the track
history carries positions, headings and speeds on the road, and the rules measure in metres.

Image points above the horizon have no ground position (they map behind the camera);
``to_ground`` returns NaN for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np


class CalibrationError(ValueError):
    """Calibration points that cannot give a usable homography; the message says which and why."""


def _collinear(a, b, c, tol: float) -> bool:
    """True when a, b, c lie (nearly) on one line: the triangle's height is under ``tol`` of its longest side."""
    a, b, c = (np.asarray(p, dtype=np.float64) for p in (a, b, c))
    area2 = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    longest = max(np.linalg.norm(b - a), np.linalg.norm(c - b), np.linalg.norm(a - c), 1e-12)
    return area2 / longest <= tol * longest


def general_position(points, tol: float = 0.02) -> tuple[int, int, int, int] | None:
    """Indices of four points of which no three are collinear, or None when there are none.

    A homography needs four such points; more points only refine it.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    for quad in combinations(range(len(pts)), 4):
        if not any(_collinear(*pts[list(tri)], tol) for tri in combinations(quad, 3)):
            return quad  # type: ignore[return-value]
    return None


def _normaliser(pts: np.ndarray) -> np.ndarray:
    """Hartley normalisation: centroid to the origin, mean distance sqrt(2) (conditions the DLT)."""
    c = pts.mean(axis=0)
    d = np.mean(np.linalg.norm(pts - c, axis=1))
    s = math.sqrt(2) / max(d, 1e-12)
    return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1]])


def fit_homography(src, dst) -> np.ndarray:
    """Least-squares (normalised DLT) homography mapping ``src`` (N, 2) to ``dst`` (N, 2), N >= 4."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    ts, td = _normaliser(src), _normaliser(dst)
    s = (ts @ np.c_[src, np.ones(len(src))].T).T
    d = (td @ np.c_[dst, np.ones(len(dst))].T).T
    rows = []
    for (x, y, _), (u, v, _) in zip(s, d):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    h = vt[-1].reshape(3, 3)
    h = np.linalg.inv(td) @ h @ ts
    h = h / np.linalg.norm(h)
    # a homography is defined up to scale, sign included: choose the sign that puts the points in front
    w = np.c_[src, np.ones(len(src))] @ h[2]
    return -h if np.sum(np.sign(w)) < 0 else h


def _refine(g2i: np.ndarray, gnd: np.ndarray, img: np.ndarray) -> np.ndarray:
    """Least-squares refinement of a ground -> image homography on the pixel reprojection error.

    The linear fit weighs points by an algebraic error; what a person checks is pixels, so the
    fit is finished on pixels. With exactly four points both agree.
    """
    if len(gnd) <= 4:
        return g2i
    from scipy.optimize import least_squares

    scale = g2i[2, 2] if abs(g2i[2, 2]) > 1e-12 else 1.0
    x0 = (g2i / scale).ravel()[:8]

    def residuals(x: np.ndarray) -> np.ndarray:
        return (apply_homography(np.append(x, 1.0).reshape(3, 3), gnd) - img).ravel()

    if not np.all(np.isfinite(residuals(x0))):
        return g2i
    res = least_squares(residuals, x0, method="lm")
    return np.append(res.x, 1.0).reshape(3, 3) if res.success and np.all(np.isfinite(res.fun)) else g2i


def apply_homography(h: np.ndarray, points) -> np.ndarray:
    """Map (N, 2) points through ``h``; points sent to or beyond infinity (w <= 0) come back NaN."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    q = np.c_[pts, np.ones(len(pts))] @ h.T
    w = q[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = q[:, :2] / w
    out[(w[:, 0] <= 1e-12)] = np.nan
    return out


@dataclass(frozen=True)
class Homography:
    """Image pixels <-> road metres for one camera (``to_ground`` = ``h``, ``to_image`` = its inverse)."""

    h: np.ndarray  # 3x3, image -> ground
    h_inv: np.ndarray  # 3x3, ground -> image

    @classmethod
    def fit(cls, image_points, ground_points) -> "Homography":
        """The homography from matched points; raises CalibrationError for degenerate point sets."""
        img = np.asarray(image_points, dtype=np.float64).reshape(-1, 2)
        gnd = np.asarray(ground_points, dtype=np.float64).reshape(-1, 2)
        if len(img) != len(gnd):
            raise CalibrationError(f"{len(img)} image points but {len(gnd)} ground points")
        if len(img) < 4:
            raise CalibrationError(f"a homography needs at least 4 points, got {len(img)}")
        for name, pts in (("image", img), ("ground", gnd)):
            if general_position(pts) is None:
                raise CalibrationError(f"the {name} points are (nearly) collinear: at least 4 of them, no three on one line, are needed")
        g2i = _refine(fit_homography(gnd, img), gnd, img)
        # the map must be invertible and well conditioned, or metres are meaningless
        if not np.all(np.isfinite(g2i)) or abs(np.linalg.det(g2i)) < 1e-15 or np.linalg.cond(g2i) > 1e12:
            raise CalibrationError("the points give a singular homography (not invertible); check that they match")
        h = np.linalg.inv(g2i)
        w = np.c_[img, np.ones(len(img))] @ h[2]
        h = -h if np.sum(np.sign(w)) < 0 else h  # image -> ground with w > 0 on the road
        hom = cls(h, np.linalg.inv(h))
        ground_back = hom.to_ground(img)
        if not np.all(np.isfinite(ground_back)):
            raise CalibrationError("some calibration points fall beyond the horizon of the fitted plane; check that they match")
        return hom

    def to_ground(self, points) -> np.ndarray:
        """(N, 2) image pixels -> (N, 2) metres on the road; NaN above the horizon."""
        return apply_homography(self.h, points)

    def to_image(self, points) -> np.ndarray:
        """(N, 2) metres on the road -> (N, 2) image pixels; NaN behind the camera."""
        return apply_homography(self.h_inv, points)

    def ground_point(self, x: float, y: float) -> tuple[float, float] | None:
        g = self.to_ground([[x, y]])[0]
        return (float(g[0]), float(g[1])) if np.all(np.isfinite(g)) else None

    def reprojection_error(self, image_points, ground_points) -> "Reprojection":
        """How far the ground points land from their image points through the fitted map."""
        img = np.asarray(image_points, dtype=np.float64).reshape(-1, 2)
        back = self.to_image(ground_points)
        d = np.linalg.norm(back - img, axis=1)
        d = np.where(np.isfinite(d), d, np.inf)
        g = self.to_ground(img)
        dm = np.linalg.norm(g - np.asarray(ground_points, dtype=np.float64).reshape(-1, 2), axis=1)
        dm = np.where(np.isfinite(dm), dm, np.inf)
        return Reprojection(float(np.sqrt(np.mean(d**2))), float(d.max()), int(d.argmax()), float(dm.max()))

    def metres_per_pixel(self, x: float, y: float) -> tuple[float, float] | None:
        """Ground metres covered by one pixel at (x, y): (across = one pixel right, along = one pixel up)."""
        g = self.to_ground([[x, y], [x + 1.0, y], [x, y - 1.0]])
        if not np.all(np.isfinite(g)):
            return None
        return float(np.linalg.norm(g[1] - g[0])), float(np.linalg.norm(g[2] - g[0]))

    def horizon_y(self, width: float) -> float | None:
        """Image row of the horizon (where the ground recedes to infinity) at the frame's centre column, if any."""
        a, b, c = self.h[2]  # w = a*x + b*y + c vanishes on the horizon line
        if abs(b) < 1e-15:
            return None
        return float(-(a * width / 2.0 + c) / b)


@dataclass(frozen=True)
class Reprojection:
    rms_px: float  # root mean square distance of ground points mapped back into the image
    max_px: float
    worst: int  # index of the worst point
    max_m: float  # largest distance of an image point mapped onto the ground from its stated position


@dataclass(frozen=True)
class CameraView:
    """What a track knows of its camera beyond pixels: the frame size and, when calibrated, the road plane."""

    frame_size: tuple[int, int]
    homography: Homography | None = None


def box_scale_ground(ground: tuple[float, float], box_height: float, frame_size: tuple[int, int] | None) -> np.ndarray:
    """Where a vehicle is on the road, up to an unknown affine map, from its ground point and box size.

    Without calibration the vehicle is its own ruler: its box height ``s`` shrinks as 1/depth, so
    ((x - cx) / s, (y - cy) / s, f / s) is an affine image of its position on the road (the camera's
    homography has depth as its w). Parallel travel stays parallel under an affine map, so a reversal
    of direction reads as 180 degrees here wherever the vehicle is in the frame, while in the image
    the two directions of a road converge toward the vanishing point. Units are box heights (about
    1.5 to 2.5 m); ``f`` is taken as the frame width (a 53 degree lens), which only sets how depth
    is weighed against the other axes.
    """
    w, h = frame_size if frame_size is not None else (1000, 0)
    s = max(float(box_height), 1.0)
    return np.array([(ground[0] - w / 2.0) / s, (ground[1] - h / 2.0) / s, float(w) / s])
