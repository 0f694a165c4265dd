"""How a track moved, on the plane the rules measure in: the road in metres, or the box-scaled plane.

With calibration a track's points carry road positions and headings in metres. Without it, the
vehicle's box is the ruler (``vision.calibration.box_scale_ground``): an affine image of the road
in box heights, where opposite directions of travel stay opposite anywhere in the frame. Either way
a rule gets a ``Path`` of ``Step``s with a position and, while moving, a unit direction of travel.

A vehicle can travel backwards. ``bodies`` turns directions of travel into the way the vehicle
faces: where the travel direction flips (more than ``FLIP_DEG`` between two moving steps, which a
turning car cannot do in one step), the vehicle has stopped and changed gear. A three-point
turnaround then faces the other way at its end, while backing into a space does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipelines.rules.lanes import Lane
from vision.calibration import box_scale_ground
from vision.track_history import TrackHistory, TrackPoint

FLIP_DEG = 120.0
MIN_STEP_M = 0.3  # a direction needs this much travel over the window, in metres ...
MIN_STEP_BOX = 0.25  # ... or in box heights; below it, the plane's noise (box-size jitter) would point anywhere


@dataclass(frozen=True)
class Step:
    point: TrackPoint
    pos: np.ndarray  # on the plane: metres, or box heights
    direction: np.ndarray | None  # unit direction of travel on the plane; None while (nearly) still


@dataclass(frozen=True)
class Path:
    steps: list[Step]
    metric: bool  # True: metres on the calibrated road; False: the box-scaled plane (box heights)
    frame: tuple[int, int] | None = None
    size: tuple[float, float] = (0.0, 1.0)  # box-scaled plane: box height = size[0] * y + size[1] (see size_model)

    @property
    def moving(self) -> list[Step]:
        return [s for s in self.steps if s.direction is not None]

    def travel(self, a: Step, b: Step) -> float:
        return float(np.linalg.norm(b.pos - a.pos))

    def place(self, x: float, y: float) -> np.ndarray:
        """An image point on the box-scaled plane, with the box height the track's size model gives there."""
        return box_scale_ground((x, y), max(self.size[0] * y + self.size[1], 1.0), self.frame)

    def lane_angle(self, step: Step, lane: Lane) -> float | None:
        """Angle (0..180) between the step's travel and the lane's direction where the step is, on this plane.

        Compared on the road (metres) or the box-scaled plane, not in the image: in the image
        opposite stays opposite but square does not, and a car crossing the lanes of a road that
        recedes from the camera moves nearly against their drawn direction there.
        """
        p = step.point
        if step.direction is None:
            return None
        if self.metric:
            flow = lane.flow_m(*p.ground_m)  # type: ignore[misc]
            if flow is None:
                return None
            r = math.radians(flow)
            return angle_between(step.direction, np.array([math.cos(r), math.sin(r)]))
        r = math.radians(lane.flow(*p.ground))
        ahead = (p.ground[0] + 4.0 * math.cos(r), p.ground[1] + 4.0 * math.sin(r))
        flow_vec = _unit(self.place(*ahead) - self.place(*p.ground))
        return None if flow_vec is None else angle_between(step.direction, flow_vec)


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else None


def plane_path(points: list[TrackPoint], history: TrackHistory, window_s: float = 0.6) -> Path:
    """The points on the road in metres when the track is calibrated, else on the box-scaled plane.

    A step moves when the history says so (its heading, judged in pixels where detector jitter
    lives) and it travelled ``MIN_STEP_M`` / ``MIN_STEP_BOX`` on the plane over ``window_s``; the
    direction is measured on the plane over that window.
    """
    metric = bool(points) and history.homography is not None and all(p.ground_m is not None for p in points)
    frame = history.view.frame_size if history.view is not None else None
    size = size_model(points)
    path = Path([], metric, frame, size)
    if metric:
        pos = [np.asarray(p.ground_m, dtype=np.float64) for p in points]
    else:
        pos = [path.place(*p.ground) for p in points]
    min_step = MIN_STEP_M if metric else MIN_STEP_BOX
    j = 0
    for i, p in enumerate(points):
        while j + 1 < i and p.t - points[j + 1].t >= window_s:
            j += 1
        d = pos[i] - pos[j]
        moved = p.heading is not None and j < i and float(np.linalg.norm(d)) >= min_step
        path.steps.append(Step(p, pos[i], _unit(d) if moved else None))
    return path


def size_model(points: list[TrackPoint]) -> tuple[float, float]:
    """The track's box height as a line over the image rows, h = a * y + b (least squares).

    Seen by a level camera, a vehicle's image size grows linearly with its row's distance below
    the horizon (the road's depth depends on the row alone), so this fit is the box height the
    vehicle's place in the image calls for: free of the detector's frame-to-frame jitter and of
    the swelling of a box as the vehicle turns side-on, so the box-scaled plane built on it is
    steady even at walking pace. With no spread of rows, the mean height.
    """
    if not points:
        return 0.0, 1.0
    heights = np.array([p.box[3] - p.box[1] for p in points], dtype=np.float64)
    rows = np.array([p.ground[1] for p in points], dtype=np.float64)
    if len(points) < 3 or np.ptp(rows) < 4.0:
        return 0.0, float(heights.mean())
    a, b = np.polyfit(rows, heights, 1)
    if np.any(a * rows + b < 0.5 * heights.min()):  # a nonsense line (a bad track): fall back to the mean
        return 0.0, float(heights.mean())
    return float(a), float(b)


def bodies(directions: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Which way the vehicle faces at each moving step, and how many times it changed gear.

    The first step is taken as driving forwards (vehicles come into view driving).
    """
    out: list[np.ndarray] = []
    gear, flips, prev = 1.0, 0, None
    cos_flip = math.cos(math.radians(FLIP_DEG))
    for d in directions:
        if prev is not None and float(np.dot(prev, d)) < cos_flip:
            gear, flips = -gear, flips + 1
        prev = d
        out.append(gear * d)
    return out, flips


def mean_direction(vectors: list[np.ndarray]) -> np.ndarray | None:
    return _unit(np.sum(vectors, axis=0)) if vectors else None


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """Unsigned angle between two unit vectors, degrees (0..180)."""
    return math.degrees(math.acos(float(np.clip(np.dot(a, b), -1.0, 1.0))))
