"""The units a batch hands out and gets back, and the pluggable function that processes a segment.

Jobs and results are pydantic models serialised as JSON, so the same values travel through a local
process pool, a Redis stream, and the SQLite ledger. What happens to a segment is a
``SegmentProcessor`` built once per worker process from a ``ProcessorSpec`` ("module:factory" plus
JSON options): the real one runs the engine and writes evidence and records
(``pipelines.batch.engine_processor``); ``decode`` only decodes (validates files, measures decode
speed); tests plug in their own.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, Field

from models.strict import StrictModel
from pipelines.batch.segments import SegmentWindow

log = logging.getLogger(__name__)

SegmentStatus = Literal["done", "failed", "error"]
# done: processed (possibly with events); failed: the file is damaged here (DecodeError) - permanent
# for this file content, not retried; error: anything else (a crash, a bug, a full disk) - retried.


class DecodeSettings(StrictModel):
    """How frames are decoded for a batch; part of the job identity."""

    model_config = ConfigDict(frozen=True)
    stride: int | None = Field(None, ge=1)
    target_fps: float | None = Field(None, gt=0)
    scale: float | None = Field(None, gt=0)
    max_width: int | None = Field(None, gt=0)
    hwaccel: str = "auto"
    start_time: datetime | None = None  # wall clock of the recording start, for every file (rarely right for many)


class SegmentJob(StrictModel):
    """One segment of one file, with everything a worker on any machine needs to process it."""

    model_config = ConfigDict(frozen=True)
    batch_id: str
    job_key: str  # identity of the processing settings (site, decode settings, segment plan)
    file_key: str  # identity of the file content (size + sampled hash)
    path: str
    camera_id: str
    index: int
    count: int
    start: float
    end: float | None
    core_start: float
    core_end: float | None
    duration: float | None  # of the whole file
    decode: DecodeSettings = Field(default_factory=DecodeSettings)
    site_fingerprint: str = ""  # the coordinator's site file (plan.site_fingerprint); a worker with another refuses it

    @property
    def segment_id(self) -> str:
        return f"{self.file_key}#{self.index}"

    @property
    def window(self) -> SegmentWindow:
        return SegmentWindow(self.index, self.count, self.start, self.end, self.core_start, self.core_end)

    @property
    def footage_seconds(self) -> float:
        """Seconds of footage this segment accounts for (its core)."""
        end = self.core_end if self.core_end is not None else self.duration
        return max(0.0, (end or 0.0) - self.core_start)


class SegmentResult(StrictModel):
    """What processing one segment produced; counts are of events this segment owns."""

    segment_id: str
    batch_id: str
    job_key: str
    file_key: str
    path: str
    index: int
    status: SegmentStatus
    frames: int = 0
    footage_seconds: float = 0.0
    events: int = 0  # owned events (violations found in this segment's core)
    dropped: int = 0  # events seen in an overlap and left to the neighbouring segment
    new_records: int = 0  # records created (0 on a re-run: keys are idempotent)
    by_rule: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    elapsed_s: float = 0.0
    worker: str = ""


ProgressFn = Callable[[float, int], None]  # (core seconds done in this segment, frames done) - cumulative


class SegmentProcessor(Protocol):
    """Built once per worker process (models loaded once), then called for each segment."""

    def process(self, job: SegmentJob, progress: ProgressFn) -> SegmentResult: ...

    def close(self) -> None: ...


class ProcessorSpec(StrictModel):
    """An importable factory and its JSON options: picklable and sendable to any worker."""

    model_config = ConfigDict(frozen=True)
    factory: str  # "package.module:callable" or a short name from BUILTIN_PROCESSORS
    options: dict[str, Any] = Field(default_factory=dict)

    def _factory(self):  # noqa: ANN202
        target = BUILTIN_PROCESSORS.get(self.factory, self.factory)
        module_name, _, attr = target.partition(":")
        if not module_name or not attr:
            raise ValueError(f"processor {self.factory!r} is not 'package.module:factory'")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"processor {self.factory!r}: cannot import {module_name} ({exc})") from None
        factory = getattr(module, attr, None)
        if factory is None:
            raise ValueError(f"processor {self.factory!r}: {module_name} has no {attr}")
        return factory

    def check(self) -> None:
        """Fail fast in the coordinator (bad site, missing model or key) instead of in every worker.
        Calls the factory's ``check(**options)`` when it has one."""
        factory = self._factory()
        check = getattr(factory, "check", None)
        if callable(check):
            check(**self.options)

    def load(self) -> SegmentProcessor:
        return self._factory()(**self.options)


