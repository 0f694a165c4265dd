"""Wrong-way rule on synthetic trajectories: against the lane for a distance and a time fires; with
the lane, across it, backing up along it, or briefly against it does not; calibrated or not."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pytest

from pipelines.eval.scenes.catalogue import all_scenes
from pipelines.rules import wrong_way
from pipelines.rules.base import TimeWindow, Zone
from pipelines.rules.lanes import Lane
from tests.support import scenario as sc
from vision.calibration import CameraView
from vision.geometry import Polygon

SCENES = {s.name: s for s in all_scenes()}
WRONG_WAY = [n for n, s in SCENES.items() if any(t.rule == "wrong_way" for t in s.truth)]
OTHERS = [n for n, s in SCENES.items() if not any(t.rule == "wrong_way" for t in s.truth)]


def run_drive(name, calibrated, cfg=None, jitter=1.0):
    obs, zones, view = sc.catalogue_drive(name, calibrated, jitter_px=jitter)
    cfg = cfg or wrong_way.WrongWayConfig()
    return sc.replay(obs, lambda h: wrong_way.evaluate(h, zones, cfg), view=view)[0]


@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("name", WRONG_WAY)
def test_wrong_way_synthetic_perspective_fires(name, calibrated):
    decision = run_drive(name, calibrated)
    assert decision is not None
    f = decision.facts
    assert f["against_deg"] >= 135 and f["duration_s"] >= 1.0 and f["lane"] in ("S1", "S2", "N1", "N2", "in", "out")
    assert f["travel"] >= (8.0 if calibrated else 3.0) and (f["plane"] == "metres") == calibrated
    assert [k.role for k in decision.key_frames] == ["first", "middle", "last"] and len(decision.path) >= 3


@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("name", OTHERS)
def test_wrong_way_synthetic_perspective_others_do_not_fire(name, calibrated):
    """U-turns end in the opposite lane with its flow; reversing along the lane is not wrong-way."""
    decision = run_drive(name, calibrated)
    assert decision is None, decision.facts


# -- flat lanes: a two-lane road across a 640x352 frame -------------------------------------------------
TZ = ZoneInfo("Asia/Shanghai")
LEFTWARD = Lane("west", Polygon.of([[0, 200], [640, 200], [640, 260], [0, 260]]), np.array([[600.0, 230], [40, 230]]))
RIGHTWARD = Lane("east", Polygon.of([[0, 260], [640, 260], [640, 330], [0, 330]]), np.array([[40.0, 295], [600, 295]]))
ROAD = Zone("road", "road", Polygon.of([[0, 200], [640, 200], [640, 330], [0, 330]]), (), TZ, (LEFTWARD, RIGHTWARD))
VIEW = CameraView((640, 352))


def flat(path, zones=(ROAD,), cfg=None, jitter=0.0):
    obs = sc.Vehicle(path, jitter_px=jitter, seed=5).observations(5.0)
    cfg = cfg or wrong_way.WrongWayConfig()
    return sc.replay(obs, lambda h: wrong_way.evaluate(h, list(zones), cfg), view=VIEW)[0]


@pytest.mark.parametrize(
    "name, path, fires",
    [
        ("against_west_lane", sc.PathBuilder((60, 240), heading=0).line_to(560, 240, 60).build(), True),
        ("against_noisy", sc.PathBuilder((60, 240), heading=0).line_to(560, 240, 60).build(), True),
        ("with_the_flow", sc.PathBuilder((560, 240), heading=180).line_to(60, 240, 60).build(), False),
        ("brief", sc.PathBuilder((300, 240), heading=0).line_to(360, 240, 60).build(), False),
        ("crossing", sc.PathBuilder((300, 340), heading=270).line_to(300, 205, 40).build(), False),
        ("backing_up", sc.PathBuilder((560, 240), heading=180).line_to(300, 240, 60).wait(1).reverse_to(560, 240, 40).build(), False),
        ("parked", sc.PathBuilder((300, 240), heading=0).wait(20).build(), False),
    ],
)
def test_wrong_way_synthetic_flat_lanes(name, path, fires):
    decision = flat(path, jitter=2.0 if name == "against_noisy" else 0.0)
    assert (decision is not None) == fires, decision and decision.facts
    if fires:
        assert decision.facts["lane"] == "west" and decision.facts["duration_s"] >= 1.0


def test_wrong_way_synthetic_not_applicable():
    against = sc.PathBuilder((60, 240), heading=0).line_to(560, 240, 60).build()
    no_lanes = Zone("road", "road", ROAD.polygon, (), TZ)
    evening = Zone("road", "road", ROAD.polygon, (TimeWindow(start="17:00", end="19:00"),), TZ, ROAD.lanes)
    assert flat(against, zones=(no_lanes,)) is None
    assert flat(against, zones=(evening,)) is None  # allowed at 18:00 (e.g. a tidal lane's hours)
    assert flat(against, cfg=wrong_way.WrongWayConfig(enabled=False)) is None
    assert flat(against, cfg=wrong_way.WrongWayConfig(min_duration_s=30)) is None
