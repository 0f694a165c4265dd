"""Segment planning and event ownership (pure functions, synthetic numbers)."""

from __future__ import annotations

import math

import pytest

from pipelines.batch.segments import SegmentWindow, owns, plan_segments, recommended_overlap


def cores(windows):
    return [(w.core_start, w.core_end) for w in windows]


def spans(windows):
    return [(w.start, w.end) for w in windows]


@pytest.mark.parametrize(
    "duration,segment,overlap,expected_cores,expected_spans",
    [
        (None, 300, 30, [(0.0, None)], [(0.0, None)]),  # unknown duration: one segment
        (120, 300, 30, [(0.0, None)], [(0.0, None)]),  # shorter than a segment
        (300, 300, 30, [(0.0, None)], [(0.0, None)]),  # exactly one
        (100, None, 30, [(0.0, None)], [(0.0, None)]),  # splitting off
        (700, 300, 30, [(0.0, 300.0), (300.0, 600.0), (600.0, None)], [(0.0, 330.0), (270.0, 630.0), (570.0, None)]),
        (650, 300, 30, [(0.0, 300.0), (300.0, None)], [(0.0, 330.0), (270.0, None)]),  # 50 s sliver merged into the last
        (900, 300, 0, [(0.0, 300.0), (300.0, 600.0), (600.0, None)], [(0.0, 300.0), (300.0, 600.0), (600.0, None)]),
        (
            1000, 300, 60,
            [(0.0, 300.0), (300.0, 600.0), (600.0, 900.0), (900.0, None)],
            [(0.0, 360.0), (240.0, 660.0), (540.0, 960.0), (840.0, None)],
        ),
        (10, 4, 5, [(0.0, 4.0), (4.0, 8.0), (8.0, None)], [(0.0, 9.0), (0.0, 13.0), (3.0, None)]),  # overlap > core: clamped at 0
    ],
)
def test_synthetic_plan_segments(duration, segment, overlap, expected_cores, expected_spans):
    windows = plan_segments(duration, segment, overlap)
    assert cores(windows) == expected_cores
    assert spans(windows) == expected_spans
    assert [w.index for w in windows] == list(range(len(windows)))
    assert all(w.count == len(windows) for w in windows)


@pytest.mark.parametrize("duration,segment,overlap", [(3600, 300, 75), (3599.9, 300, 75), (1234.5, 60, 10), (61, 60, 5)])
def test_synthetic_cores_tile_the_file_without_gaps(duration, segment, overlap):
    windows = plan_segments(duration, segment, overlap)
    assert windows[0].core_start == 0.0 and windows[-1].core_end is None
    for a, b in zip(windows, windows[1:]):
        assert a.core_end == b.core_start
        assert a.end is not None and a.end - a.core_end == overlap  # tail overlap
        assert b.core_start - b.start == min(overlap, b.core_start)  # lead-in


@pytest.mark.parametrize("bad", [dict(segment_seconds=0), dict(segment_seconds=-5), dict(overlap_seconds=-1)])
def test_synthetic_plan_rejects_bad_values(bad):
    kwargs = dict(duration=100.0, segment_seconds=10.0, overlap_seconds=1.0) | bad
    with pytest.raises(ValueError):
        plan_segments(**kwargs)


THREE = plan_segments(900, 300, 30)  # cores [0,300) [300,600) [600,end)


@pytest.mark.parametrize(
    "start_pts,owner",
    [
        (-0.02, 0),  # a first frame with a slightly negative pts still has an owner
        (0.0, 0),
        (150.0, 0),
        (285.0, 0),  # decided in segment 0's tail overlap; segment 1 sees it in its lead-in and drops it
        (299.999, 0),
        (300.0, 1),  # the cut itself belongs to the later core
        (310.0, 1),  # segment 0 saw it in its tail overlap and drops it
        (599.9, 1),
        (600.0, 2),
        (1e6, 2),  # past the planned duration (the container under-reported it): the last segment
    ],
)
def test_synthetic_every_event_start_has_exactly_one_owner(start_pts, owner):
    owners = [w.index for w in THREE if owns(w, start_pts)]
    assert owners == [owner]
    assert THREE[owner].owns(start_pts)


def test_synthetic_single_segment_owns_everything():
    (only,) = plan_segments(None, 300, 30)
    assert all(owns(only, t) for t in (-1.0, 0.0, 1e9))
    assert only.core_seconds is None


def test_synthetic_recommended_overlap_covers_the_slowest_rule():
    assert recommended_overlap(70.0) == 85.0
    assert recommended_overlap(0.0, margin_seconds=5.0) == 5.0
    window = SegmentWindow(index=1, count=3, start=215.0, end=685.0, core_start=300.0, core_end=600.0)
    assert window.core_seconds == 300.0
    assert not math.isinf(window.end)
