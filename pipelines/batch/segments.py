"""Splitting long recordings into overlapping segments, and who owns an event found in two of them.

Each segment has a *core* and a decoded *window*. Cores tile the file without gaps or overlap:
``[0, N)``, ``[N, 2N)``, ... and the last core runs to the end of the file. The window adds the
overlap ``M`` on both sides: the lead-in lets tracks warm up before the core starts; the tail lets a
violation that started inside the core finish after it.

Ownership: an event belongs to the segment whose core contains its start time. The same
violation seen by the next segment (it started in that segment's lead-in) is dropped there, so a
violation spanning a cut is recorded once. This holds when ``M`` is at least the longest time from
a violation's start to its decision (the parking dwell, for example); ``recommended_overlap`` says
how much a site needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A last core shorter than this share of a segment is merged into the previous one.
MIN_LAST_CORE_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class SegmentWindow:
    """One planned segment of a file, in file seconds (pts). ``end``/``core_end`` None: to the end of the file."""

    index: int
    count: int  # segments in the file
    start: float  # decode from here (core_start - overlap, clamped at 0)
    end: float | None  # decode until here (core_end + overlap), None for the last
    core_start: float
    core_end: float | None

    @property
    def core_seconds(self) -> float | None:
        return None if self.core_end is None else self.core_end - self.core_start

    def owns(self, start_pts: float) -> bool:
        """True when an event starting at ``start_pts`` (file seconds) belongs to this segment."""
        return owns(self, start_pts)


def plan_segments(duration: float | None, segment_seconds: float | None, overlap_seconds: float = 0.0) -> list[SegmentWindow]:
    """Segments for a file of ``duration`` seconds. No duration or no segment length: one segment.

    >>> [(s.core_start, s.core_end) for s in plan_segments(700, 300, 30)]
    [(0.0, 300.0), (300.0, None)]
    """
    if segment_seconds is not None and segment_seconds <= 0:
        raise ValueError(f"segment length must be > 0 s, got {segment_seconds}")
    if overlap_seconds < 0:
        raise ValueError(f"overlap must be >= 0 s, got {overlap_seconds}")
    if duration is None or segment_seconds is None or duration <= segment_seconds:
        return [SegmentWindow(index=0, count=1, start=0.0, end=None, core_start=0.0, core_end=None)]
    n = math.ceil(duration / segment_seconds - 1e-9)
    if n > 1 and duration - (n - 1) * segment_seconds < MIN_LAST_CORE_SHARE * segment_seconds:
        n -= 1  # a sliver at the end rides with the previous segment
    out: list[SegmentWindow] = []
    for i in range(n):
        core_start = i * segment_seconds
        last = i == n - 1
        core_end = None if last else (i + 1) * segment_seconds
        out.append(
            SegmentWindow(
                index=i,
                count=n,
                start=max(0.0, core_start - overlap_seconds),
                end=None if core_end is None else core_end + overlap_seconds,
                core_start=float(core_start),
                core_end=None if core_end is None else float(core_end),
            )
        )
    return out


def owns(segment: SegmentWindow, start_pts: float) -> bool:
    """Ownership rule (module docstring). The first core starts at -inf, the last ends at +inf, so
    every event has exactly one owner however its start time rounds."""
    low = -math.inf if segment.index == 0 else segment.core_start
    high = math.inf if segment.core_end is None else segment.core_end
    return low <= start_pts < high


def recommended_overlap(longest_event_seconds: float, margin_seconds: float = 15.0) -> float:
    """Overlap so that an event starting at the very end of a core still completes in that segment."""
    return max(0.0, longest_event_seconds) + margin_seconds
