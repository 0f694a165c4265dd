"""Suspected cloned plates (套牌): the same confirmed plate where one vehicle could not be.

Pure: a new pass against the plate's earlier confirmed passes (the store looks them up by plate
within ``CloneConfig.window_h``). Three signs, strongest first:

- ``clone_speed``: seen at two sites farther apart than ``min_distance_km`` in less time than
  driving at ``max_speed_kmh`` would take (great-circle distance between the sites' coordinates);
- ``clone_color``: seen with another plate colour (both colours known);
- ``clone_class``: seen on another vehicle class (both known; ``class_groups`` join classes the
  detector confuses).

At most one suspicion per new pass: the strongest sign against the most recent earlier pass that
shows it. Only confirmed plates are compared: an unconfirmed read proves nothing about a plate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evidence.checkpoint.values import MatchKind, NewPass, PassRecord
from pipelines.checkpoint.config import CloneConfig

EARTH_RADIUS_KM = 6371.0088
SCORES: dict[str, float] = {"clone_speed": 1.0, "clone_color": 0.8, "clone_class": 0.6}


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class CloneSuspicion:
    kind: MatchKind
    other: PassRecord
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return SCORES[self.kind]


def _group(cls: str, cfg: CloneConfig) -> str:
    for i, group in enumerate(cfg.class_groups):
        if cls in group:
            return f"group{i}"
    return cls


def _speed(new: NewPass, other: PassRecord, cfg: CloneConfig) -> CloneSuspicion | None:
    if None in (new.latitude, new.longitude, other.latitude, other.longitude):
        return None
    km = haversine_km(new.latitude, new.longitude, other.latitude, other.longitude)  # type: ignore[arg-type]
    if km < cfg.min_distance_km:
        return None
    hours = abs((new.pass_time - other.pass_time).total_seconds()) / 3600.0
    needed_kmh = km / hours if hours > 0 else math.inf
    if needed_kmh <= cfg.max_speed_kmh:
        return None
    shown = "∞" if math.isinf(needed_kmh) else f"{needed_kmh:.0f}"
    return CloneSuspicion("clone_speed", other, f"{km:.1f} km in {hours * 60:.1f} min needs {shown} km/h "
                                                f"(more than {cfg.max_speed_kmh:g})",
                          {"distance_km": round(km, 3), "minutes": round(hours * 60, 2),
                           "needed_kmh": None if math.isinf(needed_kmh) else round(needed_kmh, 1)})


def _color(new: NewPass, other: PassRecord, cfg: CloneConfig) -> CloneSuspicion | None:
    if not cfg.compare_color or "unknown" in (new.plate_color, other.plate_color) or new.plate_color == other.plate_color:
        return None
    return CloneSuspicion("clone_color", other, f"plate colour {new.plate_color} here, {other.plate_color} there",
                          {"colors": [new.plate_color, other.plate_color]})


def _class(new: NewPass, other: PassRecord, cfg: CloneConfig) -> CloneSuspicion | None:
    if not cfg.compare_class or "unknown" in (new.vehicle_class, other.vehicle_class):
        return None
    if _group(new.vehicle_class, cfg) == _group(other.vehicle_class, cfg):
        return None
    return CloneSuspicion("clone_class", other, f"a {new.vehicle_class} here, a {other.vehicle_class} there",
                          {"classes": [new.vehicle_class, other.vehicle_class]})


def suspect_clone(new: NewPass, earlier: Sequence[PassRecord], cfg: CloneConfig) -> CloneSuspicion | None:
    """The strongest sign that ``new`` and one of ``earlier`` (same plate) are two vehicles, or None."""
    if not cfg.enabled or not new.confirmed:
        return None
    others = sorted((o for o in earlier if o.confirmed and o.plate == new.plate and o.pass_key != new.pass_key),
                    key=lambda o: abs((new.pass_time - o.pass_time).total_seconds()))
    for check in (_speed, _color, _class):
        for other in others:
            found = check(new, other, cfg)
            if found is not None:
                return found
    return None
