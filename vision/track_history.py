"""What a track remembers about itself: a bounded trajectory the rules read.

Two bounded deques: ``points`` holds every detection-frame update of the recent past (for turns
and rider votes), ``trail`` holds one point per engine "trail tick" (about one a second) over a
long span (for parking dwell, which can last many minutes). Both have a ``maxlen``, so a track
that lives for hours costs the same memory as one that lives for a minute.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass

from vision.geometry import heading_deg
from vision.riders import RiderObservation


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
        self._ground: tuple[float, float] | None = None
        # recent smoothed ground points for heading (t, x, y), short and bounded
        self._recent: deque[tuple[float, float, float]] = deque(maxlen=64)

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
        self._recent.append((t, ground[0], ground[1]))
        heading, speed = self._heading_speed(t, ground)
        if detected and class_name:
            self.class_votes[class_name] += 1
            self.hits += 1
        point = TrackPoint(seq, t, wall, (x1, y1, x2, y2), ground, heading, speed, detected, float(confidence))
        self.points.append(point)
        if trail_tick or not self.trail:
            self.trail.append(point)
        return point

    def _heading_speed(self, t: float, ground: tuple[float, float]) -> tuple[float | None, float]:
        ref = None
        for rt, rx, ry in reversed(self._recent):
            if t - rt >= self._heading_window_s:
                ref = (rt, rx, ry)
                break
        if ref is None:
            ref = self._recent[0]
        dt = t - ref[0]
        if dt <= 0:
            return None, 0.0
        dx, dy = ground[0] - ref[1], ground[1] - ref[2]
        dist = math.hypot(dx, dy)
        speed = dist / dt
        heading = heading_deg(dx, dy) if dist >= self._min_move_px else None
        return heading, speed

    def add_riders(self, obs: RiderObservation) -> None:
        self.riders.append(obs)
        if obs.heads_checked:
            self.looks.append(obs)
            self.looks.sort(key=lambda o: (-o.quality, -o.seq))  # equal quality: the latest first
            del self.looks[self._max_looks :]

    def detected_points(self) -> list[TrackPoint]:
        return [p for p in self.points if p.detected]
