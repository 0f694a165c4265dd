"""Rider association by geometry: who rides which two-wheeler (synthetic boxes)."""

from __future__ import annotations

import numpy as np
import pytest

from vision.detections import Detections
from vision.riders import associate_riders, head_observations

BIKE = [100, 200, 140, 260]  # COCO motorcycle box: the bike, riders rise above it
BIKE2 = [150, 200, 190, 260]


def D(boxes, names, conf=0.9):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections.from_names(boxes, [conf] * len(boxes), names)


@pytest.mark.parametrize(
    "name, vehicles, persons, heads, expected_persons, expected_heads",
    [
        ("one_rider", [BIKE], [[102, 150, 138, 240]], [], [1], [0]),
        ("rider_and_pillion", [BIKE], [[100, 150, 130, 240], [112, 148, 142, 238]], [], [2], [0]),
        ("pedestrian_beside", [BIKE], [[200, 150, 230, 260]], [], [0], [0]),
        ("person_far_above", [BIKE], [[105, 20, 135, 110]], [], [0], [0]),  # on the pavement behind
        ("two_bikes_each_one", [BIKE, BIKE2], [[102, 150, 138, 240], [152, 150, 188, 240]], [], [1, 1], [0, 0]),
        ("head_above_seat", [BIKE], [], [[112, 152, 126, 166]], [0], [1]),
        ("head_below_seat", [BIKE], [], [[112, 245, 126, 258]], [0], [0]),  # a wheel, not a head
        ("heads_split_between_bikes", [BIKE, BIKE2], [], [[112, 152, 126, 166], [162, 152, 176, 166]], [0, 0], [1, 1]),
        # cctv-style box that covers bike and riders: heads in its top part count
        ("box_covers_riders", [[100, 120, 150, 260]], [], [[115, 125, 130, 140], [118, 140, 133, 155]], [0], [2]),
    ],
)
def test_riders_synthetic_association(name, vehicles, persons, heads, expected_persons, expected_heads):
    v = D(vehicles, ["motorcycle"] * len(vehicles))
    p = D(persons, ["person"] * len(persons)) if persons else Detections.empty()
    h = D(heads, ["head_no_helmet"] * len(heads)) if heads else Detections.empty()
    sets = associate_riders(v, p, h)
    assert [len(s.persons) for s in sets] == expected_persons
    assert [len(s.heads) for s in sets] == expected_heads


def test_riders_synthetic_each_person_once():
    # one person straddling two touching bikes counts on exactly one of them
    v = D([BIKE, [135, 200, 175, 260]], ["motorcycle", "motorcycle"])
    p = D([[118, 150, 156, 240]], ["person"])
    sets = associate_riders(v, p, Detections.empty())
    assert sum(len(s.persons) for s in sets) == 1


def test_riders_synthetic_head_observations():
    h = Detections.from_names(np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32), [0.7, 0.9], ["head_helmet", "head_no_helmet"])
    obs = head_observations(h, (0, 1))
    assert [o.helmet for o in obs] == [True, False]
    assert obs[1].confidence == pytest.approx(0.9)
