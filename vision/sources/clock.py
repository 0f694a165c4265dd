"""Wall-clock time of frames: when did a recording start, in the site's timezone? And, for live
cameras, a wall clock that a step of the system clock cannot freeze (``MonotonicWallClock``).

Evidence needs the capture time of each frame. A recorded file carries it in one of a few places;
each is tried in the configured order and the first that answers wins:

- an explicit start (``--start-time`` / ``ClockConfig.start_time``), always first when given;
- ``filename``: a timestamp in the file name, e.g. ``cam1_20260101_083000.mp4`` (NVR exports);
- ``creation_time``: the container tag (UTC by definition; often the export time, so after filename);
- ``mtime``: the file's modification time minus its duration (a recorder closes the file at the end).

Naive times (explicit or from a file name) are local times of the site (``timezone``). The frame's
wall time is the start plus its pts, so frames keep their spacing even when the start is approximate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator

from models.strict import StrictModel

ClockSourceName = Literal["filename", "creation_time", "mtime"]


class FilenamePattern(StrictModel):
    """A regex with a named group ``ts`` and the strptime format of that group."""

    model_config = ConfigDict(frozen=True)
    regex: str
    format: str

    @field_validator("regex")
    @classmethod
    def _has_ts_group(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if "ts" not in compiled.groupindex:
            raise ValueError("needs a named group (?P<ts>...) holding the timestamp")
        return v

    def match(self, name: str) -> datetime | None:
        m = re.search(self.regex, name)
        if not m:
            return None
        try:
            return datetime.strptime(m.group("ts"), self.format)
        except ValueError:
            return None


DEFAULT_FILENAME_PATTERNS: tuple[FilenamePattern, ...] = (
    FilenamePattern(regex=r"(?<!\d)(?P<ts>\d{8}_\d{6})(?!\d)", format="%Y%m%d_%H%M%S"),  # cam1_20260101_083000
    FilenamePattern(regex=r"(?<!\d)(?P<ts>\d{8}T\d{6})(?!\d)", format="%Y%m%dT%H%M%S"),  # 20260101T083000
    FilenamePattern(regex=r"(?<!\d)(?P<ts>\d{14})(?!\d)", format="%Y%m%d%H%M%S"),  # ch01_20260101083000
    FilenamePattern(regex=r"(?P<ts>\d{4}-\d{2}-\d{2}[_T ]\d{2}-\d{2}-\d{2})", format="%Y-%m-%d_%H-%M-%S"),
)


class ClockConfig(StrictModel):
    """Where recorded footage gets its wall-clock time (see module docstring)."""

    timezone: str = "Asia/Shanghai"
    start_time: datetime | None = None  # explicit recording start; naive = site-local
    order: list[ClockSourceName] = Field(default_factory=lambda: ["filename", "creation_time", "mtime"])
    filename_patterns: list[FilenamePattern] = Field(default_factory=lambda: list(DEFAULT_FILENAME_PATTERNS))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {v!r} (e.g. 'Asia/Shanghai')") from None
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ClockStart(StrictModel):
    """The resolved recording start and which source gave it (kept so reports can flag weak clocks)."""

    model_config = ConfigDict(frozen=True)
    start: datetime  # timezone-aware, in the site's timezone
    source: Literal["start_time", "filename", "creation_time", "mtime"]

    def at(self, pts: float) -> datetime:
        """Wall time of a frame ``pts`` seconds into the recording."""
        return self.start + timedelta(seconds=pts)


class ClockError(ValueError):
    """No configured clock source could date the file."""


def localize(value: datetime, tz: ZoneInfo) -> datetime:
    """Naive -> site-local; aware -> converted to the site's timezone."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


def parse_start_time(text: str, tz: ZoneInfo | str) -> datetime:
    """An ISO-8601 ``--start-time`` (``2026-01-01T08:30:00``, optional offset or ``Z``) as an aware time."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(f"--start-time {text!r} is not ISO-8601 (e.g. 2026-01-01T08:30:00 or 2026-01-01T08:30:00+08:00)") from None
    return localize(value, zone)


def resolve_start(
    path: str | Path,
    config: ClockConfig,
    *,
    creation_time: datetime | None = None,
    duration: float | None = None,
) -> ClockStart:
    """The recording start of ``path`` (see module docstring). Raises ClockError when nothing dates it."""
    tz = config.tz
    if config.start_time is not None:
        return ClockStart(start=localize(config.start_time, tz), source="start_time")
    p = Path(path)
    for source in config.order:
        if source == "filename":
            for pattern in config.filename_patterns:
                found = pattern.match(p.name)
                if found is not None:
                    return ClockStart(start=localize(found, tz), source="filename")
        elif source == "creation_time" and creation_time is not None:
            return ClockStart(start=localize(creation_time, tz), source="creation_time")
        elif source == "mtime" and p.exists():
            end = datetime.fromtimestamp(p.stat().st_mtime, tz)
            return ClockStart(start=end - timedelta(seconds=duration or 0.0), source="mtime")
    raise ClockError(
        f"{p.name}: cannot tell when it was recorded (tried {', '.join(config.order) or 'nothing'}); "
        "pass --start-time or add a filename pattern"
    )


class MonotonicWallClock:
    """Wall time advanced by the monotonic clock from one reading of the system clock.

    Live frame times are stamped from this, so a step of the system clock (NTP after a bad boot
    time, an operator) neither freezes them (a step back: frames never go backwards, so every frame
    got the last time plus 1 µs until the clock caught up) nor jumps them. ``step()`` reports how far
    the system clock has moved from it, once per move beyond ``threshold_s``: a health event for
    the operator, who restarts the worker to adopt a corrected clock.
    """

    def __init__(self, threshold_s: float = 1.0, wall: Callable[[], float] | None = None,
                 mono: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall or (lambda: time.time())  # looked up on each call: tests step the system clock
        self._mono = mono
        self.threshold_s = threshold_s
        self._anchor = self._wall() - self._mono()
        self._reported = 0.0

    def now(self) -> float:
        return self._anchor + self._mono()

    def step(self) -> float | None:
        """The system clock's offset from this clock, when it moved beyond the threshold since last reported."""
        offset = self._wall() - self.now()
        if abs(offset - self._reported) <= self.threshold_s:
            return None
        self._reported = offset
        return offset
