"""Capture lines on synthetic tracks: crossing, direction, the drawn segment's ends, one pass per track."""

from __future__ import annotations

import pytest

from pipelines.checkpoint.config import CaptureLineConfig
from pipelines.checkpoint.lines import CaptureLine

HORIZONTAL = ((100.0, 200.0), (500.0, 200.0))  # across a road running up and down the frame


def line(travel: str, points=HORIZONTAL) -> CaptureLine:
    return CaptureLine.of(CaptureLineConfig(id="stop", points=points, travel=travel), "由南向北", "2")


@pytest.mark.parametrize(("travel", "p0", "p1", "crossed"), [
    ("down", (300, 190), (300, 210), True),  # down across
    ("down", (300, 210), (300, 190), False),  # up across: wrong way
    ("up", (300, 210), (300, 190), True),
    ("up", (300, 190), (300, 210), False),
    ("any", (300, 190), (300, 210), True),
    ("any", (300, 210), (300, 190), True),
    ("down", (300, 180), (300, 195), False),  # approaching, not yet across
    ("down", (300, 190), (300, 200), True),  # onto the line counts once
    ("down", (300, 200), (300, 210), False),  # ... and leaving it is not a second crossing
    ("down", (600, 190), (600, 210), False),  # beyond the drawn segment's end
    ("down", (50, 190), (50, 210), False),
    ("down", (480, 190), (500, 210), True),  # diagonal move crossing inside the segment (at x=490)
    ("down", (490, 190), (520, 210), False),  # diagonal move crossing at x=505: past the end
])
def test_synthetic_crossing_and_direction(travel, p0, p1, crossed):
    assert (line(travel).crossing(p0, p1) is not None) is crossed


def test_synthetic_crossing_point_is_interpolated():
    u = line("down").crossing((300, 190), (300, 230))
    assert u == pytest.approx(0.25)


def test_synthetic_slanted_line_left_travel():
    slanted = line("left", ((300.0, 50.0), (250.0, 350.0)))
    assert slanted.crossing((320, 200), (250, 200)) is not None
    assert slanted.crossing((250, 200), (320, 200)) is None


def test_labels_come_from_the_line_then_the_camera():
    cfg = CaptureLineConfig(id="l", points=HORIZONTAL, travel="down", direction="由北向南", lane="3")
    assert (CaptureLine.of(cfg, "由南向北", "1").direction, CaptureLine.of(cfg, "", None).lane) == ("由北向南", "3")
    plain = CaptureLine.of(CaptureLineConfig(id="l", points=HORIZONTAL), "", None)
    assert (plain.direction, plain.lane) == ("向下", "")


@pytest.mark.parametrize(("points", "travel", "message"), [
    (((100, 200), (105, 200)), "down", "at least 10 px"),
    (((300, 50), (300, 350)), "down", "runs along this line"),
])
def test_unusable_lines_are_refused(points, travel, message):
    with pytest.raises(ValueError, match=message):
        CaptureLineConfig(id="x", points=points, travel=travel)


def test_a_track_walked_down_the_frame_crosses_exactly_once():
    stop = line("down")
    ys = [150 + 8 * i for i in range(20)] + [300 - 8 * i for i in range(5)]  # down, then jitters back up a little
    pts = [(300.0, float(y)) for y in ys]
    crossings = [i for i, (a, b) in enumerate(zip(pts, pts[1:])) if stop.crossing(a, b) is not None]
    assert len(crossings) == 1


def test_site_file_capture_lines_are_checked_against_the_frame():
    from pipelines.config import parse_site
    from tests.support.checkpoint import checkpoint_site_doc

    site = parse_site(checkpoint_site_doc())
    assert site.cameras[0].capture_lines[0].id == "stop"
    doc = checkpoint_site_doc()
    doc["cameras"][0]["capture_lines"].append({"id": "stop", "points": [[0, 10], [1200, 10]], "travel": "down"})
    with pytest.raises(ValueError, match="capture_lines.1.id: duplicate line id 'stop'"):
        parse_site(doc)
    doc["cameras"][0]["capture_lines"][1]["id"] = "far"
    doc["cameras"][0]["capture_lines"][1]["points"][1] = [1300, 10]
    with pytest.raises(ValueError, match=r"capture_lines.1.points.1: point \(1300, 10\) is outside the 1280x704 frame"):
        parse_site(doc)
