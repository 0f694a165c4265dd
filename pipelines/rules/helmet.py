"""Helmet absence: a rider of a motorcycle or e-bike seen without a helmet, by a vote over the best looks.

One look's classifier mistake must not accuse anyone: the rule fires only when at least ``k`` of
the ``n`` best looks at the vehicle (``TrackHistory.looks``: largest and sharpest heads first, not
the last ones) found a judgeable rider head without a helmet above ``min_confidence``. Only
judgeable heads count (large and sharp enough, unambiguously on this vehicle, see
``vision.heads``): a rider who cannot be judged is never an accusation and never a pass. The
engine enforces at most one event per track.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from pydantic import Field, model_validator

from evidence.config import ViolationCode
from pipelines.rules.base import Decision, RuleConfig, RuleSpec, Zone, rider_decision
from vision.riders import RiderObservation
from vision.track_history import TrackHistory


class HelmetConfig(RuleConfig):
    classes: list[str] = Field(
        default_factory=lambda: ["motorcycle", "e_bike"], description="vehicle classes whose riders must wear helmets"
    )
    k: int = Field(3, ge=1, description="no-helmet looks needed among the n best looks")
    n: int = Field(5, ge=1, description="window: the n best looks at the vehicle's riders (largest, sharpest heads)")
    min_confidence: float = Field(
        0.35, gt=0, le=1, description="a no-helmet head counts only above this confidence (on labelled CCTV riders no "
        "helmet wearer's head scored above 0.15 as no-helmet; see `epolice eval riders`)"
    )
    check_interval_s: float = Field(0.4, ge=0, description="engine: look at a vehicle's riders at most this often")
    max_checks: int = Field(8, ge=1, description="engine: helmet-model looks per track at most (cost bound), except ...")
    relook_growth: float = Field(
        1.25, ge=1, description="engine: ... a vehicle whose box grew this much beyond its tallest look is looked at again "
        "(heads grow as it approaches)"
    )
    min_vehicle_height_px: int = Field(40, ge=1, description="engine: skip vehicles smaller than this (heads unreadable)")

    @model_validator(mode="after")
    def _k_le_n(self) -> "HelmetConfig":
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must not exceed n ({self.n})")
        if self.max_checks < self.n:
            raise ValueError(f"max_checks ({self.max_checks}) must be at least n ({self.n})")
        return self


def no_helmet_confidence(obs: RiderObservation) -> float:
    """How sure one look is that a rider on board has no helmet: its most confident judgeable no-helmet head (0 if none)."""
    return max((h.confidence for h in obs.judged if h.helmet is False), default=0.0)


def rider_facts(obs: RiderObservation) -> dict[str, list[str] | list[float] | int]:
    """Per-rider facts of one look, in the order of its heads: role, status, head size, sharpness, source."""
    return {
        "rider_roles": [h.role or "unknown" for h in obs.heads],
        "rider_status": [h.status for h in obs.heads],
        "rider_head_px": [round(h.size_px, 1) for h in obs.heads],
        "rider_sharpness": [round(h.sharpness, 1) for h in obs.heads],
        "rider_look": [h.source for h in obs.heads],
        "rider_heads": [round(float(v), 1) for h in obs.heads for v in h.box],
        "rider_look_seq": obs.seq,
    }


def evaluate(history: TrackHistory, zones: Sequence[Zone], cfg: HelmetConfig) -> Decision | None:
    """Decide on one track from its best looks with judgeable heads."""
    if not cfg.enabled or history.class_name not in cfg.classes:
        return None
    looks = [o for o in history.looks if o.heads_checked and o.judged][: cfg.n]
    if len(looks) < cfg.k:
        return None
    bad = []
    for o in looks:
        worst = no_helmet_confidence(o)
        if worst >= cfg.min_confidence:
            bad.append((worst, o))
    if len(bad) < cfg.k:
        return None
    counts = Counter(o.count for o in looks)
    riders = counts.most_common(1)[0][0]
    without = Counter(sum(1 for h in o.judged if h.helmet is False and h.confidence >= cfg.min_confidence) for _, o in bad)
    best = sorted(bad, key=lambda b: (-b[1].quality, -b[0]))[:3]
    shown = best[0][1]
    facts = {
        "no_helmet_votes": len(bad),
        "observations": len(looks),
        "riders": int(riders),
        "riders_without_helmet": int(without.most_common(1)[0][0]),
        "riders_judged": len(shown.judged),
        "max_confidence": round(float(max(c for c, _ in bad)), 3),
        **rider_facts(shown),
    }
    first, last = min(o.seq for _, o in bad), max(o.seq for _, o in bad)
    return rider_decision("helmet", history, [o for _, o in best], first, last, facts)


SPEC = RuleSpec(
    "helmet", HelmetConfig, evaluate, needs_heads=True, labels={"zh": "未戴头盔", "en": "No helmet"},
    code=ViolationCode(code="1240", name="驾驶摩托车不按规定戴安全头盔"),
)
