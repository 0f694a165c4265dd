"""Clone detection with two sites: impossible speed from the sites' coordinates, plate colour and
vehicle class, and what must not raise a suspicion."""

from __future__ import annotations

import pytest

from evidence.checkpoint.values import NewPass, PassRecord
from pipelines.checkpoint.clone import haversine_km, suspect_clone
from pipelines.checkpoint.config import CloneConfig
from tests.support.checkpoint import T0, capture, plate

# Two sites 20.0 km apart on one meridian (0.18 degree of latitude)
SITE_A = (30.00, 120.0)
SITE_B = (30.18, 120.0)


def rec(site, seconds, facts=None, cls="car", key="") -> NewPass:
    lat, lon = site
    p = NewPass.of(capture(facts or plate("浙A12345"), seconds=seconds, site="b" if site == SITE_B else "a",
                           lat=lat, lon=lon, cls=cls, track=int(seconds) + 1).event, None, None)
    return p


def earlier(p: NewPass) -> PassRecord:
    return PassRecord(**p.model_dump(), created_at=T0)


def test_sites_are_twenty_km_apart():
    assert haversine_km(*SITE_A, *SITE_B) == pytest.approx(20.0, abs=0.05)


@pytest.mark.parametrize(("minutes", "kind"), [(3, "clone_speed"), (5, "clone_speed"), (7, None), (30, None)])
def test_impossible_speed_between_two_sites(minutes, kind):
    # 20 km in 5 min = 240 km/h > 200; in 7 min = 171 km/h: possible
    first = earlier(rec(SITE_A, 0))
    found = suspect_clone(rec(SITE_B, minutes * 60), [first], CloneConfig())
    assert (found.kind if found else None) == kind
    if found:
        assert found.other.pass_key == first.pass_key and found.details["distance_km"] == pytest.approx(20.0, abs=0.05)


def test_max_speed_is_configurable():
    first = earlier(rec(SITE_A, 0))
    assert suspect_clone(rec(SITE_B, 420), [first], CloneConfig(max_speed_kmh=150)).kind == "clone_speed"


def test_close_sites_are_not_compared_by_speed():
    near = (30.001, 120.0)  # ~110 m
    assert suspect_clone(rec(near, 5), [earlier(rec(SITE_A, 0))], CloneConfig()) is None


def test_other_plate_colour_or_vehicle_class_at_any_distance():
    first = earlier(rec(SITE_A, 0))
    yellow = rec(SITE_A, 3600, plate("浙A12345", color="yellow"))
    assert suspect_clone(yellow, [first], CloneConfig()).kind == "clone_color"
    truck = rec(SITE_A, 3600, cls="truck")
    assert suspect_clone(truck, [first], CloneConfig()).kind == "clone_class"
    assert suspect_clone(truck, [first], CloneConfig(compare_class=False)) is None
    # classes in one group are one vehicle class (the detector wavers between them)
    moto = earlier(rec(SITE_A, 0, cls="motorcycle"))
    assert suspect_clone(rec(SITE_A, 3600, cls="e_bike"), [moto], CloneConfig()) is None


def test_speed_is_the_strongest_sign():
    first = earlier(rec(SITE_A, 0))
    both = rec(SITE_B, 60, plate("浙A12345", color="yellow"))
    assert suspect_clone(both, [first], CloneConfig()).kind == "clone_speed"


def test_unconfirmed_reads_prove_nothing():
    first = earlier(rec(SITE_A, 0))
    maybe = rec(SITE_B, 60, plate(None, "unconfirmed", ("浙A12345",)))
    assert suspect_clone(maybe, [first], CloneConfig()) is None
    assert suspect_clone(rec(SITE_B, 60), [earlier(rec(SITE_A, 0, plate(None, "unconfirmed", ("浙A12345",))))],
                         CloneConfig()) is None


def test_disabled():
    assert suspect_clone(rec(SITE_B, 60), [earlier(rec(SITE_A, 0))], CloneConfig(enabled=False)) is None
