"""Rider counts from the engine to the store: every judged rider per camera and hour, for the
helmet-wearing rate (not only the riders of violations).

The engine hands out one ``RiderTally`` per ended two-wheeler track (``CameraPipeline.rider_tallies``).
A batch segment writes the tallies of the tracks it owns under its own source key, and a live
worker its running totals under one key per run; the store replaces a source's rows on each write,
so a re-run segment or a repeated write never counts a rider twice.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Iterable


def hour_of(wall: float) -> datetime:
    """Start of the UTC hour holding epoch second ``wall``."""
    return datetime.fromtimestamp(wall - wall % 3600, tz=timezone.utc)


def hourly(tallies: Iterable) -> dict[datetime, tuple[int, int, int]]:  # Iterable[pipelines.engine.RiderTally]
    """(judged, helmeted, unjudged) riders per UTC hour."""
    acc: dict[datetime, list[int]] = defaultdict(lambda: [0, 0, 0])
    for t in tallies:
        a = acc[hour_of(t.wall)]
        a[0] += t.judged
        a[1] += t.helmeted
        a[2] += t.unjudged
    return {h: (a[0], a[1], a[2]) for h, a in sorted(acc.items())}


class RiderCounts:
    """A live worker's running totals per camera, written to the store every ``every_s`` seconds."""

    def __init__(self, source: str, every_s: float = 60.0) -> None:
        self.source = source
        self.every_s = every_s
        self._tallies: dict[str, list] = defaultdict(list)
        self._dirty: set[str] = set()
        self._last = time.monotonic()

    def take(self, camera_id: str, pipeline) -> None:  # noqa: ANN001 - a CameraPipeline
        if pipeline.rider_tallies:
            self._tallies[camera_id].extend(pipeline.rider_tallies)
            pipeline.rider_tallies.clear()
            self._dirty.add(camera_id)

    def write(self, store, site_id: str, force: bool = False) -> None:  # noqa: ANN001 - a RecordStore
        if not self._dirty or (not force and time.monotonic() - self._last < self.every_s):
            return
        for camera_id in sorted(self._dirty):
            store.put_rider_counts(site_id, camera_id, self.source, hourly(self._tallies[camera_id]))
        self._dirty.clear()
        self._last = time.monotonic()
