"""Directional lanes: parts of a zone with a direction of travel.

A lane is drawn in the image as a polygon and a centre line in the direction of travel. A vehicle's
travel is compared with the lane's direction at the vehicle's own position, on the road in metres
when calibrated and on the box-scaled plane otherwise (``pipelines.rules.motion.Path.lane_angle``). A U-turn can be judged by lanes (entered in a lane of one
direction, left in a lane of the opposite one) and wrong-way driving is travel against the lane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.geometry import Polygon, angle_diff, polyline_heading_at


@dataclass(frozen=True)
class Lane:
    lane_id: str
    polygon: Polygon  # image pixels
    direction: np.ndarray  # (N, 2) image pixels, centre line in the direction of travel
    ground_direction: np.ndarray | None = None  # the same line on the road in metres, when calibrated

    def contains(self, x: float, y: float) -> bool:
        return self.polygon.contains_point(x, y)

    def flow(self, x: float, y: float) -> float:
        """Direction of travel (image heading, degrees) at image point (x, y)."""
        return polyline_heading_at(self.direction, x, y)

    def flow_m(self, gx: float, gy: float) -> float | None:
        """Direction of travel on the road (ground heading, degrees) at (gx, gy) metres; None uncalibrated."""
        return None if self.ground_direction is None else polyline_heading_at(self.ground_direction, gx, gy)


def lane_at(lanes: tuple[Lane, ...], x: float, y: float) -> Lane | None:
    """The lane whose polygon holds image point (x, y) (the first listed, where lanes overlap)."""
    return next((lane for lane in lanes if lane.contains(x, y)), None)


def opposite(a: Lane, b: Lane, min_deg: float) -> bool:
    """Whether two lanes run in opposite directions: their directions, compared where the lanes are
    closest (on the road in metres when calibrated), differ by at least ``min_deg``."""
    if a.ground_direction is not None and b.ground_direction is not None:
        pa, pb = _closest(a.ground_direction, b.ground_direction)
        return abs(angle_diff(a.flow_m(*pa), b.flow_m(*pb))) >= min_deg  # type: ignore[arg-type]
    pa, pb = _closest(a.direction, b.direction)
    return abs(angle_diff(a.flow(*pa), b.flow(*pb))) >= min_deg


def _closest(p: np.ndarray, q: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """The vertices of two polylines nearest to each other."""
    d = np.linalg.norm(p[:, None, :] - q[None, :, :], axis=2)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return (float(p[i, 0]), float(p[i, 1])), (float(q[j, 0]), float(q[j, 1]))
