"""Illegal U-turn: inside a ``no_u_turn`` zone a vehicle ends up facing the way it came from.

Measured on the road: in metres when the camera is calibrated, otherwise on the box-scaled plane
(``pipelines.rules.motion``), where the two directions of a road stay opposite however strongly the
camera's perspective draws them together in the image (there a U-turn far up the road turns by
only about 140 degrees, and a right turn into a side road can look like a reversal).

The way the vehicle faces at entry (mean over the first ``segment_s`` of its moving path in the
zone) and at exit (the last ``segment_s``) must differ by at least ``min_turn_deg``; gear changes
are followed, so a three-point turnaround counts and backing up does not. When the zone has
directional lanes, entering in a lane of one direction and leaving, driving forwards, in a lane of
the opposite direction is a U-turn too. Guards against the known false alarms:
- turns change the facing by about 90 degrees, lane changes by a few;
- a parked car's box jitter has no heading (judged in pixels), and the path before and after the
  turn must each travel ``min_segment_m`` metres (``min_segment_move`` box heights uncalibrated);
- a vehicle that leaves reversing (backing into a space) did not turn around; a track that jumps
  to a vehicle going the other way reads as a gear change, so it leaves "reversing" too;
- a track lost and re-found (perhaps another vehicle going the other way) leaves a gap; a gap
  longer than ``max_gap_s`` splits the path, and entry and exit must lie in one piece.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import Field

from evidence.config import ViolationCode
from pipelines.rules.base import Decision, KeyFrameRef, RuleSpec, VehicleRuleConfig, Zone
from pipelines.rules.lanes import Lane, lane_at, opposite
from pipelines.rules.motion import Path, Step, angle_between, bodies, mean_direction, plane_path
from vision.geometry import heading_deg
from vision.track_history import TrackHistory, TrackPoint


class UTurnConfig(VehicleRuleConfig):
    min_turn_deg: float = Field(150.0, gt=90, le=180, description="change of facing between entry and exit, on the road")
    segment_s: float = Field(1.0, gt=0, description="entry/exit facings are averaged over this long")
    max_gap_s: float = Field(1.0, gt=0, description="a detection gap longer than this splits the path")
    min_segment_m: float = Field(1.5, ge=0, description="calibrated: the path before and after the turn each travel this far")
    min_segment_move: float = Field(0.5, ge=0, description="uncalibrated: ... this many box heights")
    lane_agree_deg: float = Field(60.0, gt=0, lt=90, description="lanes: travel within this of a lane's direction is 'in' it")
    opposite_lanes_deg: float = Field(
        120.0, gt=90, le=180, description="lanes: two lanes are opposite when their directions differ by this much"
    )


def _last_run(points: list[TrackPoint], zone: Zone, max_gap_s: float) -> list[TrackPoint]:
    """The most recent unbroken stretch of detected points inside the zone."""
    run: list[TrackPoint] = []
    # one polygon test for all points: the rule runs on every track at every detection frame
    mask = zone.polygon.contains([p.ground for p in points]) if points else []
    for p, inside in zip(reversed(points), reversed(list(mask))):
        if not inside:
            if run:
                break
            continue
        if run and run[-1].t - p.t > max_gap_s:
            break
        run.append(p)
    run.reverse()
    return run


def _lane_of(path: Path, steps: list[Step], lanes: tuple[Lane, ...], agree_deg: float) -> Lane | None:
    """The lane most of ``steps`` are in, if the vehicle travels with its direction there."""
    votes: dict[str, int] = {}
    by_id = {}
    for s in steps:
        lane = lane_at(lanes, *s.point.ground)
        angle = None if lane is None else path.lane_angle(s, lane)
        if lane is not None and angle is not None and angle <= agree_deg:
            votes[lane.lane_id] = votes.get(lane.lane_id, 0) + 1
            by_id[lane.lane_id] = lane
    if not votes:
        return None
    best = max(votes, key=votes.get)
    return by_id[best] if votes[best] * 2 > len(steps) else None


def evaluate(history: TrackHistory, zones: Sequence[Zone], cfg: UTurnConfig) -> Decision | None:
    if not cfg.enabled or history.class_name not in cfg.classes:
        return None
    points = [p for p in history.detected_points() if not p.edge]  # a box cut by the frame edge moves with the cut
    if len(points) < 4:
        return None
    for zone in zones:
        if zone.kind != "no_u_turn" or zone.allowed_at(points[-1].wall):
            continue
        run = _last_run(points, zone, cfg.max_gap_s)
        if len(run) < 4:
            continue
        decision = _judge(history, zone, plane_path(run, history), cfg)
        if decision is not None:
            return decision
    return None


def _judge(history: TrackHistory, zone: Zone, path: Path, cfg: UTurnConfig) -> Decision | None:
    moving = path.moving
    if len(moving) < 4:
        return None
    facing, _ = bodies([s.direction for s in moving])  # type: ignore[misc]
    if float(facing[-1] @ moving[-1].direction) < 0:  # leaves reversing: backed up, did not turn around
        return None
    t0, t1 = moving[0].point.t, moving[-1].point.t
    entry = [i for i, s in enumerate(moving) if s.point.t <= t0 + cfg.segment_s]
    exit_ = [i for i, s in enumerate(moving) if s.point.t >= t1 - cfg.segment_s]
    if len(entry) < 2 or len(exit_) < 2 or moving[exit_[0]].point.t <= moving[entry[-1]].point.t:
        return None
    min_move = cfg.min_segment_m if path.metric else cfg.min_segment_move
    steps = path.steps
    if path.travel(steps[0], moving[entry[-1]]) < min_move or path.travel(moving[exit_[0]], steps[-1]) < min_move:
        return None
    f_in, f_out = mean_direction([facing[i] for i in entry]), mean_direction([facing[i] for i in exit_])
    if f_in is None or f_out is None:
        return None
    change = angle_between(f_in, f_out)
    how, lanes = "heading", None
    if change < cfg.min_turn_deg:
        lanes = _by_lanes(zone, path, moving, entry, exit_, cfg)
        if lanes is None or change <= 90.0:
            return None
        how = "lanes"
    after = range(entry[-1] + 1, len(moving))
    turn = moving[min(after, key=lambda i: abs(angle_between(f_in, facing[i]) - 90.0))].point  # side-on
    first, last = steps[0].point, steps[-1].point
    facts = {
        "zone": zone.zone_id,
        "judged_by": how,
        "plane": "metres" if path.metric else "box_heights",
        "heading_change_deg": round(change, 1),
        "entry_heading_deg": round(_image_heading(moving[entry[0]].point, moving[entry[-1]].point), 1),
        "exit_heading_deg": round(_image_heading(moving[exit_[0]].point, moving[exit_[-1]].point), 1),
        "duration_s": round(last.t - first.t, 2),
    }
    if lanes is not None:
        facts.update(entry_lane=lanes[0], exit_lane=lanes[1])
    return Decision.of(
        "u_turn", history, first, last,
        [KeyFrameRef.at(first, "approach"), KeyFrameRef.at(turn, "turn"), KeyFrameRef.at(last, "exit")],
        facts, path=[p.point.ground for p in steps],
    )


def _by_lanes(
    zone: Zone, path: Path, moving: list[Step], entry: list[int], exit_: list[int], cfg: UTurnConfig
) -> tuple[str, str] | None:
    """(entry lane, exit lane) when the vehicle entered in one lane and left in an opposite one, else None."""
    if not zone.lanes:
        return None
    a = _lane_of(path, [moving[i] for i in entry], zone.lanes, cfg.lane_agree_deg)
    b = _lane_of(path, [moving[i] for i in exit_], zone.lanes, cfg.lane_agree_deg)
    if a is None or b is None or a.lane_id == b.lane_id or not opposite(a, b, cfg.opposite_lanes_deg):
        return None
    return a.lane_id, b.lane_id


def _image_heading(a: TrackPoint, b: TrackPoint) -> float:
    """Heading in the image from a to b (what a reviewer sees in the pictures)."""
    return heading_deg(b.ground[0] - a.ground[0], b.ground[1] - a.ground[1])


SPEC = RuleSpec(
    "u_turn", UTurnConfig, evaluate, zone_kinds=("no_u_turn",), labels={"zh": "违法掉头", "en": "Illegal U-turn"},
    code=ViolationCode(code="1044", name="在禁止掉头的地点掉头"),
)
