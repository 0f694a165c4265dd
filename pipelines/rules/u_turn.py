"""Illegal U-turn: inside a ``no_u_turn`` zone a track's direction of travel reverses.

The entry heading (circular mean over the first ``segment_s`` of the track's path in the zone)
and the exit heading (over the last ``segment_s``) must differ by at least ``min_turn_deg``.
Guards against the known false alarms:
- left/right turns change heading by about 90 degrees, lane changes by a few degrees;
- a parked car's box jitter produces no heading at all (TrackHistory reports None below a
  minimum movement) and each segment must travel ``min_segment_move`` box heights;
- a track lost and re-found (possibly another vehicle going the other way) leaves a detection
  gap; a gap longer than ``max_gap_s`` splits the path, and entry and exit must lie in one piece.
"""

from __future__ import annotations

import math
from typing import Sequence

from pydantic import Field

from evidence.config import ViolationCode
from models.domain import VEHICLE_CLASSES
from pipelines.rules.base import Decision, KeyFrameRef, RuleConfig, RuleSpec, Zone
from vision.geometry import angle_diff, heading_deg, net_turn
from vision.track_history import TrackHistory, TrackPoint


class UTurnConfig(RuleConfig):
    classes: list[str] = Field(
        default_factory=lambda: sorted(VEHICLE_CLASSES - {"bicycle"}), description="vehicle classes checked"
    )
    min_turn_deg: float = Field(150.0, gt=90, le=180, description="net heading change between entry and exit")
    segment_s: float = Field(1.0, gt=0, description="entry/exit headings are averaged over this long")
    max_gap_s: float = Field(1.0, gt=0, description="a detection gap longer than this splits the path")
    min_segment_move: float = Field(0.5, ge=0, description="entry and exit segments each travel this many box heights")


def _mean_heading(points: list[TrackPoint]) -> float | None:
    hs = [p.heading for p in points if p.heading is not None]
    if not hs:
        return None
    s = sum(math.sin(math.radians(h)) for h in hs)
    c = sum(math.cos(math.radians(h)) for h in hs)
    return heading_deg(c, s)


def _last_run(points: list[TrackPoint], zone: Zone, max_gap_s: float) -> list[TrackPoint]:
    """The most recent unbroken stretch of detected points inside the zone."""
    run: list[TrackPoint] = []
    for p in reversed(points):
        inside = zone.contains(*p.ground)
        if not inside:
            if run:
                break
            continue
        if run and run[-1].t - p.t > max_gap_s:
            break
        run.append(p)
    run.reverse()
    return run


def _travel(points: list[TrackPoint]) -> float:
    a, b = points[0].ground, points[-1].ground
    return math.hypot(b[0] - a[0], b[1] - a[1])


def evaluate(history: TrackHistory, zones: Sequence[Zone], cfg: UTurnConfig) -> Decision | None:
    if not cfg.enabled or history.class_name not in cfg.classes:
        return None
    points = history.detected_points()
    if len(points) < 4:
        return None
    for zone in zones:
        if zone.kind != "no_u_turn" or zone.allowed_at(points[-1].wall):
            continue
        run = _last_run(points, zone, cfg.max_gap_s)
        if len(run) < 4:
            continue
        moving = [p for p in run if p.heading is not None]
        if len(moving) < 4:
            continue
        t0, t1 = moving[0].t, moving[-1].t
        entry = [p for p in moving if p.t <= t0 + cfg.segment_s]
        exit_ = [p for p in moving if p.t >= t1 - cfg.segment_s]
        if len(entry) < 2 or len(exit_) < 2 or exit_[0].t <= entry[-1].t:
            continue
        height = sum(p.box[3] - p.box[1] for p in run) / len(run)
        min_move = cfg.min_segment_move * height
        # a segment's travel is measured from the run's ends so that short segments still count
        if _travel([run[0], entry[-1]]) < min_move or _travel([exit_[0], run[-1]]) < min_move:
            continue
        h_in, h_out = _mean_heading(entry), _mean_heading(exit_)
        if h_in is None or h_out is None:
            continue
        change = abs(angle_diff(h_in, h_out))
        if change < cfg.min_turn_deg:
            continue
        middle = [p for p in moving if entry[-1].t < p.t < exit_[0].t] or moving
        turn = min(middle, key=lambda p: abs(abs(angle_diff(h_in, p.heading)) - 90.0))
        return Decision.of(
            "u_turn", history, run[0], run[-1],
            [KeyFrameRef.at(run[0], "approach"), KeyFrameRef.at(turn, "turn"), KeyFrameRef.at(run[-1], "exit")],
            {
                "zone": zone.zone_id,
                "heading_change_deg": round(change, 1),
                "entry_heading_deg": round(h_in, 1),
                "exit_heading_deg": round(h_out, 1),
                "accumulated_turn_deg": round(net_turn(p.heading for p in moving), 1),
                "duration_s": round(run[-1].t - run[0].t, 2),
            },
        )
    return None


SPEC = RuleSpec(
    "u_turn", UTurnConfig, evaluate, zone_kinds=("no_u_turn",), labels={"zh": "违法掉头", "en": "Illegal U-turn"},
    code=ViolationCode(code="1044", name="在禁止掉头的地点掉头"),
)
