"""U-turn rule on synthetic trajectories: reversals fire, turns/lane changes/jitter/re-found tracks do not."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from pipelines.rules import u_turn
from pipelines.rules.base import TimeWindow, Zone
from tests.support import scenario as sc
from vision.geometry import Polygon

TZ = ZoneInfo("Asia/Shanghai")
ZONE = Zone("junction", "no_u_turn", Polygon.of([[300, 150], [640, 150], [640, 352], [300, 352]]), (), TZ)
ELSEWHERE = Zone("far", "no_u_turn", Polygon.of([[0, 0], [200, 0], [200, 100], [0, 100]]), (), TZ)
PARKING_ONLY = Zone("p", "no_parking", ZONE.polygon, (), TZ)


def run(path, zones=(ZONE,), cfg=None, jitter=0.0, class_name="car", fps=5.0):
    cfg = cfg or u_turn.UTurnConfig()
    obs = sc.Vehicle(path, jitter_px=jitter, seed=3).observations(fps)
    return sc.replay(obs, lambda h: u_turn.evaluate(h, list(zones), cfg), class_name=class_name)[0]


@pytest.mark.parametrize(
    "name, path, jitter, fires",
    [
        ("u_turn", sc.u_turn_path(), 0.0, True),
        ("u_turn_noisy", sc.u_turn_path(), 2.0, True),
        ("left_turn", sc.left_turn_path(), 0.0, False),
        ("right_turn", sc.right_turn_path(), 0.0, False),
        ("pass_through", sc.pass_through_path(), 0.0, False),
        ("lane_change", sc.lane_change_path(), 0.0, False),
        ("parked_jitter", sc.parked_jitter_path(), 3.0, False),
        ("lost_and_refound", sc.lost_refound_path(), 0.0, False),
    ],
)
def test_u_turn_synthetic_paths(name, path, jitter, fires):
    decision = run(path, jitter=jitter)
    assert (decision is not None) == fires, decision and decision.facts
    if fires:
        assert decision.rule == "u_turn"
        assert decision.facts["heading_change_deg"] >= 150
        assert [k.role for k in decision.key_frames] == ["approach", "turn", "exit"]
        seqs = [k.seq for k in decision.key_frames]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert decision.start.t < decision.end.t


@pytest.mark.parametrize("fps", [5.0, 10.0, 25.0])
def test_u_turn_synthetic_any_detect_rate(fps):
    assert run(sc.u_turn_path(), fps=fps) is not None


@pytest.mark.parametrize(
    "zones, cfg, class_name",
    [
        ((ELSEWHERE,), None, "car"),  # the turn happens outside every no_u_turn zone
        ((PARKING_ONLY,), None, "car"),  # a zone of another kind
        ((ZONE,), u_turn.UTurnConfig(min_turn_deg=179.9), "car"),  # stricter than the arc
        ((ZONE,), u_turn.UTurnConfig(enabled=False), "car"),
        ((ZONE,), None, "person"),  # not a vehicle class
        # allowed all evening (scene runs at 18:00 Shanghai)
        ((Zone("j", "no_u_turn", ZONE.polygon, (TimeWindow(start="17:00", end="19:00"),), TZ),), None, "car"),
    ],
)
def test_u_turn_synthetic_not_applicable(zones, cfg, class_name):
    assert run(sc.u_turn_path(), zones=zones, cfg=cfg, class_name=class_name) is None


def test_u_turn_synthetic_gap_tolerance_is_configurable():
    # with a generous gap limit, the lost-and-refound pair joins (which is why the default is short)
    assert run(sc.lost_refound_path(), cfg=u_turn.UTurnConfig(max_gap_s=5.0)) is not None


# -- perspective: the scenario suite's drives on the street and lot cameras ------------------------
from pipelines.eval.scenes.catalogue import all_scenes  # noqa: E402

SCENES = {s.name: s for s in all_scenes()}
U_TURNS = [n for n, s in SCENES.items() if any(t.rule == "u_turn" for t in s.truth)]
NOT_U_TURNS = [n for n, s in SCENES.items() if not any(t.rule == "u_turn" for t in s.truth)]


def run_drive(name, calibrated, lanes=True, cfg=None, jitter=1.0):
    obs, zones, view = sc.catalogue_drive(name, calibrated, lanes, jitter_px=jitter)
    cfg = cfg or u_turn.UTurnConfig()
    return sc.replay(obs, lambda h: u_turn.evaluate(h, zones, cfg), view=view)[0]


@pytest.mark.parametrize("calibrated, lanes", [(True, True), (False, True), (False, False)])
@pytest.mark.parametrize("name", U_TURNS)
def test_u_turn_synthetic_perspective_u_turns_fire(name, calibrated, lanes):
    """U-turns of several radii and speeds, both ways, and three-point turnarounds, with jitter."""
    decision = run_drive(name, calibrated, lanes)
    assert decision is not None
    assert decision.facts["plane"] == ("metres" if calibrated else "box_heights")
    assert (("speed_kmh" in decision.facts) and ("distance_m" in decision.facts)) == calibrated
    assert len(decision.path) >= 4 and [k.role for k in decision.key_frames] == ["approach", "turn", "exit"]


@pytest.mark.parametrize("calibrated, lanes", [(True, True), (False, True), (False, False)])
@pytest.mark.parametrize("name", NOT_U_TURNS)
def test_u_turn_synthetic_perspective_others_do_not_fire(name, calibrated, lanes):
    """Turns (a right turn into the driveway looks like a reversal in the image), lane changes,
    three-point parking, reversing along the lane, wrong-way drives and a parked car never fire."""
    decision = run_drive(name, calibrated, lanes)
    assert decision is None, decision.facts


def test_u_turn_synthetic_perspective_heading_change_is_judged_on_the_road():
    """In the image this U-turn turns by about 150 degrees; on the road (either plane) by about 180."""
    for calibrated in (True, False):
        decision = run_drive("uturn_north_r3_10kmh", calibrated, lanes=False, jitter=0.0)
        assert decision is not None and decision.facts["heading_change_deg"] >= 150


def test_u_turn_synthetic_lanes_also_judge():
    """Entered in a northbound lane, left driving in a southbound one: a U-turn by lanes even when
    the heading threshold is out of reach; without lanes the same drive does not fire."""
    strict = u_turn.UTurnConfig(min_turn_deg=179.9)
    by_lanes = run_drive("uturn_north_r3.5_15kmh", calibrated=False, lanes=True, cfg=strict)
    assert by_lanes is not None and by_lanes.facts["judged_by"] == "lanes"
    assert (by_lanes.facts["entry_lane"], by_lanes.facts["exit_lane"]) == ("N1", "S1")
    assert run_drive("uturn_north_r3.5_15kmh", calibrated=False, lanes=False, cfg=strict) is None