BUILTIN_PROCESSORS = {
    "engine": "pipelines.batch.engine_processor:EngineProcessor",
    "decode": "pipelines.batch.jobs:DecodeOnlyProcessor",
}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Throttle:
    """Calls ``fn`` at most every ``interval`` seconds (and always on ``flush``)."""

    def __init__(self, fn: ProgressFn, interval: float = 0.5):
        self.fn, self.interval, self._last, self._pending = fn, interval, 0.0, None

    def __call__(self, seconds: float, frames: int) -> None:
        now = time.monotonic()
        self._pending = (seconds, frames)
        if now - self._last >= self.interval:
            self._last = now
            self.fn(seconds, frames)
            self._pending = None

    def flush(self) -> None:
        if self._pending is not None:
            self.fn(*self._pending)
            self._pending = None


def run_segment(processor: SegmentProcessor, job: SegmentJob, progress: ProgressFn | None = None) -> SegmentResult:
    """Process one segment; never raises. A bad file or a bug becomes a result with a reason."""
    t0 = time.monotonic()
    throttle = Throttle(progress or (lambda s, f: None))
    try:
        result = processor.process(job, throttle)
    except Exception as exc:  # noqa: BLE001 - one segment must never stop a batch
        log.error("segment %s of %s failed unexpectedly:\n%s", job.index, job.path, traceback.format_exc())
        result = SegmentResult(
            segment_id=job.segment_id, batch_id=job.batch_id, job_key=job.job_key, file_key=job.file_key,
            path=job.path, index=job.index, status="error", error=f"{type(exc).__name__}: {exc}".splitlines()[0],
        )
    throttle.flush()
    result.elapsed_s = time.monotonic() - t0
    result.worker = result.worker or worker_name()
    return result


def new_result(job: SegmentJob, **fields: Any) -> SegmentResult:
    return SegmentResult(
        segment_id=job.segment_id, batch_id=job.batch_id, job_key=job.job_key, file_key=job.file_key,
        path=job.path, index=job.index, **fields,
    )


def open_source(job: SegmentJob, *, clock: Any = None, size: tuple[int, int] | None = None):  # noqa: ANN201 - FileSource
    """The FileSource for a job's decode window and settings (``size``: exact output size)."""
    from vision.sources.file import FileSource

    d = job.decode
    return FileSource(
        job.path, job.camera_id, stride=d.stride, target_fps=d.target_fps, scale=d.scale, max_width=d.max_width, size=size,
        start_time=d.start_time, clock=clock, hwaccel=d.hwaccel,
        start_seconds=job.start if job.start > 0 else None, end_seconds=job.end,
    )


def core_progress(job: SegmentJob, pts: float) -> float:
    """Seconds of the segment's core covered once the frame at ``pts`` is done."""
    end = job.core_end if job.core_end is not None else (job.duration or pts)
    return min(max(0.0, pts - job.core_start), max(0.0, end - job.core_start))


class DecodeOnlyProcessor:
    """Decodes every segment and counts frames: validates footage and measures decode throughput."""

    def __init__(self, clock: dict | None = None):
        from vision.sources.clock import ClockConfig

        self.clock = ClockConfig.model_validate(clock or {})

    def process(self, job: SegmentJob, progress: ProgressFn) -> SegmentResult:
        from vision.sources.ffmpeg.errors import DecodeError

        frames = 0
        try:
            source = open_source(job, clock=self.clock)
            for frame in source.frames():
                if job.core_end is not None and frame.pts >= job.core_end:
                    break  # the tail overlap matters only to processors that finish events
                frames += 1
                progress(core_progress(job, frame.pts), frames)
        except DecodeError as exc:
            return new_result(job, status="failed", frames=frames, error=exc.reason, footage_seconds=job.footage_seconds)
        return new_result(job, status="done", frames=frames, footage_seconds=job.footage_seconds, warnings=source.warnings)

    def close(self) -> None:
        pass
