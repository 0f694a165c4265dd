"""Illegal passengers: more people on board a vehicle than its class allows (two-wheelers,
tricycles, tractors, and people riding visibly on a truck's cargo bed, 货车违法载人).

People on board are counted from geometry (``vision.rider_looks``: persons and heads on the
vehicle) and checked by co-motion (``vision.co_motion``): a person track that overlapped the
moving vehicle in at least ``min_looks`` observations of the last ``motion_window`` at a different
velocity walks beside it and is not counted, whatever the geometry said. A count above the maximum
must persist in at least ``k`` of the last ``n`` observations, so one spurious person box never
fires. Cars and buses, whose passengers ride inside, are not checked.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from pydantic import Field, model_validator

from evidence.config import ViolationCode
from pipelines.rules.base import Decision, RuleConfig, RuleSpec, Zone, rider_decision
from vision.co_motion import on_board
from vision.riders import RiderObservation
from vision.track_history import TrackHistory


class PassengersConfig(RuleConfig):
    max_people: dict[str, int] = Field(
        default_factory=lambda: {"motorcycle": 2, "e_bike": 2, "tricycle": 1, "tractor": 1, "truck": 1},
        description="most people seen on board, by vehicle class; classes not listed are not checked (a truck's "
        "driver may show through the windscreen: 1 tolerates them, 0 suits a camera that sees no cab)",
    )
    k: int = Field(3, ge=1, description="observations over the maximum needed among the last n")
    n: int = Field(8, ge=1, description="window: the last n rider observations of the track")
    motion_window: int = Field(15, ge=1, description="co-motion: the last this many observations decide who walks beside")
    min_vehicle_speed: float = Field(0.3, ge=0, description="co-motion: only observations where the vehicle moves this many box heights per second")
    max_rel_speed: float = Field(0.35, gt=0, description="co-motion: a person on board moves within this many box heights per second of the vehicle")
    min_looks: int = Field(3, ge=1, description="co-motion: moving observations needed before a person is judged on board or beside")
    share: float = Field(0.75, gt=0, le=1, description="co-motion: share of those observations in which the velocities must match")

    @model_validator(mode="after")
    def _check(self) -> "PassengersConfig":
        from models.domain import VEHICLE_CLASSES

        unknown = sorted(set(self.max_people) - VEHICLE_CLASSES)
        if unknown:
            raise ValueError(f"max_people: unknown vehicle classes {unknown}; expected some of {sorted(VEHICLE_CLASSES)}")
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must not exceed n ({self.n})")
        return self


def evaluate(history: TrackHistory, zones: Sequence[Zone], cfg: PassengersConfig) -> Decision | None:
    if not cfg.enabled:
        return None
    limit = cfg.max_people.get(history.class_name)
    if limit is None:
        return None
    riders = list(history.riders)
    aboard, beside = on_board(riders[-cfg.motion_window :], cfg.min_vehicle_speed, cfg.max_rel_speed, cfg.min_looks, cfg.share)
    window = riders[-cfg.n :]
    counts = {o.seq: on_board_count(o, aboard, cfg.min_vehicle_speed) for o in window}
    over = [o for o in window if counts[o.seq] > limit]
    if len(over) < cfg.k:
        return None
    voted = Counter(counts[o.seq] for o in over).most_common(1)[0][0]
    facts = {
        "riders": int(voted), "max_allowed": int(limit), "frames_over": len(over), "observations": len(window),
        "moving_with_vehicle": len(aboard), "walking_beside": len(beside),
    }
    shown = sorted(over, key=lambda o: -counts[o.seq])[:3]
    return rider_decision("passengers", history, shown, over[0].seq, over[-1].seq, facts)


def on_board_count(obs: RiderObservation, aboard: set[int], min_vehicle_speed: float) -> int:
    """People on board in one observation. While the vehicle moves, a tracked rider counts only once
    co-motion shows them on board (a person beside it, or not yet known, does not); heads beyond
    the tracked persons (a pillion merged into the driver's box) still count. A still vehicle says
    nothing about co-motion: its geometric count stands."""
    tracked = [p for p in obs.people if p.rider]
    if not tracked or tracked[0].vehicle_speed < min_vehicle_speed:
        return obs.count
    return max(0, obs.count - sum(1 for p in tracked if p.track_id not in aboard))


SPEC = RuleSpec(
    "passengers", PassengersConfig, evaluate, labels={"zh": "违法载人", "en": "Illegal passengers"},
    code=ViolationCode(code="1232", name="驾驶摩托车载人超过核定人数"),
)
