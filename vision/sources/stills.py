"""Full-resolution stills at given times, decoded in process from a file or a recorded segment.

Evidence needs a handful of exact frames (panoramas, the close-up) per event. Starting an ``ffmpeg``
process costs about 0.13 CPU-seconds on a distribution build (it links some 200 libraries), more
than decoding the frames themselves, so stills are decoded in this process through OpenCV's FFmpeg
backend: seek to the keyframe before the first wanted time, decode forward without converting
(``grab``), and convert only the wanted frames (``retrieve``). Times are checked against each
frame's own timestamp (``CAP_PROP_POS_MSEC``, seconds from the stream's first timestamp), so a seek
that lands late is noticed and redone earlier, and the frame handed back is the one at that time,
not an estimate from a frame count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.sources.ffmpeg.errors import DecodeError

SEEK_PREROLL_S = 0.1  # seek this far before a wanted time (times 4 while a seek lands past it)
SEEK_RETRIES = 4
SEEK_AFTER_S = 2.0  # decode forward to the next wanted time when it is closer than this; seek otherwise


@dataclass(frozen=True, slots=True)
class Still:
    """A decoded frame: ``t`` is its own time (seconds on the stream clock), ``image`` HxWx3 BGR."""

    t: float
    image: np.ndarray


class _Reader:
    def __init__(self, path: Path, threads: int, from_first: bool = False) -> None:
        self.path = path
        self.threads = threads
        self.from_first = from_first
        self.origin: float | None = None  # time of the first frame grabbed (from_first)
        self.at_start = True  # nothing before the next frame: a late first frame is not a bad seek
        self.cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads])
        if not self.cap.isOpened():
            raise DecodeError(str(path), "cannot open for stills (not a readable video)")
        self.pos: float | None = None  # time of the last grabbed frame

    def grab(self) -> bool:
        if not self.cap.grab():
            return False
        pos = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if self.from_first:
            self.origin = pos if self.origin is None else self.origin
            pos -= self.origin
        self.pos = pos
        return True

    def seek(self, t: float) -> None:
        if t <= 0:  # from the start: reopen rather than seek (a seek to 0 in MPEG-TS may land later)
            self.cap.release()
            self.__init__(self.path, self.threads, self.from_first)
            return
        self.cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
        self.pos = None
        self.at_start = False

    def close(self) -> None:
        self.cap.release()


def read_stills(
    path: str | Path,
    times: Sequence[float],
    *,
    tolerance: float,
    seek: bool = True,
    max_gap: float = 1.0,
    threads: int = 1,
    preroll: float = SEEK_PREROLL_S,
    from_first: bool = False,
) -> dict[float, Still]:
    """The frame at (or first after ``t - tolerance``) each of ``times``, keyed by the time asked for.

    ``times`` are seconds on the stream clock (the first frame of a file is about 0). ``tolerance``:
    half a frame interval. ``seek``: False decodes from the start (a short segment). ``preroll``: seek
    this far before a time; a container without a keyframe index (MPEG-TS) needs at least a keyframe
    interval, so that decoding meets a keyframe before the wanted frame. A time with no
    frame within ``max_gap`` after it (past the end, inside a gap) is left out of the result.
    ``from_first`` (with ``seek`` False): times count from the first frame decoded, not the file's first
    timestamp (a segment that begins with packets before its keyframe).
    Raises DecodeError when the file cannot be opened.
    """
    wanted = sorted(set(float(t) for t in times))
    out: dict[float, Still] = {}
    if not wanted:
        return out
    reader = _Reader(Path(path), threads, from_first and not seek)
    try:
        for t in wanted:
            if t in out:
                continue
            lead = preroll
            for attempt in range(SEEK_RETRIES + 1):
                if seek and (reader.pos is None or reader.pos > t - tolerance or t - reader.pos > max(SEEK_AFTER_S, preroll)):
                    reader.seek(t - lead)
                found = _forward(reader, t, tolerance, max_gap)
                if found is not _LATE:
                    break
                if not seek or attempt == SEEK_RETRIES:
                    found = None
                    break
                lead *= 4  # the seek landed after t: go back further
                reader.pos = None
            if found is None:
                continue
            out[t] = found
            # later times on the same frame (asked twice within a frame) share it
            for u in wanted:
                if u not in out and abs(u - found.t) <= tolerance:
                    out[u] = found
    finally:
        reader.close()
    return out


_LATE = object()


def _forward(reader: _Reader, t: float, tolerance: float, max_gap: float):  # noqa: ANN202 - Still | None | _LATE
    """Grab forward to the first frame at or after ``t - tolerance``; _LATE when the first frame after
    a seek is already past ``t + tolerance`` (the seek overshot), None at the end or past ``max_gap``."""
    first = reader.pos is None
    while reader.grab():
        pos = reader.pos
        assert pos is not None
        if pos < t - tolerance:
            first = False
            continue
        if first and pos > t + tolerance and not reader.at_start:
            return _LATE
        if pos > t + max_gap:
            return None
        ok, image = reader.cap.retrieve()
        if not ok or image is None:
            raise DecodeError(str(reader.path), f"frame at {pos:.3f} s decoded but could not be converted")
        return Still(pos, image)
    return None
