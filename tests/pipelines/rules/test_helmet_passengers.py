"""Helmet and passenger rules on synthetic rider observations (temporal votes, thresholds, classes)."""

from __future__ import annotations

import pytest

from pipelines.rules import helmet, passengers
from tests.support import scenario as sc
from vision.riders import HeadObservation, RiderObservation

BIKE_OBS = sc.Vehicle(sc.pass_through_path(), size=(30, 50), class_name="motorcycle").observations(5.0)


def _head(helmet_on: bool, conf: float) -> HeadObservation:
    return HeadObservation(helmet=helmet_on, confidence=conf, box=(0.0, 0.0, 8.0, 8.0))


def looks_from(pattern: str, conf: float = 0.8, checked: bool = True):
    """'N' = a rider head without helmet, 'H' = with helmet, one character per detection frame."""
    it = iter(pattern)

    def riders(t, seq):
        c = next(it, None)
        if c is None:
            return None
        return RiderObservation(seq, t, persons=1, heads=(_head(c == "H", conf),), heads_checked=checked)

    return riders


@pytest.mark.parametrize(
    "pattern, conf, class_name, checked, fires",
    [
        ("NNN", 0.8, "motorcycle", True, True),
        ("HNHNN", 0.8, "motorcycle", True, True),  # 3 of the last 5
        ("NHNHH", 0.8, "motorcycle", True, False),  # 2 of 5: one bad frame cannot accuse
        ("NHHHHHN", 0.8, "motorcycle", True, False),
        ("NNN", 0.3, "motorcycle", True, False),  # below min_confidence
        ("NNN", 0.8, "e_bike", True, True),
        ("NNN", 0.8, "bicycle", True, False),  # not in the default classes
        ("NNN", 0.8, "car", True, False),
        ("NNN", 0.8, "motorcycle", False, False),  # the helmet model never looked
    ],
)
def test_helmet_synthetic_votes(pattern, conf, class_name, checked, fires):
    cfg = helmet.HelmetConfig()
    decision, _ = sc.replay(
        BIKE_OBS, lambda h: helmet.evaluate(h, [], cfg), class_name=class_name, riders=looks_from(pattern, conf, checked)
    )
    assert (decision is not None) == fires
    if fires:
        assert decision.rule == "helmet"
        assert decision.facts["no_helmet_votes"] >= 3
        assert decision.facts["riders_without_helmet"] == 1
        assert all(k.role == "violation" for k in decision.key_frames)


def test_helmet_synthetic_config_bounds():
    with pytest.raises(ValueError, match="k .* must not exceed n"):
        helmet.HelmetConfig(k=6, n=5)
    cfg = helmet.HelmetConfig(k=1, n=1, classes=["bicycle"])
    decision, _ = sc.replay(BIKE_OBS, lambda h: helmet.evaluate(h, [], cfg), class_name="bicycle", riders=looks_from("N"))
    assert decision is not None


def counts_from(counts: list[int]):
    it = iter(counts)

    def riders(t, seq):
        c = next(it, None)
        return None if c is None else RiderObservation(seq, t, persons=c)

    return riders


@pytest.mark.parametrize(
    "class_name, counts, fires, riders",
    [
        ("motorcycle", [3, 3, 3], True, 3),
        ("motorcycle", [2, 3, 2, 3, 2, 3], True, 3),  # 3 of the last 8
        ("motorcycle", [2, 3, 2, 2, 2, 2, 2, 2, 3, 2, 2, 2], False, 0),  # isolated spurious persons
        ("motorcycle", [2, 2, 2, 2], False, 0),
        ("e_bike", [4, 4, 3], True, 4),
        ("tricycle", [2, 2, 2], True, 2),
        ("tractor", [1, 1, 1, 1], False, 0),
        ("car", [5, 5, 5], False, 0),  # not limited
    ],
)
def test_passengers_synthetic_counts(class_name, counts, fires, riders):
    cfg = passengers.PassengersConfig()
    decision, _ = sc.replay(BIKE_OBS, lambda h: passengers.evaluate(h, [], cfg), class_name=class_name, riders=counts_from(counts))
    assert (decision is not None) == fires
    if fires:
        assert decision.facts["riders"] == riders
        assert decision.facts["max_allowed"] == cfg.max_people[class_name]


def test_passengers_synthetic_heads_count_as_riders():
    # persons merged by NMS (1) but the helmet model saw three heads: three riders
    heads = tuple(_head(True, 0.9) for _ in range(3))
    obs = iter([RiderObservation(i, 0.0, persons=1, heads=heads, heads_checked=True) for i in range(3)])
    cfg = passengers.PassengersConfig()
    decision, _ = sc.replay(
        BIKE_OBS,
        lambda h: passengers.evaluate(h, [], cfg),
        class_name="motorcycle",
        riders=lambda t, seq: (lambda o: None if o is None else RiderObservation(seq, t, o.persons, o.heads, True))(next(obs, None)),
    )
    assert decision is not None and decision.facts["riders"] == 3


def test_passengers_synthetic_unknown_class_rejected():
    with pytest.raises(ValueError, match="unknown vehicle classes"):
        passengers.PassengersConfig(max_people={"spaceship": 3})
