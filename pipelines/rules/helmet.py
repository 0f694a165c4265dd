"""Helmet absence: a rider of a motorcycle or e-bike seen without a helmet, by temporal vote.

One frame's classifier mistake must not accuse anyone: the rule fires only when at least ``k``
of the last ``n`` helmet-model looks at the vehicle found a rider head classified
``head_no_helmet`` above ``min_confidence``. The engine enforces at most one event per track.
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
    k: int = Field(3, ge=1, description="no-helmet looks needed among the last n")
    n: int = Field(5, ge=1, description="window: the last n helmet-model looks at the vehicle")
    min_confidence: float = Field(
        0.35, gt=0, le=1, description="a no-helmet head counts only above this confidence (on labelled CCTV riders no "
        "helmet wearer's head scored above 0.15 as no-helmet; see `epolice eval riders`)"
    )
    check_interval_s: float = Field(0.4, ge=0, description="engine: look at a vehicle's riders at most this often")
    max_checks: int = Field(8, ge=1, description="engine: helmet-model looks per track at most (cost bound)")
    min_vehicle_height_px: int = Field(40, ge=1, description="engine: skip vehicles smaller than this (heads unreadable)")

    @model_validator(mode="after")
    def _k_le_n(self) -> "HelmetConfig":
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must not exceed n ({self.n})")
        if self.max_checks < self.n:
            raise ValueError(f"max_checks ({self.max_checks}) must be at least n ({self.n})")
        return self


def no_helmet_confidence(obs: RiderObservation) -> float:
    """How sure one look is that a rider on board has no helmet: its most confident no-helmet head (0 if none)."""
    return max((h.confidence for h in obs.heads if not h.helmet), default=0.0)


def evaluate(history: TrackHistory, zones: Sequence[Zone], cfg: HelmetConfig) -> Decision | None:
    """Decide on one track from its rider observations (only those where the helmet model looked)."""
    if not cfg.enabled or history.class_name not in cfg.classes:
        return None
    looks = [o for o in history.riders if o.heads_checked][-cfg.n :]
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
    without = Counter(sum(1 for h in o.heads if not h.helmet and h.confidence >= cfg.min_confidence) for _, o in bad)
    best = sorted(bad, key=lambda b: -b[0])[:3]
    facts = {
        "no_helmet_votes": len(bad),
        "observations": len(looks),
        "riders": int(riders),
        "riders_without_helmet": int(without.most_common(1)[0][0]),
        "max_confidence": round(float(max(c for c, _ in bad)), 3),
    }
    return rider_decision("helmet", history, [o for _, o in best], bad[0][1].seq, bad[-1][1].seq, facts)


SPEC = RuleSpec(
    "helmet", HelmetConfig, evaluate, needs_heads=True, labels={"zh": "未戴头盔", "en": "No helmet"},
    code=ViolationCode(code="1240", name="驾驶摩托车不按规定戴安全头盔"),
)
