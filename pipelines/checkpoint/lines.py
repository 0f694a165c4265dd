"""Capture-line geometry: did a vehicle's ground point cross the line, and in the direction that counts?

Pure functions of two consecutive ground points (image pixels, y down), tested on synthetic tracks.
A crossing is counted when the point moves from strictly one side of the line's infinite extension
to the other (or onto it), the crossing point lies on the drawn segment, and the move's component
across the line points the way of the line's ``travel``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.checkpoint.config import TRAVEL_NAMES, TRAVEL_VECTORS, CaptureLineConfig

Point = tuple[float, float]


@dataclass(frozen=True)
class CaptureLine:
    line_id: str
    a: Point
    b: Point
    travel: str  # down | up | left | right | any
    direction: str  # label on the record
    lane: str

    @classmethod
    def of(cls, cfg: CaptureLineConfig, camera_direction: str = "", camera_lane: str | None = None) -> "CaptureLine":
        label = cfg.direction or camera_direction or TRAVEL_NAMES[cfg.travel]
        return cls(cfg.id, cfg.points[0], cfg.points[1], cfg.travel, label, cfg.lane if cfg.lane is not None else camera_lane or "")

    def side(self, p: Point) -> float:
        """> 0 on one side, < 0 on the other, 0 on the line (cross product of a->b and a->p)."""
        (ax, ay), (bx, by) = self.a, self.b
        return (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)

    def _wanted_sign(self) -> int | None:
        """The side a counted vehicle ends on: the sign of the travel vector's side (None: either)."""
        if self.travel == "any":
            return None
        tx, ty = TRAVEL_VECTORS[self.travel]
        (ax, ay), (bx, by) = self.a, self.b
        return 1 if (bx - ax) * ty - (by - ay) * tx > 0 else -1

    def crossing(self, p0: Point, p1: Point) -> float | None:
        """Where along p0 -> p1 (0..1) the move crosses the segment the counted way; None if it does not."""
        s0, s1 = self.side(p0), self.side(p1)
        if s0 < 0 <= s1:
            sign = 1
        elif s0 > 0 >= s1:
            sign = -1
        else:
            return None
        wanted = self._wanted_sign()
        if wanted is not None and sign != wanted:
            return None
        u = s0 / (s0 - s1)
        x, y = p0[0] + u * (p1[0] - p0[0]), p0[1] + u * (p1[1] - p0[1])
        (ax, ay), (bx, by) = self.a, self.b
        dx, dy = bx - ax, by - ay
        v = ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)
        return u if 0.0 <= v <= 1.0 else None
