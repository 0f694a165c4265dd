"""Rider crops for the helmet model and the rider-eval scoring, on synthetic images and observations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipelines.eval.riders import BikeResult, rider_pairs, score_bikes
from vision.detections import Detections
from vision.riders import (
    HeadCropConfig,
    HeadObservation,
    RiderObservation,
    look_for_heads,
    rider_regions,
)

RED, GREEN = (0, 0, 255), (0, 255, 0)  # BGR: painted "no-helmet" and "helmet" heads


class PaintedHeads:
    """Fake helmet model with a fixed 640x640 input: a red square is a no-helmet head, a green one a helmet."""

    width = height = 640

    def __init__(self):
        self.inputs: list[tuple[int, int]] = []

    def detect(self, images):
        out = []
        for img in images:
            self.inputs.append(img.shape[:2])
            boxes, names = [], []
            for colour, name in ((RED, "head_no_helmet"), (GREEN, "head_helmet")):
                mask = cv2.inRange(img, np.array(colour) - 40, np.array(colour) + 40)
                n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
                for x, y, w, h, area in stats[1:]:
                    if area >= 4:
                        boxes.append([x, y, x + w, y + h])
                        names.append(name)
            out.append(Detections.from_names(np.array(boxes, np.float32).reshape(-1, 4), [0.9] * len(boxes), names))
        return out


def _street(heads):
    """A grey 1280x720 frame with painted square heads: [(x1, y1, size, colour)]."""
    img = np.full((720, 1280, 3), 90, np.uint8)
    for x, y, s, colour in heads:
        img[y : y + s, x : x + s] = colour
    return img


@pytest.mark.parametrize(
    "tile, crop_height, calls",
    [
        (True, 192, 1),  # four rider crops packed into one model input
        (False, 192, 4),  # one input per crop
        (True, 640, 4),  # crops as tall as the input cannot share it
    ],
)
def test_riders_synthetic_heads_packed_and_mapped_back(tile, crop_height, calls):
    heads = [(100, 100, 16, RED), (400, 120, 14, GREEN), (700, 300, 20, RED), (1000, 500, 12, GREEN)]
    img = _street(heads)
    regions = np.array([[x - 40, y - 20, x + s + 40, y + s + 140] for x, y, s, _ in heads], np.float32)
    det = PaintedHeads()
    looks = look_for_heads(img, regions, det, HeadCropConfig(tile=tile, crop_height_px=crop_height, max_upscale=4.0))
    assert looks.model_calls == calls == len(det.inputs)
    assert all(shape == (640, 640) for shape in det.inputs)
    for (x, y, s, colour), found in zip(heads, looks.per_region):
        assert len(found) == 1
        assert found.class_name[0] == ("head_no_helmet" if colour == RED else "head_helmet")
        np.testing.assert_allclose(found.xyxy[0], [x, y, x + s, y + s], atol=2.0)  # back in frame pixels
    assert len(looks.heads) == 4


def test_riders_synthetic_overlapping_regions_keep_one_head():
    img = _street([(300, 200, 16, RED)])
    regions = np.array([[250, 150, 360, 400], [280, 160, 400, 420]], np.float32)  # both contain the head
    looks = look_for_heads(img, regions, PaintedHeads())
    assert [len(r) for r in looks.per_region] == [1, 1]
    assert len(looks.heads) == 1


def test_riders_synthetic_detector_without_fixed_input_gets_raw_crops():
    class AnySize:
        def __init__(self):
            self.shapes = []

        def detect(self, images):
            self.shapes += [im.shape[:2] for im in images]
            return [Detections.from_names(np.array([[2, 2, 10, 10]], np.float32), [0.8], ["head_no_helmet"]) for _ in images]

    det = AnySize()
    looks = look_for_heads(_street([]), np.array([[100, 50, 160, 250], [300, 60, 340, 200]], np.float32), det)
    assert det.shapes == [(200, 60), (140, 40)]
    np.testing.assert_allclose(looks.per_region[1].xyxy[0], [302, 62, 310, 70])


def test_riders_synthetic_regions_cover_riders_or_extend_up():
    bikes = np.array([[100, 300, 160, 380], [400, 300, 460, 380]], np.float32)
    persons = Detections.from_names(np.array([[95, 200, 150, 360]], np.float32), [0.9], ["person"])
    cfg = HeadCropConfig(margin=0.1)
    regions = rider_regions(bikes, persons, (1280, 720), crop=cfg)
    # bike 0: its rider's box united with the bike, grown 10% on the sides and top, bottom unchanged
    np.testing.assert_allclose(regions[0], [95 - 6.5, 200 - 18, 160 + 6.5, 380], atol=1e-3)
    # bike 1 has no detected rider: the upward-extended box (1.2 heights up, 15% each side)
    np.testing.assert_allclose(regions[1], [391, 204, 469, 380], atol=1e-3)
    clipped = rider_regions(np.array([[0, 10, 50, 60]], np.float32), Detections.empty(), (1280, 720))
    assert clipped[0, 0] == 0 and clipped[0, 1] == 0


@pytest.mark.parametrize(
    "labels, heads, pairs, extra",
    [
        (["helmet", "no_helmet"], ["no_helmet", "helmet"], [("helmet", "helmet"), ("no_helmet", "no_helmet")], 0),  # order-free
        (["no_helmet", "no_helmet", "no_helmet"], ["no_helmet"], [("no_helmet", "no_helmet"), ("no_helmet", "missed"), ("no_helmet", "missed")], 0),
        (["helmet"], ["no_helmet", "helmet"], [("helmet", "helmet")], 1),
        (["unclear", "no_helmet"], ["helmet"], [("no_helmet", "helmet"), ("unclear", "missed")], 0),  # definite labels first
        (["no_helmet", "helmet"], ["not_judgeable", "helmet"], [("helmet", "helmet"), ("no_helmet", "not_judgeable")], 0),
    ],
)
def test_riders_synthetic_rider_pairing(labels, heads, pairs, extra):
    got, more = rider_pairs(labels, heads)
    assert sorted(got) == sorted(pairs) and more == extra


def _bike(riders, helmets, persons, heads, checked=True):
    """heads: (H | N | S, confidence); S = a head too small to judge."""
    if persons is None:
        return BikeResult("f.jpg", (0, 0, 1, 1), riders, tuple(helmets), None)
    obs = RiderObservation(
        0, 0.0, persons, tuple(HeadObservation(h == "H", c, (0, 0, 1, 1), reason="small" if h == "S" else "") for h, c in heads),
        heads_checked=checked,
    )
    return BikeResult("f.jpg", (0, 0, 1, 1), riders, tuple(helmets), obs)


def test_riders_synthetic_score_bikes():
    bikes = [
        _bike(1, ["helmet"], 1, [("H", 0.8)]),  # right
        _bike(2, ["helmet", "helmet"], 1, [("H", 0.7), ("H", 0.6)]),  # heads fix a merged person
        _bike(3, ["no_helmet"] * 3, 1, [("N", 0.7)]),  # passenger missed, no-helmet found
        _bike(1, ["no_helmet"], 1, [("N", 0.3)]),  # no-helmet below min_confidence: missed
        _bike(1, ["helmet"], 3, [("N", 0.9)]),  # false passenger and false no-helmet
        _bike(1, ["unclear"], 1, [("N", 0.9)]),  # unclear: not scored per bike
        _bike(1, ["helmet"], 1, [("N", 0.9)], checked=False),  # helmet model never looked: not scored
        _bike(2, ["helmet", "helmet"], None, []),  # no detected bike matched
        _bike(1, ["no_helmet"], 1, [("S", 0.9)]),  # too small to judge: counted, never scored
    ]
    s = score_bikes(bikes, min_confidence=0.5, max_people=2)
    assert s["count_exact"] == pytest.approx(6 / 8)  # unmatched bike excluded; 3 riders seen as 1, 1 as 3
    assert s["count_within_1"] == pytest.approx(6 / 8)
    assert s["count_confusion"]["3"] == {"1": 1}
    assert (s["passengers"]["tp"], s["passengers"]["fp"], s["passengers"]["fn"], s["passengers"]["positives"]) == (0, 1, 1, 1)
    nh = s["no_helmet_bikes"]  # the small head accuses no one: a missed positive
    assert (nh["tp"], nh["fp"], nh["fn"], nh["positives"]) == (1, 1, 2, 3)
    assert s["helmet_checked"] == 7
    # a no-helmet head below min_confidence reads as helmet (no accusation)
    assert s["rider_confusion"]["no_helmet"] == {"helmet": 1, "no_helmet": 1, "not_judgeable": 1, "missed": 2}
    assert s["rider_confusion"]["helmet"] == {"helmet": 3, "no_helmet": 1, "not_judgeable": 0, "missed": 0}
    assert s["rider_confusion"]["unclear"] == {"helmet": 0, "no_helmet": 1, "not_judgeable": 0, "missed": 0}
    nr = s["no_helmet_riders"]  # per judged rider: tp, fp (helmet read as no-helmet), fn (no-helmet read as helmet)
    assert (nr["tp"], nr["fp"], nr["fn"]) == (1, 1, 1)
    # judged share over every labelled rider (unmatched and unlooked bikes included)
    assert (s["labelled_riders"], s["judged_riders"]) == (13, 7) and s["judged_share"] == pytest.approx(7 / 13)


def test_riders_synthetic_region_off_the_frame_is_skipped():
    img = _street([(300, 200, 16, RED)])
    det = PaintedHeads()
    looks = look_for_heads(img, np.array([[1290, 10, 1300, 50], [250, 150, 360, 400]], np.float32), det)
    assert [len(r) for r in looks.per_region] == [0, 1] and looks.model_calls == 1
    empty = look_for_heads(img, np.array([[1290, 10, 1300, 50]], np.float32), det)
    assert empty.model_calls == 0 and len(empty.heads) == 0 and len(det.inputs) == 1
