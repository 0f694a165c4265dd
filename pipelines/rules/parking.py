"""Illegal parking: a vehicle stays nearly still inside a ``no_parking`` zone for ``min_dwell_s``.

Dwell is read from the track's long-term trail (one point per engine trail tick, about a second),
walking back from now while the vehicle's smoothed ground point stays inside the zone and within
``max_move`` of where it is now (box heights; on a calibrated camera ``max_move_m`` metres on the
road, so "still" means the same near and far; ``max_move_px`` stays the floor either way, because
detector jitter is in pixels). The walk stops at:
- a point outside the zone, or farther than ``max_move`` (it was driving, then stopped);
- a gap in the trail longer than ``max_gap_s`` (too long unseen to be sure it is the same stay);
- the end of the latest allowed window (e.g. night parking allowed until 07:00: dwell restarts).
Short occlusions are survived because the tracker keeps still tracks alive through them
(TrackerConfig.lost_seconds_still) and the trail gap stays under ``max_gap_s``.

Evidence: ``key_frames`` panoramas (at least 3) spread over the dwell, the first and last at
least max(10 s, min_dwell_s) apart, which is what the 10-second rule for stationary violations
asks of a record.
"""

from __future__ import annotations

import math
from typing import Sequence

from pydantic import Field

from evidence.config import ViolationCode
from pipelines.rules.base import Decision, KeyFrameRef, RuleSpec, VehicleRuleConfig, Zone
from vision.track_history import TrackHistory, TrackPoint

MIN_EVIDENCE_SPAN_S = 10.0


class ParkingConfig(VehicleRuleConfig):
    min_dwell_s: float = Field(60.0, gt=0, description="T: seconds nearly still inside the zone before it fires")
    max_move: float = Field(0.5, ge=0, description="'nearly still': within this many box heights of the current spot")
    max_move_px: float = Field(6.0, ge=0, description="... and never less than this many pixels (detector jitter)")
    max_move_m: float = Field(1.0, ge=0, description="calibrated cameras: 'nearly still' is within this many metres")
    max_gap_s: float = Field(30.0, gt=0, description="longest unseen gap inside one stay (occlusion by traffic)")
    key_frames: int = Field(3, ge=3, description="panoramas in the record, spread evenly over the dwell")


def dwell(history: TrackHistory, zone: Zone, cfg: ParkingConfig) -> list[TrackPoint]:
    """The trail points of the current stay in ``zone`` (oldest first); empty when not staying."""
    trail = list(history.trail)
    last = history.last
    if last is None:
        return []
    if not trail or trail[-1].seq != last.seq:
        trail.append(last)
    now = trail[-1]
    if not zone.contains(*now.ground):
        return []
    since = zone.enforced_since(now.wall)
    if since is None:
        return []
    height = max(now.box[3] - now.box[1], 1.0)
    radius = max(cfg.max_move * height, cfg.max_move_px)

    def still(p: TrackPoint) -> bool:
        px = math.hypot(p.ground[0] - now.ground[0], p.ground[1] - now.ground[1])
        if now.ground_m is not None and p.ground_m is not None:
            return px <= cfg.max_move_px or math.dist(p.ground_m, now.ground_m) <= cfg.max_move_m
        return px <= radius

    stay = [now]
    for p in reversed(trail[:-1]):
        if p.wall < since or stay[-1].t - p.t > cfg.max_gap_s:
            break
        if not zone.contains(*p.ground) or not still(p):
            break
        stay.append(p)
    stay.reverse()
    return stay


def _displacement_m(stay: list[TrackPoint]) -> dict[str, float]:
    last = stay[-1].ground_m
    if last is None or any(p.ground_m is None for p in stay):
        return {}
    return {"max_displacement_m": round(max(math.dist(p.ground_m, last) for p in stay), 2)}  # type: ignore[arg-type]


def evaluate(history: TrackHistory, zones: Sequence[Zone], cfg: ParkingConfig) -> Decision | None:
    if not cfg.enabled or history.class_name not in cfg.classes:
        return None
    need = max(cfg.min_dwell_s, MIN_EVIDENCE_SPAN_S)
    for zone in zones:
        if zone.kind != "no_parking":
            continue
        stay = dwell(history, zone, cfg)
        if len(stay) < cfg.key_frames:
            continue
        seconds = stay[-1].t - stay[0].t
        # the first and last panoramas are stay[0] and stay[-1]: their capture-clock span is what the
        # evidence must show, and a live camera's clock may run behind its pts
        if min(seconds, stay[-1].wall - stay[0].wall) < need:
            continue
        n = cfg.key_frames
        picks = [stay[round(i * (len(stay) - 1) / (n - 1))] for i in range(n)]
        roles = ["first"] + [f"middle{i}" if n > 3 else "middle" for i in range(1, n - 1)] + ["last"]
        return Decision.of(
            "parking", history, stay[0], stay[-1], [KeyFrameRef.at(p, r) for p, r in zip(picks, roles)],
            {
                "zone": zone.zone_id,
                "dwell_s": round(seconds, 1),
                "min_dwell_s": float(cfg.min_dwell_s),
                "max_displacement_px": round(
                    max(math.hypot(p.ground[0] - stay[-1].ground[0], p.ground[1] - stay[-1].ground[1]) for p in stay), 1
                ),
                **_displacement_m(stay),
            },
        )
    return None


SPEC = RuleSpec(
    "parking", ParkingConfig, evaluate, zone_kinds=("no_parking",), on_trail_tick=True, decides_within_s=lambda c: c.min_dwell_s + 10.0,
    labels={"zh": "违法停车", "en": "Illegal parking"}, code=ViolationCode(code="1039", name="机动车违反规定停放、临时停车"),
)
