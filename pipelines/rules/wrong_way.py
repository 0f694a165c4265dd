"""Wrong-way driving (逆行): a vehicle travels against its lane's direction for a distance and a time.

Judged in the directional lanes of every zone (a ``road`` zone exists to carry lanes; a
``no_u_turn`` zone's lanes count too). At each moving point the vehicle's travel is compared with
the lane's direction where the vehicle is, on the road in metres when calibrated and on the
box-scaled plane otherwise (``pipelines.rules.motion.Path.lane_angle``; not in the image, where a
car crossing the lanes of a receding road moves nearly against their drawn direction). The latest unbroken stretch of points against a
lane must last ``min_duration_s`` and travel ``min_distance_m`` metres (``min_distance`` box heights
uncalibrated). Guards:
- a lane change or a turn crosses lanes at an angle, never against them for long;
- a U-turn's vehicle drives with the flow of the lane it turns into;
- backing up against the lane is reversing, not wrong-way driving: gear changes are followed
  (``pipelines.rules.motion.bodies``) and only forward travel counts; jitter has no heading;
- boxes cut by the frame's edge are left out (their ground point moves with the cut, not the car).
"""

from __future__ import annotations

import statistics
from typing import Sequence

from pydantic import Field

from evidence.config import ViolationCode
from pipelines.rules.base import Decision, KeyFrameRef, RuleSpec, VehicleRuleConfig, Zone
from pipelines.rules.lanes import lane_at
from pipelines.rules.motion import Path, Step, bodies, plane_path
from vision.track_history import TrackHistory

RECENT_S = 30.0  # how far back a track's gear is followed


class WrongWayConfig(VehicleRuleConfig):
    against_deg: float = Field(135.0, gt=90, le=180, description="travel at least this far from the lane's direction is against it")
    min_duration_s: float = Field(1.0, gt=0, description="seconds of travel against the lane before it fires")
    min_distance_m: float = Field(8.0, ge=0, description="calibrated: metres travelled against the lane")
    min_distance: float = Field(3.0, ge=0, description="uncalibrated: box heights travelled against the lane")
    max_gap_s: float = Field(1.0, gt=0, description="a detection gap longer than this ends the stretch")


def _against(step: Step, path: Path, zones: Sequence[Zone], cfg: WrongWayConfig) -> tuple[Zone, str, float] | None:
    """(zone, lane id, angle to the lane's direction) when the step travels against a lane, else None."""
    for zone in zones:
        lane = lane_at(zone.lanes, *step.point.ground)
        if lane is None:
            continue
        angle = path.lane_angle(step, lane)
        return (zone, lane.lane_id, angle) if angle is not None and angle >= cfg.against_deg else None
    return None


def evaluate(history: TrackHistory, zones: Sequence[Zone], cfg: WrongWayConfig) -> Decision | None:
    if not cfg.enabled or history.class_name not in cfg.classes or history.last is None:
        return None
    laned = [z for z in zones if z.lanes and not z.allowed_at(history.last.wall)]
    if not laned:
        return None
    recent = [p for p in history.detected_points() if not p.edge and p.t >= history.last.t - RECENT_S]
    if len(recent) < 3 or recent[-1].heading is None:
        return None
    path = plane_path(recent, history)
    moving = path.moving
    facing, _ = bodies([s.direction for s in moving])  # type: ignore[misc]
    stretch: list[tuple[Step, str, float, Zone]] = []
    for step, face in zip(reversed(moving), reversed(facing)):
        if stretch and stretch[-1][0].point.t - step.point.t > cfg.max_gap_s:
            break
        hit = _against(step, path, laned, cfg)
        if hit is None or float(face @ step.direction) < 0:  # backing up the lane is reversing, not wrong-way driving
            break
        stretch.append((step, hit[1], hit[2], hit[0]))
    if len(stretch) < 3:
        return None
    stretch.reverse()
    points = [s[0].point for s in stretch]
    seconds = points[-1].t - points[0].t
    travelled = path.travel(stretch[0][0], stretch[-1][0])
    if seconds < cfg.min_duration_s or travelled < (cfg.min_distance_m if path.metric else cfg.min_distance):
        return None
    lanes = list(dict.fromkeys(s[1] for s in stretch))
    mid = points[len(points) // 2]
    return Decision.of(
        "wrong_way", history, points[0], points[-1],
        [KeyFrameRef.at(points[0], "first"), KeyFrameRef.at(mid, "middle"), KeyFrameRef.at(points[-1], "last")],
        {
            "zone": stretch[-1][3].zone_id,
            "lane": lanes[-1],
            "lanes": lanes,
            "against_deg": round(statistics.median(s[2] for s in stretch), 1),
            "duration_s": round(seconds, 2),
            "plane": "metres" if path.metric else "box_heights",
            "travel": round(travelled, 1),
        },
        path=[p.ground for p in points],
    )


SPEC = RuleSpec(
    "wrong_way", WrongWayConfig, evaluate, zone_kinds=("road",), labels={"zh": "逆向行驶", "en": "Wrong-way driving"},
    code=ViolationCode(code="1301", name="机动车逆向行驶"),
)
