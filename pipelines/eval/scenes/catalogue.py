"""The scenario suite: scripted drives on the stages, each with what a person would call a violation.

Every scene is one kind of manoeuvre at a known speed, on the street (``street_parking_a.mp4``, a
camera looking down the road, strongly foreshortened) or in the lot (``parking_lot_lane.mp4``,
looking steeply down). Scenes come in pairs of a kind, one in the ``tuning`` half and one in the
``held_out`` half: rules are tuned on the first and judged on both.

Ground frame of the street: X across the road (kerb at 0; southbound lanes S1, S2 from 0 to 7 m,
northbound N1, N2 from 7 to 14 m), Y along it away from the camera. A U-turn reverses the direction
of travel (a three-point turnaround too, see ``k_turn``); a three-point parking manoeuvre (back
into a space) and reversing along the lane do not, and neither do turns and lane changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from pipelines.eval.scenes.paths import PathBuilder, Route

Split = Literal["tuning", "held_out"]
KMH = 1 / 3.6
CAR = (4.5, 1.8, 1.5)
VAN = (5.2, 2.0, 2.1)


@dataclass(frozen=True)
class Drive:
    """One vehicle of a scene: its path on the ground, its body, which crop shows it."""

    route: Route
    crop: int = 0
    body: tuple[float, float, float] = CAR
    class_name: str = "car"


@dataclass(frozen=True)
class Truth:
    rule: str
    drive: int  # index of the offending vehicle in the scene's drives
    start_s: float
    end_s: float
    speed_kmh: float | None = None  # steady speed over the event, when it has one


@dataclass(frozen=True)
class SceneSpec:
    name: str
    stage: str
    split: Split
    drives: tuple[Drive, ...]
    truth: tuple[Truth, ...] = ()
    note: str = ""
    extra_s: float = 1.0  # seconds rendered after the last drive ends
    min_dwell_s: float | None = field(default=None)

    @property
    def duration(self) -> float:
        return max(d.route.duration for d in self.drives) + self.extra_s


def _u_turn(x: float, y_from: float, y_turn: float, radius: float, kmh: float, north: bool, y_to: float) -> Route:
    """Drive along the lane at X = x, turn left through 180 degrees on ``radius`` at ``y_turn``, drive back."""
    v = kmh * KMH
    b = PathBuilder((x, y_from), heading=90.0 if north else 270.0)
    b.line_to(x, y_turn, v).arc(180.0, radius, v)
    return b.line_to(b.x, y_to, v).build()


def _k_turn(x: float, y_from: float, y_turn: float, kmh: float, north: bool, y_to: float) -> Route:
    """Three-point turnaround: forward turning left, reverse turning on, forward away the other way."""
    v = kmh * KMH
    b = PathBuilder((x, y_from), heading=90.0 if north else 270.0)
    b.line_to(x, y_turn, v).arc(90.0, 4.0, 2.0).forward(1.5, 1.5).wait(0.8)
    b.arc(50.0, 3.5, 1.5, reverse=True).wait(0.8).arc(40.0, 3.5, 2.0)
    return b.line_to(b.x, y_to, v).build()


def _straight(x: float, y0: float, y1: float, kmh: float) -> Route:
    return PathBuilder((x, y0), heading=90.0 if y1 > y0 else 270.0).line_to(x, y1, kmh * KMH).build()


def _lane_change(x0: float, x1: float, y0: float, y_mid: float, y1: float, kmh: float) -> Route:
    v = kmh * KMH
    s = 1 if y1 > y0 else -1
    return PathBuilder((x0, y0), heading=90.0 if s > 0 else 270.0).line_to(x0, y_mid, v).line_to(x1, y_mid + s * 12, v).line_to(
        x1, y1, v
    ).build()


def _turn(x: float, y0: float, y_turn: float, sweep: float, radius: float, kmh: float, out: float) -> Route:
    v = kmh * KMH
    b = PathBuilder((x, y0), heading=90.0 if y_turn > y0 else 270.0)
    b.line_to(x, y_turn, v).arc(sweep, radius, v)
    return b.forward(out, v).build()


def _pass_traffic(t0: float, every: float, until: float, lanes: tuple[float, ...], kmh: float) -> list[Drive]:
    """Southbound traffic in front of the kerb: a car every ``every`` seconds, lanes in turn (unseen before it starts)."""
    drives, t, i = [], t0, 0
    while t < until:
        x = lanes[i % len(lanes)]
        drives.append(Drive(PathBuilder((x, 52.0), heading=270.0, t0=t).line_to(x, 8.0, kmh * KMH).build(), crop=3 + i % 5))
        t += every
        i += 1
    return drives


def _parked(spot: tuple[float, float], arrive_kmh: float, stay_s: float) -> Route:
    x, y = spot
    b = PathBuilder((x + 1.5, 46.0), heading=270.0).line_to(x + 1.5, y + 8, arrive_kmh * KMH).line_to(x, y, 2.0)
    return b.face(270.0).wait(stay_s).build()


def _three_point_park(kmh: float) -> Route:
    """Drive north past a space on the right, back into it turning, straighten forward, stay."""
    v = kmh * KMH
    b = PathBuilder((12.25, 12.0), heading=90.0).line_to(12.25, 30.0, v).wait(0.8)
    b.arc(90.0, 3.0, 1.2, reverse=True).wait(0.6).forward(0.6, 0.8).wait(4.0)
    return b.build()


def _reverse_along(kmh: float) -> Route:
    """Drive south past a space, stop, reverse 9 m straight back along the lane, stay."""
    v = kmh * KMH
    return PathBuilder((1.75, 46.0), heading=270.0).line_to(1.75, 18.0, v).wait(1.0).reverse_to(1.75, 27.0, 1.5).wait(4.0).build()


def street_scenes() -> list[SceneSpec]:
    s: list[SceneSpec] = []

    def add(name, split, drives, truth=(), note="", **kw):
        s.append(SceneSpec(name, "street", split, tuple(drives), tuple(truth), note, **kw))

    def u(name, split, route, kmh, crop, note, extra=()):
        turn_start = next(k[0] for k in route.keys if abs(((k[4] - route.keys[0][4] + 180) % 360) - 180) > 5)
        add(name, split, [Drive(route, crop), *extra], [Truth("u_turn", 0, max(0.0, turn_start - 2), route.duration, kmh)], note)

    u("uturn_north_r3.5_15kmh", "tuning", _u_turn(8.75, 11, 26, 3.5, 15, True, 9), 15, 0, "N1 to S1, radius 3.5 m")
    u("uturn_north_r5.3_20kmh", "held_out", _u_turn(12.25, 19, 28, 5.25, 20, True, 9), 20, 1, "N2 to S1, radius 5.25 m",
      extra=[Drive(_straight(5.25, 50, 8, 30), crop=4)])
    u("uturn_south_r3.5_12kmh", "tuning", _u_turn(1.75, 48, 24, 3.5, 12, False, 48), 12, 2, "S1 to N1, radius 3.5 m")
    u("uturn_south_r5.3_15kmh", "held_out", _u_turn(1.75, 48, 26, 5.25, 15, False, 48), 15, 5, "S1 to N2, radius 5.25 m")
    u("uturn_north_r3_10kmh", "tuning", _u_turn(8.0, 12, 22, 3.0, 10, True, 9), 10, 6, "N1 to S1, tight, slow")
    u("uturn_south_r2.8_25kmh", "held_out", _u_turn(5.25, 48, 28, 2.75, 25, False, 48), 25, 7, "S2 to N1, tight, fast")
    u("uturn_far_north_r4_15kmh", "tuning", _u_turn(9.5, 14, 30, 4.0, 15, True, 10), 15, 8, "N1 to S2 far up the road (small boxes)")
    u("uturn_near_south_r3.5_12kmh", "held_out", _u_turn(1.75, 36, 21, 3.0, 12, False, 40), 12, 9, "S1 to N1 near the camera")
    for name, split, route, crop in (
        ("kturn_north", "tuning", _k_turn(8.75, 12, 25, 12, True, 9), 10),
        ("kturn_south", "held_out", _k_turn(5.25, 46, 26, 12, False, 46), 11),
    ):
        start = next(k[0] for k in route.keys if k[4] != route.keys[0][4])
        add(name, split, [Drive(route, crop)], [Truth("u_turn", 0, max(0.0, start - 2), route.duration)],
            "three-point turnaround: ends driving the other way")

    add("pass_north_40kmh", "tuning", [Drive(_straight(8.75, 10, 55, 40), 0)])
    add("pass_south_30kmh", "held_out", [Drive(_straight(5.25, 55, 8, 30), 1)])
    add("lane_change_north", "tuning", [Drive(_lane_change(8.75, 12.25, 12, 18, 55, 35), 2)])
    add("lane_change_south", "held_out", [Drive(_lane_change(5.25, 1.75, 52, 40, 8, 30), 3)])
    add("right_turn_north", "tuning", [Drive(_turn(12.25, 14, 24, -90, 6.0, 15, 12), 5)], note="into the driveway on the right")
    add("left_turn_north", "held_out", [Drive(_turn(8.75, 12, 28, 90, 5.0, 15, 16), 6)], note="across the southbound lanes")
    add("right_turn_south", "tuning", [Drive(_turn(1.75, 46, 22, -90, 5.0, 15, 10), 7)], note="off to the left of the picture")
    add("left_turn_south", "held_out", [Drive(_turn(5.25, 48, 24, 90, 6.0, 15, 16), 8)], note="across the northbound lanes")
    add("three_point_parking", "tuning", [Drive(_three_point_park(20), 9)], note="backs into a space on the right, stays")
    add("reverse_along_lane", "held_out", [Drive(_reverse_along(20), 10)], note="overshoots, reverses 9 m, stays")

    def w(name, split, route, kmh, crop, body=CAR, cls="car"):
        add(name, split, [Drive(route, crop, body, cls)], [Truth("wrong_way", 0, 0.0, route.duration, kmh)])

    w("wrong_way_S1_30kmh", "tuning", _straight(1.75, 9, 52, 30), 30, 0)
    w("wrong_way_N1_25kmh", "held_out", _straight(8.75, 52, 9, 25), 25, 2)
    w("wrong_way_S2_12kmh", "tuning", _straight(5.25, 10, 48, 12), 12, 4)
    w("wrong_way_N2_35kmh", "held_out", _straight(12.25, 55, 19, 35), 35, 6, VAN)

    traffic = _pass_traffic(8.0, 7.0, 70.0, (3.0, 5.25), 30)
    park = _parked((1.2, 22.0), 25, 70.0)
    stop_t = next(k[0] for k in park.keys if k[1] == 1.2)
    add("parked_with_traffic_a", "tuning", [Drive(park, 11), *traffic],
        [Truth("parking", 0, stop_t, park.duration)], "parks at the kerb; southbound traffic passes in front", extra_s=0.5)
    traffic_b = _pass_traffic(5.0, 5.5, 70.0, (5.25, 3.0), 35)
    park_b = _parked((1.2, 26.0), 20, 68.0)
    stop_b = next(k[0] for k in park_b.keys if k[1] == 1.2)
    add("parked_with_traffic_b", "held_out", [Drive(park_b, 12), *traffic_b],
        [Truth("parking", 0, stop_b, park_b.duration)], "parks farther up; denser traffic in front", extra_s=0.5)
    return s


def lot_scenes() -> list[SceneSpec]:
    def scene(name, split, route, crop, truth=()):
        return SceneSpec(name, "lot", split, (Drive(route, crop),), tuple(truth))

    ut = _u_turn(2.5, 7.0, 20.0, 2.75, 12, True, 7.0)
    ww = _straight(-2.5, 7.0, 32.0, 20)
    return [
        scene("lot_uturn", "tuning", ut, 1, [Truth("u_turn", 0, 0.0, ut.duration, 12)]),
        scene("lot_pass", "held_out", _straight(2.5, 7.0, 32.0, 20), 3),
        scene("lot_wrong_way", "held_out", ww, 8, [Truth("wrong_way", 0, 0.0, ww.duration, 20)]),
        scene("lot_left_turn", "tuning", _turn(2.5, 7.0, 16.0, 90, 4.0, 12, 14), 7),
    ]


@lru_cache(maxsize=1)
def _catalogue() -> tuple[SceneSpec, ...]:
    return tuple(street_scenes() + lot_scenes())


def all_scenes() -> list[SceneSpec]:
    return list(_catalogue())
