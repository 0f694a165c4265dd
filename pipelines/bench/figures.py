"""Figures over repeated runs, timings, and the clocks the bench reads (wall, CPU, peak RSS)."""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            out.extend(int(c) for c in text.split())
    except (OSError, ValueError):
        pass
    return out


def _tree(pid: int | None = None) -> list[int]:
    todo, seen = [pid or os.getpid()], []
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.append(p)
            todo.extend(_children(p))
    return seen


def tree_cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) a process and its living descendants have used so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, ValueError, IndexError):
            pass
    return total / tick


def tree_rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process and all its descendants now (the FFmpeg decoders and recorders
    a worker starts count too); Linux /proc, NaN elsewhere."""
    if not Path("/proc/self/status").exists():
        return float("nan")
    return sum(_rss_kib(p) for p in _tree(pid)) / 1024.0


class RssSampler:
    """Samples ``tree_rss_mb`` every ``interval_s`` in a thread; ``peak_mb`` is the highest seen."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak_mb = max(self.peak_mb, tree_rss_mb())
