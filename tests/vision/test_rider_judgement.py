"""Judgeability, best-look voting, co-motion and the class merge, table-driven on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.rules import helmet, passengers
from tests.support import scenario as sc
from vision.co_motion import on_board, people_on_vehicles
from vision.detections import Detections
from vision.heads import HeadJudgeConfig, HeadQuality, heads_from_persons, judgeable
from vision.nms import merge_models
from vision.rider_looks import read_riders, roles_by_heading
from vision.riders import HeadObservation, PersonOnBoard, RiderObservation
from vision.track_history import TrackHistory


@pytest.mark.parametrize(
    "size, sharpness, reason",
    [(30.0, 200.0, ""), (19.9, 200.0, "small"), (20.0, 200.0, ""), (40.0, 5.0, "blurred"), (8.0, 1.0, "small")],
)
def test_judgeability_synthetic_by_head_size_and_sharpness(size, sharpness, reason):
    assert judgeable(HeadQuality(size, sharpness), HeadJudgeConfig(min_head_px=20, min_sharpness=15)) == reason


@pytest.mark.parametrize(
    "helmet_on, reason, status, judged",
    [(True, "", "helmet", True), (False, "", "no_helmet", True), (False, "small", "not_judgeable", False),
     (None, "no_head", "not_judgeable", False), (False, "ambiguous", "not_judgeable", False)],
)
def test_judgeability_synthetic_head_status(helmet_on, reason, status, judged):
    h = HeadObservation(helmet_on, 0.9, (0, 0, 30, 30), 30.0, 100.0, "model", reason)
    assert h.status == status and h.judgeable == judged
    obs = RiderObservation(0, 0.0, 1, (h,), heads_checked=True)
    assert helmet.no_helmet_confidence(obs) == (0.9 if status == "no_helmet" else 0.0)


def _look(seq, status, size):
    """One helmet-model look with one rider: 'N' no helmet, 'H' helmet, 's' too small to judge."""
    head = HeadObservation(status == "H", 0.8, (0, 0, size, size), size, 200.0, "model", "small" if status == "s" else "")
    return RiderObservation(seq, seq * 0.2, 1, (head,), heads_checked=True, riders=1)


@pytest.mark.parametrize(
    "looks, fires",
    [
        # (status, head px) per look, oldest first
        ([("N", 40), ("N", 42), ("N", 44)], True),
        ([("s", 12), ("s", 12), ("s", 14), ("s", 15)], False),  # never judgeable: no accusation, no pass
        # far and small looks said no helmet, the three largest (nearest) say helmet: the best looks decide
        ([("N", 22), ("N", 23), ("N", 24), ("H", 50), ("H", 55), ("H", 60)], False),
        # the last looks are the small ones (leaving the camera); the best looks still decide
        ([("N", 60), ("N", 58), ("N", 55), ("H", 22), ("H", 21), ("H", 21)], True),
        ([("N", 40), ("s", 12), ("N", 41), ("s", 13), ("N", 42)], True),  # small looks are left out, not counted against
    ],
)
def test_best_look_voting_synthetic(looks, fires):
    cfg = helmet.HelmetConfig(k=3, n=3)
    history = TrackHistory(1)
    for i, (t, box) in enumerate(sc.Vehicle(sc.pass_through_path(), size=(40, 60), class_name="motorcycle").observations(5.0)[: len(looks)]):
        history.add(i, t, t, box, True, 0.9, "motorcycle")
        history.add_riders(_look(i, *looks[i]))
    decision = helmet.evaluate(history, [], cfg)
    assert (decision is not None) == fires
    if fires:
        assert decision.facts["rider_status"] == ["no_helmet"] and decision.facts["rider_head_px"][0] >= 40


def test_best_looks_synthetic_bounded_and_ordered():
    history = TrackHistory(1, max_looks=3)
    for i, size in enumerate([20, 50, 30, 40, 10]):
        history.add_riders(_look(i, "H", size))
    assert [o.heads[0].size_px for o in history.looks] == [50, 40, 30]


def _people(speeds, vehicle_speed=1.0, rider=True):
    return tuple(PersonOnBoard(tid, 0.8, rel, vehicle_speed, rider) for tid, rel in speeds)


@pytest.mark.parametrize(
    "frames, vehicle_speed, aboard, beside",
    [
        ([[(1, 0.05)]] * 5, 1.0, {1}, set()),  # moves with the vehicle
        ([[(1, 0.9)]] * 5, 1.0, set(), {1}),  # walks past it
        ([[(1, 0.0)]] * 5, 0.1, set(), set()),  # vehicle still: co-motion says nothing
        ([[(1, 0.05)]] * 2, 1.0, set(), set()),  # too few looks
        ([[(1, 0.05), (2, 1.2)]] * 4 + [[(1, 0.6), (2, 1.1)]], 1.0, {1}, {2}),  # one off look of 5 tolerated
    ],
)
def test_co_motion_synthetic(frames, vehicle_speed, aboard, beside):
    window = [RiderObservation(i, i * 0.2, 2, people=_people(f, vehicle_speed)) for i, f in enumerate(frames)]
    assert on_board(window, 0.3, 0.35, 3, 0.75) == (aboard, beside)


def test_co_motion_synthetic_people_on_vehicles_relative_speed():
    vehicles = np.array([[100, 100, 200, 200]], np.float32)
    persons = np.array([[120, 40, 160, 170], [300, 40, 340, 170], [150, 60, 190, 190]], np.float32)
    out = people_on_vehicles(vehicles, np.array([[50.0, 0.0]]), persons, np.array([7, 8, -1]),
                             np.array([[50.0, 0.0], [0.0, 0.0], [50.0, 0.0]]), riders=[[0]])
    (p,) = out[0]  # the far person does not overlap, the untracked one has no track
    assert p.track_id == 7 and p.rel_speed == 0.0 and p.vehicle_speed == 0.5 and p.rider


@pytest.mark.parametrize(
    "class_name, people_frames, count, fires",
    [
        ("truck", [[(1, 0.05), (2, 0.05)]], 2, True),  # two riding in the cargo bed
        ("truck", [[(1, 0.9), (2, 0.9)]], 2, False),  # two walking past: not on board
        ("tricycle", [[(1, 0.05), (2, 0.8)]], 2, False),  # the driver rides, the other walks by
        ("tricycle", [[(1, 0.05), (2, 0.05)]], 2, True),
        ("car", [[(1, 0.05), (2, 0.05), (3, 0.05)]], 3, False),  # passengers ride inside cars: not checked
    ],
)
def test_passengers_synthetic_co_motion(class_name, people_frames, count, fires):
    it = iter(range(1000))

    def riders(t, seq):
        next(it)
        return RiderObservation(seq, t, count, people=_people(people_frames[0]))

    cfg = passengers.PassengersConfig()
    obs = sc.Vehicle(sc.pass_through_path(), size=(120, 80), class_name=class_name).observations(5.0)
    decision, _ = sc.replay(obs, lambda h: passengers.evaluate(h, [], cfg), class_name=class_name, riders=riders)
    assert (decision is not None) == fires


@pytest.mark.parametrize(
    "parts, expected",
    [
        # the same motorcycle from two models: one box; a tricycle over a person: both stay
        ([[("motorcycle", (10, 10, 60, 90), 0.8)], [("motorcycle", (12, 11, 61, 92), 0.6)]], [("motorcycle", 0.8)]),
        ([[("person", (20, 0, 50, 60), 0.7)], [("tricycle", (10, 10, 80, 90), 0.9)]], [("person", 0.7), ("tricycle", 0.9)]),
        ([[("car", (0, 0, 50, 50), 0.5)], []], [("car", 0.5)]),
    ],
)
def test_class_merge_synthetic(parts, expected):
    dets = [
        Detections.from_names(np.array([b for _, b, _ in p], np.float32).reshape(-1, 4), [c for _, _, c in p], [n for n, _, _ in p])
        for p in parts
    ]
    merged = merge_models(dets, 0.5)
    assert sorted((str(n), round(float(c), 2)) for n, c in zip(merged.class_name, merged.confidence)) == expected


@pytest.mark.parametrize(
    "heading, roles",
    [(180.0, ["driver", "passenger"]), (0.0, ["passenger", "driver"]), (None, ["", ""])],  # heads at x 100 and 130
)
def test_roles_synthetic_by_direction_of_travel(heading, roles):
    assert roles_by_heading([(100, 50, 120, 70), (130, 52, 150, 72)], heading) == roles


class OneHeadModel:
    """Fake helmet model (no fixed input): a helmet head near the top-centre of what it is given."""

    def detect(self, images, conf=None):
        out = []
        for img in images:
            h, w = img.shape[:2]
            out.append(Detections.from_names(np.array([[0.3 * w, 0.3 * h, 0.7 * w, 0.7 * h]], np.float32), [0.6], ["head_helmet"]))
        return out


def test_read_riders_synthetic_pillion_twin_box_and_other_bike():
    """Two riders on bike 0 (one model head, one head derived from the pillion's person box); a
    partial second box of the driver adds no rider; a rider whose feet are far below bike 0 sits
    on a bike the detector missed and is not given to bike 0."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (400, 600, 3), dtype=np.uint8)  # texture: every head is sharp
    vehicles = Detections.from_names(np.array([[100, 200, 200, 300]], np.float32), [0.9], ["motorcycle"])
    persons = Detections.from_names(np.array([
        [105, 120, 150, 280],  # driver
        [106, 170, 151, 285],  # a partial second box of the driver (starts at the shoulders)
        [150, 125, 195, 282],  # pillion
        [110, 230, 170, 420],  # a rider of a bike behind, nearer the camera
    ], np.float32), [0.9] * 4, ["person"] * 4)
    heads = Detections.from_names(np.array([[112, 120, 140, 148]], np.float32), [0.8], ["head_no_helmet"])
    looks = read_riders(image, vehicles, persons, heads, np.array([True]), 0, 0.0, OneHeadModel(), headings=[0.0],
                        judge=HeadJudgeConfig(min_head_px=10, min_sharpness=0))
    (obs,) = looks.observations
    assert obs.count == 2 and obs.persons == 3
    by_source = {h.source: h for h in obs.heads}
    assert by_source["model"].status == "no_helmet" and by_source["person"].status == "helmet"
    assert by_source["person"].role == "driver" and by_source["model"].role == "passenger"  # heading 0: right is ahead
    derived = heads_from_persons(persons.xyxy[2:3], HeadJudgeConfig())[0]
    assert np.allclose(by_source["person"].box, derived)
