"""Illegal passengers: more people on a two-/three-wheeler or tractor than its class allows.

Rider counts come from geometry (vision.riders) on every detection frame; a count above the
maximum must persist in at least ``k`` of the last ``n`` observations, so one spurious person
box (a pedestrian behind the bike) never fires.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from pydantic import Field, model_validator

from evidence.config import ViolationCode
from pipelines.rules.base import Decision, RuleConfig, RuleSpec, Zone, rider_decision
from vision.track_history import TrackHistory


class PassengersConfig(RuleConfig):
    max_people: dict[str, int] = Field(
        default_factory=lambda: {"motorcycle": 2, "e_bike": 2, "tricycle": 1, "tractor": 1},
        description="most people allowed on board, by vehicle class; classes not listed are not checked",
    )
    k: int = Field(3, ge=1, description="observations over the maximum needed among the last n")
    n: int = Field(8, ge=1, description="window: the last n rider observations of the track")

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
    window = list(history.riders)[-cfg.n :]
    over = [o for o in window if o.count > limit]
    if len(over) < cfg.k:
        return None
    voted = Counter(o.count for o in over).most_common(1)[0][0]
    facts = {"riders": int(voted), "max_allowed": int(limit), "frames_over": len(over), "observations": len(window)}
    return rider_decision("passengers", history, sorted(over, key=lambda o: -o.count)[:3], over[0].seq, over[-1].seq, facts)


SPEC = RuleSpec(
    "passengers", PassengersConfig, evaluate, labels={"zh": "违法载人", "en": "Illegal passengers"},
    code=ViolationCode(code="1232", name="驾驶摩托车载人超过核定人数"),
)
