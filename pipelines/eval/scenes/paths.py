"""Scripted vehicle paths with known ground truth: where a vehicle is, and which way it faces, at any time.

A path is built like driving: straight lines, arcs, waits, reversing and hidden stretches, at given
speeds. Units are whatever the caller uses: image pixels for flat scenes, metres on the road for
scenes seen through a ``PinholeCamera``. A vehicle's body heading is kept apart from its direction
of travel, because a reversing car travels against the way it faces.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from vision.geometry import angle_diff


@dataclass
class Route:
    """Keys (t, x, y, visible, body heading) interpolated linearly; hidden between a key and one marked not visible."""

    keys: list[tuple[float, float, float, bool, float]]

    @property
    def duration(self) -> float:
        return self.keys[-1][0]

    def _segment(self, t: float):
        if t < self.keys[0][0] or t > self.keys[-1][0]:
            return None
        for a, b in zip(self.keys, self.keys[1:]):
            if a[0] <= t <= b[0]:
                if not b[3] and a[0] < t < b[0]:
                    return None
                return a, b, (0.0 if b[0] == a[0] else (t - a[0]) / (b[0] - a[0]))
        return (self.keys[0], self.keys[0], 0.0) if len(self.keys) == 1 else None

    def at(self, t: float) -> tuple[float, float] | None:
        """Position at ``t``; None before the start, after the end, or while hidden (occlusion)."""
        pose = self.pose(t)
        return None if pose is None else (pose[0], pose[1])

    def pose(self, t: float) -> tuple[float, float, float] | None:
        """(x, y, body heading in degrees) at ``t``, or None when not visible."""
        seg = self._segment(t)
        if seg is None:
            return None
        a, b, f = seg
        heading = a[4] + f * angle_diff(a[4], b[4])
        return a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]), heading % 360.0

    def speed(self, t: float) -> float:
        """Speed along the path at ``t`` (units per second; 0 while waiting)."""
        seg = self._segment(t)
        if seg is None:
            return 0.0
        a, b, _ = seg
        return math.hypot(b[1] - a[1], b[2] - a[2]) / (b[0] - a[0]) if b[0] > a[0] else 0.0


class PathBuilder:
    """Drive a path: straight lines, arcs, waits, reversing and hidden stretches, at given speeds."""

    def __init__(self, start: tuple[float, float], heading: float = 180.0, t0: float = 0.0) -> None:
        self.x, self.y = start
        self.body = heading % 360.0  # which way the vehicle faces
        self.t = t0
        self.keys: list[tuple[float, float, float, bool, float]] = [(t0, self.x, self.y, True, self.body)]

    @property
    def heading(self) -> float:
        return self.body

    def _go(self, x: float, y: float, dt: float, visible: bool = True) -> None:
        self.t += dt
        self.x, self.y = x, y
        self.keys.append((self.t, x, y, visible, self.body))

    def line_to(self, x: float, y: float, speed: float) -> "PathBuilder":
        d = math.hypot(x - self.x, y - self.y)
        if d > 0:
            self.body = math.degrees(math.atan2(y - self.y, x - self.x)) % 360
        self._go(x, y, d / speed)
        return self

    def reverse_to(self, x: float, y: float, speed: float) -> "PathBuilder":
        """Back up in a straight line to (x, y): the vehicle faces away from where it goes."""
        d = math.hypot(x - self.x, y - self.y)
        if d > 0:
            self.body = (math.degrees(math.atan2(y - self.y, x - self.x)) + 180.0) % 360
        self._go(x, y, d / speed)
        return self

    def forward(self, distance: float, speed: float) -> "PathBuilder":
        h = math.radians(self.body)
        return self.line_to(self.x + distance * math.cos(h), self.y + distance * math.sin(h), speed)

    def backward(self, distance: float, speed: float) -> "PathBuilder":
        h = math.radians(self.body)
        return self.reverse_to(self.x - distance * math.cos(h), self.y - distance * math.sin(h), speed)

    def arc(self, sweep_deg: float, radius: float, speed: float, steps: int = 24, reverse: bool = False) -> "PathBuilder":
        """Turn the body by ``sweep_deg`` (positive = heading increases) on a circle of ``radius``.

        Forward, the vehicle travels along its heading; in ``reverse`` it travels backwards along
        the same kind of circle, its body turning by ``sweep_deg`` as it goes.
        """
        travel = self.body + (180.0 if reverse else 0.0)
        sign = 1.0 if sweep_deg > 0 else -1.0
        h = math.radians(travel)
        cx = self.x + radius * math.cos(h + sign * math.pi / 2)
        cy = self.y + radius * math.sin(h + sign * math.pi / 2)
        a0 = math.atan2(self.y - cy, self.x - cx)
        step_len = abs(math.radians(sweep_deg)) * radius / steps
        body0 = self.body
        for i in range(1, steps + 1):
            self.body = (body0 + sweep_deg * i / steps) % 360
            a = a0 + math.radians(sweep_deg) * i / steps
            self._go(cx + radius * math.cos(a), cy + radius * math.sin(a), step_len / speed)
        return self

    def wait(self, seconds: float) -> "PathBuilder":
        self._go(self.x, self.y, seconds)
        return self

    def hidden(self, seconds: float, to: tuple[float, float] | None = None) -> "PathBuilder":
        """Unseen for ``seconds`` (occlusion or leaving view), optionally reappearing elsewhere."""
        x, y = to if to is not None else (self.x, self.y)
        self._go(x, y, seconds, visible=False)
        return self

    def face(self, heading: float) -> "PathBuilder":
        self.body = heading % 360
        self.keys[-1] = (*self.keys[-1][:4], self.body)
        return self

    def build(self) -> Route:
        return Route(list(self.keys))


Box = tuple[float, float, float, float]


class Mover(Protocol):
    """Anything a scene can show: a box at time t (None when unseen)."""

    path: Route
    class_name: str

    def box_at(self, t: float, rng: random.Random | None = None) -> Box | None: ...


def _jittered(box: Box, rng: random.Random | None, jitter: float) -> Box:
    if not (rng and jitter):
        return box
    return tuple(v + rng.uniform(-jitter, jitter) for v in box)  # type: ignore[return-value]


def observations(mover: Mover, fps: float = 5.0) -> list[tuple[float, Box]]:
    """The mover's boxes sampled at ``fps`` from the start of its path (unseen times left out)."""
    rng = random.Random(getattr(mover, "seed", 0))
    out = []
    n = int(mover.path.duration * fps) + 1
    for i in range(n):
        t = mover.path.keys[0][0] + i / fps
        box = mover.box_at(t, rng)
        if box is not None:
            out.append((t, box))
    return out


@dataclass
class Vehicle:
    """A flat-scene vehicle: a path in image pixels and a fixed box size (w, h)."""

    path: Route
    size: tuple[float, float] = (70.0, 45.0)
    class_name: str = "car"
    jitter_px: float = 0.0
    seed: int = 0

    def box_at(self, t: float, rng: random.Random | None = None) -> Box | None:
        p = self.path.at(t)
        if p is None:
            return None
        x, y = p
        w, h = self.size
        return _jittered((x - w / 2, y - h, x + w / 2, y), rng, self.jitter_px)

    def observations(self, fps: float = 5.0) -> list[tuple[float, Box]]:
        return observations(self, fps)
