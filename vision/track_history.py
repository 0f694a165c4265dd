"""What a track remembers about itself: a bounded trajectory the rules read.

Two bounded deques: ``points`` holds every detection-frame update of the recent past (for turns
and rider votes), ``trail`` holds one point per engine "trail tick" (about one a second) over a
long span (for parking dwell, which can last many minutes). Both have a ``maxlen``, so a track
that lives for hours costs the same memory as one that lives for a minute.

When the camera is calibrated (its ``CameraView`` has a ``Homography``), every point also carries where the vehicle is on
the road in metres, which way it travels there and how fast, so rules can measure in metres
instead of pixels that shrink with distance.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from vision.calibration import CameraView, Homography
from vision.geometry import heading_deg
from vision.riders import RiderObservation

SPEED_FIT_S = 1.0  # road speed is fitted over this long


@dataclass(frozen=True, slots=True)
class TrackPoint:
    seq: int  # frame sequence number (ring-buffer key)
    t: float  # seconds on the source clock (Frame.pts)
    wall: float  # epoch seconds, evidence clock (Frame.wall_time)
    box: tuple[float, float, float, float]  # xyxy frame pixels (Kalman-filtered when detected)
    ground: tuple[float, float]  # smoothed bottom-centre: where the vehicle touches the road
    heading: float | None  # degrees, 0 = right, 90 = down; None while (nearly) still
    speed: float  # smoothed ground speed, pixels per second
    detected: bool  # True when a detection was matched at this frame (False: predicted)
    confidence: float
    # on the road plane, when the camera is calibrated (else None): metres, degrees, metres per second
    ground_m: tuple[float, float] | None = None
    heading_m: float | None = None  # None while (nearly) still, as ``heading``
    speed_m: float | None = None
    edge: bool = False  # the box touches the frame's edge: cut off, so its ground point and heading are not to be trusted


class TrackHistory:
    """Bounded trajectory of one track plus the per-frame rider observations made on it."""

    def __init__(
        self,
        track_id: int,
        max_points: int = 300,
        max_trail: int = 1800,
        max_riders: int = 64,
        max_looks: int = 8,
        smoothing_s: float = 0.3,
        heading_window_s: float = 0.6,
        min_move_px: float = 4.0,
        view: CameraView | None = None,
    ) -> None:
        self.track_id = track_id
        self.points: deque[TrackPoint] = deque(maxlen=max_points)
        self.trail: deque[TrackPoint] = deque(maxlen=max_trail)
        self.riders: deque[RiderObservation] = deque(maxlen=max_riders)
        # the best few looks of the helmet model at the riders (largest, sharpest heads), best first:
        # heads grow as a two-wheeler approaches, so the best looks are rarely the last ones
        self.looks: list[RiderObservation] = []
        self._max_looks = max_looks
        self.class_votes: Counter[str] = Counter()
        self.hits = 0
        self._smoothing_s = smoothing_s
        self._heading_window_s = heading_window_s
        self._min_move_px = min_move_px
        self.view = view
        self.homography: Homography | None = view.homography if view is not None else None
        self._ground: tuple[float, float] | None = None
        # recent smoothed ground points for heading (t, x, y, metres or None), short and bounded
        self._recent: deque[tuple[float, float, float, tuple[float, float] | None]] = deque(maxlen=64)
        self._raw_m: deque[tuple[float, float, float]] = deque(maxlen=64)  # (t, X, Y) unsmoothed, metres

    @property
    def class_name(self) -> str:
        return self.class_votes.most_common(1)[0][0] if self.class_votes else "unknown"

    @property
    def last(self) -> TrackPoint | None:
        return self.points[-1] if self.points else None

    def add(
        self,
        seq: int,
        t: float,
        wall: float,
        box,
        detected: bool,
        confidence: float,
        class_name: str | None = None,
        trail_tick: bool = False,
    ) -> TrackPoint:
        """Record one update; smoothing and heading are time-based so they hold at any detect fps."""
        x1, y1, x2, y2 = (float(v) for v in box)
        raw = ((x1 + x2) / 2.0, y2)
        prev_t = self.points[-1].t if self.points else None
        if self._ground is None or prev_t is None:
            ground = raw
        else:
            dt = max(t - prev_t, 1e-3)
            a = 1.0 - math.exp(-dt / self._smoothing_s) if self._smoothing_s > 0 else 1.0
            ground = (self._ground[0] + a * (raw[0] - self._ground[0]), self._ground[1] + a * (raw[1] - self._ground[1]))
        self._ground = ground
        metres = self.homography.ground_point(*ground) if self.homography is not None else None
        self._recent.append((t, ground[0], ground[1], metres))
        heading, speed, heading_m, speed_m = self._heading_speed(t, ground, metres)
        if self.homography is not None:
            raw_m = self.homography.ground_point(*raw)
            if raw_m is not None:
                self._raw_m.append((t, raw_m[0], raw_m[1]))
            if speed_m is not None:
                speed_m = self._fitted_speed_m(t, speed_m)
        edge = self._at_edge(x1, y1, x2, y2)
        if edge:  # a box cut by the frame edge shrinks toward the inside: its motion is not the vehicle's
            heading, heading_m = None, None
        if detected and class_name:
            self.class_votes[class_name] += 1
            self.hits += 1
        point = TrackPoint(
            seq, t, wall, (x1, y1, x2, y2), ground, heading, speed, detected, float(confidence), metres, heading_m, speed_m, edge
        )
        self.points.append(point)
        if trail_tick or not self.trail:
            self.trail.append(point)
        return point

    def _heading_speed(
        self, t: float, ground: tuple[float, float], metres: tuple[float, float] | None
    ) -> tuple[float | None, float, float | None, float | None]:
        """Heading and speed over the last ``heading_window_s``, in pixels and (when calibrated) metres.

        Whether the vehicle moves at all is judged in pixels, where detector jitter lives, so a
        far parked car whose box jitters by a few pixels (metres on the road) has no heading.
        """
        ref = None
        for r in reversed(self._recent):
            if t - r[0] >= self._heading_window_s:
                ref = r
                break
        if ref is None:
            ref = self._recent[0]
        dt = t - ref[0]
        if dt <= 0:
            return None, 0.0, None, (0.0 if metres is not None else None)
        dx, dy = ground[0] - ref[1], ground[1] - ref[2]
        dist = math.hypot(dx, dy)
        moving = dist >= self._min_move_px
        heading = heading_deg(dx, dy) if moving else None
        if metres is None or ref[3] is None:
            return heading, dist / dt, None, None
        mx, my = metres[0] - ref[3][0], metres[1] - ref[3][1]
        return heading, dist / dt, (heading_deg(mx, my) if moving else None), math.hypot(mx, my) / dt

    def _fitted_speed_m(self, t: float, fallback: float) -> float:
        """Road speed as the slope of a straight-line fit to the unsmoothed positions of the last
        ``SPEED_FIT_S`` (at least three): unlike the smoothed point, which starts at rest and lags
        for a few tenths of a second, it is right from a track's first second."""
        pts = [r for r in self._raw_m if t - r[0] <= SPEED_FIT_S + 1e-6]
        if len(pts) < 3 or pts[-1][0] - pts[0][0] < 0.3:
            return fallback
        a = np.asarray(pts, dtype=np.float64)
        tt = a[:, 0] - a[:, 0].mean()
        denom = float(np.dot(tt, tt))
        vx = float(np.dot(tt, a[:, 1] - a[:, 1].mean())) / denom
        vy = float(np.dot(tt, a[:, 2] - a[:, 2].mean())) / denom
        return math.hypot(vx, vy)

    def _at_edge(self, x1: float, y1: float, x2: float, y2: float, margin: float = 2.0) -> bool:
        if self.view is None:
            return False
        w, h = self.view.frame_size
        return x1 <= margin or y1 <= margin or x2 >= w - margin or y2 >= h - margin

    def add_riders(self, obs: RiderObservation) -> None:
        self.riders.append(obs)
        if obs.heads_checked:
            self.looks.append(obs)
            self.looks.sort(key=lambda o: (-o.quality, -o.seq))  # equal quality: the latest first
            del self.looks[self._max_looks :]

    def detected_points(self) -> list[TrackPoint]:
        return [p for p in self.points if p.detected]
