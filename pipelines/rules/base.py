"""Types every rule shares: zones with time windows, the rule decision, its key-frame references,
and ``RuleSpec``, the registry entry that describes a rule to the rest of the system.

A rule returns a ``Decision`` (plain facts about one track); the engine turns it into an
``evidence.event.ViolationEvent`` by adding the site, camera and plate. Keeping the decision free
of site/camera identity is what lets rules be pure functions tested on synthetic trajectories.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from evidence.config import ViolationCode
from evidence.event import Box, KeyFrame, PlateFacts, ViolationEvent
from models.domain import VEHICLE_CLASSES
from models.strict import StrictModel
from pipelines.rules.lanes import Lane
from vision.geometry import Polygon
from vision.track_history import TrackHistory, TrackPoint


class TimeWindow(StrictModel):
    """A daily time-of-day window in the site's timezone; ``end`` <= ``start`` crosses midnight.

    ``days`` restricts the window to weekdays on which it STARTS (0 = Monday ... 6 = Sunday).
    """

    start: time
    end: time
    days: list[int] | None = Field(None, description="weekdays the window starts on, 0=Mon..6=Sun; None = every day")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 22:00 as the base-60 number 1320
            raise ValueError("write times as quoted strings, e.g. '22:00' (unquoted 22:00 is a number in YAML)")
        return value

    @model_validator(mode="after")
    def _check(self) -> "TimeWindow":
        if self.days is not None and any(d < 0 or d > 6 for d in self.days):
            raise ValueError("days must be weekday numbers 0 (Monday) .. 6 (Sunday)")
        if self.start == self.end:
            raise ValueError("start and end are equal: an empty (or 24 h) window is ambiguous; omit the window")
        return self

    def _spans(self, local: datetime) -> list[tuple[datetime, datetime]]:
        """Occurrences that could contain or precede ``local`` (this window starting in the last 8 days)."""
        out = []
        tz = local.tzinfo
        for back in range(0, 9):
            d: date = local.date() - timedelta(days=back)
            if self.days is not None and d.weekday() not in self.days:
                continue
            s = datetime.combine(d, self.start, tzinfo=tz)
            e_day = d if self.end > self.start else d + timedelta(days=1)
            e = datetime.combine(e_day, self.end, tzinfo=tz)
            out.append((s, e))
        return out

    def contains(self, local: datetime) -> bool:
        return any(s <= local < e for s, e in self._spans(local))

    def last_end(self, local: datetime) -> datetime | None:
        """End of the latest occurrence that ended at or before ``local``."""
        ends = [e for _, e in self._spans(local) if e <= local]
        return max(ends) if ends else None


@dataclass(frozen=True)
class Zone:
    """A zone as the rules see it: polygon, kind, and when the restricted act is allowed anyway."""

    zone_id: str
    kind: str  # one of the registry's zone kinds (pipelines.rules.registry.ZONE_KINDS)
    polygon: Polygon
    allowed: tuple[TimeWindow, ...] = ()
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    lanes: tuple[Lane, ...] = ()  # directional lanes inside the zone (pipelines.rules.lanes)

    def contains(self, x: float, y: float) -> bool:
        return self.polygon.contains_point(x, y)

    def _local(self, wall: float) -> datetime:
        return datetime.fromtimestamp(wall, tz=timezone.utc).astimezone(self.tz)

    def allowed_at(self, wall: float) -> bool:
        local = self._local(wall)
        return any(w.contains(local) for w in self.allowed)

    def enforced_since(self, wall: float) -> float | None:
        """Epoch seconds since which the zone has been enforced without a break, as of ``wall``.

        None when it is not enforced right now; -inf when no allowed window ever interrupts it.
        """
        if not self.allowed:
            return float("-inf")
        local = self._local(wall)
        if any(w.contains(local) for w in self.allowed):
            return None
        ends = [e for w in self.allowed if (e := w.last_end(local)) is not None]
        return max(ends).timestamp() if ends else float("-inf")


@dataclass(frozen=True, slots=True)
class KeyFrameRef:
    seq: int
    wall: float
    role: str
    box: tuple[float, float, float, float]

    @classmethod
    def at(cls, point: TrackPoint, role: str) -> "KeyFrameRef":
        return cls(point.seq, point.wall, role, point.box)


@dataclass(frozen=True)
class Decision:
    """What a rule concluded about one track: the span, the frames that show it, the facts."""

    rule: str
    track_id: int
    vehicle_class: str
    start: TrackPoint
    end: TrackPoint
    key_frames: tuple[KeyFrameRef, ...]
    facts: dict[str, float | int | str | bool | list[float] | list[int] | list[str]]
    path: tuple[tuple[float, float], ...] = ()  # the vehicle's ground point over the event, image pixels (for the overlay)

    @classmethod
    def of(cls, rule: str, history: TrackHistory, start: TrackPoint, end: TrackPoint, key_frames: Sequence[KeyFrameRef],
           facts: dict[str, Any], path: Sequence[tuple[float, float]] = ()) -> "Decision":
        """A decision about the track of ``history`` (its id and class), from ``start`` to ``end``.

        When the camera is calibrated the facts gain the speed (km/h, median over the event) and
        the distance travelled (metres). ``path`` is drawn on the composite (at most ``PATH_POINTS``).
        """
        facts = {**facts, **motion_facts(history, start.t, end.t)}
        return cls(rule, history.track_id, history.class_name, start, end, tuple(key_frames), facts, thin_path(path))

    def to_event(
        self,
        site_id: str,
        camera_id: str,
        plate: PlateFacts | None = None,
        model_versions: dict[str, str] | None = None,
        source: str = "",
    ) -> ViolationEvent:
        def when(wall: float) -> datetime:
            return datetime.fromtimestamp(wall, tz=timezone.utc)

        return ViolationEvent(
            site_id=site_id,
            camera_id=camera_id,
            rule=self.rule,
            track_id=self.track_id,
            start_time=when(self.start.wall),
            end_time=when(self.end.wall),
            vehicle_class=self.vehicle_class,
            key_frames=[
                KeyFrame(seq=k.seq, wall_time=when(k.wall), role=k.role, box=Box(x1=k.box[0], y1=k.box[1], x2=k.box[2], y2=k.box[3]))
                for k in self.key_frames
            ],
            facts=dict(self.facts),
            path=[(round(x, 1), round(y, 1)) for x, y in self.path],
            plate=plate,
            model_versions=dict(model_versions or {}),
            source=source,
        )


PATH_POINTS = 64


def thin_path(path: Sequence[tuple[float, float]], most: int = PATH_POINTS) -> tuple[tuple[float, float], ...]:
    """At most ``most`` points of ``path``, evenly spaced in order, first and last kept."""
    pts = [(float(x), float(y)) for x, y in path]
    if len(pts) <= most:
        return tuple(pts)
    return tuple(pts[round(i * (len(pts) - 1) / (most - 1))] for i in range(most))


def motion_facts(history: TrackHistory, t0: float, t1: float) -> dict[str, float]:
    """Speed (km/h, median) and distance (m) on the road between t0 and t1; empty when not calibrated."""
    pts = [p for p in history.points if t0 <= p.t <= t1 and p.detected and p.ground_m is not None]
    speeds = sorted(p.speed_m for p in pts if p.speed_m is not None)
    if len(pts) < 2 or not speeds:
        return {}
    # steps while moving only: a parked car's jitter is no distance
    distance = sum(math.dist(a.ground_m, b.ground_m) for a, b in zip(pts, pts[1:]) if b.heading_m is not None)  # type: ignore[arg-type]
    return {"speed_kmh": round(3.6 * statistics.median(speeds), 1), "distance_m": round(distance, 1)}


class RuleConfig(StrictModel):
    """Common to every rule section."""

    enabled: bool = Field(True, description="run this rule on every camera of the site")


class VehicleRuleConfig(RuleConfig):
    """A rule about how vehicles move or stand; bicycles are left out (no plate to fine)."""

    classes: list[str] = Field(
        default_factory=lambda: sorted(VEHICLE_CLASSES - {"bicycle"}), description="vehicle classes checked"
    )


def point_at(history: TrackHistory, seq: int) -> TrackPoint | None:
    """The history point recorded at frame ``seq`` (None when it has scrolled out)."""
    for p in reversed(history.points):
        if p.seq == seq:
            return p
        if p.seq < seq:
            break
    return None


def rider_decision(
    rule: str, history: TrackHistory, shown: Sequence[Any], first_seq: int, last_seq: int, facts: dict[str, Any]
) -> Decision:
    """Decision of a rider rule (helmet, passengers): key frames at the ``shown`` observations in time
    order, span from the first to the last offending observation."""
    points = (point_at(history, o.seq) for o in sorted(shown, key=lambda o: o.seq))
    key_frames = [KeyFrameRef.at(p, "violation") for p in points if p is not None]
    start = point_at(history, first_seq) or history.points[0]
    end = point_at(history, last_seq) or history.points[-1]
    return Decision.of(rule, history, start, end, key_frames or [KeyFrameRef.at(end, "violation")], facts)



Evaluate = Callable[[TrackHistory, Sequence[Zone], Any], "Decision | None"]


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the registry lists it (see pipelines.rules.registry).

    ``evaluate(history, zones, cfg)`` is pure: it never decodes, detects or writes.
    """

    name: str  # the rule's id in site files, events and records
    config: type[RuleConfig]  # its section under ``rules:`` in the site file
    evaluate: Evaluate
    code: ViolationCode  # default violation code and Chinese name (illustrative; sites set theirs)
    labels: Mapping[str, str]  # display name by review-app language ("zh", "en")
    zone_kinds: tuple[str, ...] = ()  # zone kinds it acts in; a camera without such zones never fires it
    on_trail_tick: bool = False  # stationary rules: evaluated once per trail tick (about 1 s), not every detection
    needs_heads: bool = False  # the engine runs the helmet model on the riders of this rule's vehicles
    # longest a violation can take to be decided after it starts, from the rule's config (None: the
    # batch default of 30 s); batch segments overlap by at least this much
    decides_within_s: Callable[[Any], float] | None = None
