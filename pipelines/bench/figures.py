"""Figures over repeated runs, timings, and the clocks the bench reads (wall, CPU, peak RSS)."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

BenchLog = Callable[[str], None]
"""Receives one line of bench progress text (the CLI prints it to stderr, or drops it with --json)."""


class BenchError(RuntimeError):
    """The benchmark cannot run (bad input, missing model, crashed worker); one line for the CLI."""


@dataclass(frozen=True)
class Figure:
    """One figure over repeated runs."""

    mean: float
    min: float
    max: float
    stdev: float
    runs: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> "Figure":
        vals = tuple(float(v) for v in values)
        if not vals:
            raise ValueError("a figure needs at least one run")
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return cls(statistics.fmean(vals), min(vals), max(vals), sd, vals)

    def as_dict(self, digits: int = 4) -> dict:
        r = lambda v: round(v, digits)  # noqa: E731
        return {"mean": r(self.mean), "min": r(self.min), "max": r(self.max), "stdev": r(self.stdev), "runs": [r(v) for v in self.runs]}


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds (this process plus waited-for children) of one measured run."""

    frames: int
    wall_s: float
    cpu_s: float

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.wall_s / max(self.frames, 1)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else float("inf")


class TimedFrames:
    """A source's frames, adding the time spent waiting for each one to ``wait_s`` (decode cost seen by the loop)."""

    def __init__(self, source) -> None:  # noqa: ANN001 - any object with .frames()
        self._it = source.frames()
        self.wait_s = 0.0

    def __iter__(self):  # noqa: ANN204
        while True:
            t = time.perf_counter()
            frame = next(self._it, None)
            self.wait_s += time.perf_counter() - t
            if frame is None:
                return
            yield frame


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
