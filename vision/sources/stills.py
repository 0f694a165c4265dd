"""Full-resolution stills at given times, decoded in process (PyAV) from a file or a recorded segment.

Evidence needs a handful of exact frames (panoramas, the close-up) per event. Starting an ``ffmpeg``
process costs about 0.13 CPU-seconds on a distribution build (it links some 200 libraries), as much
as decoding the frames themselves, and OpenCV's seek always backs off 16 frames (often a whole
keyframe interval more to decode), so stills are decoded here through FFmpeg's own libraries:
seek to the keyframe at or before a wanted time, decode forward on one thread, and convert only the
wanted frames to BGR. Each frame is timed by its own timestamp (seconds from the stream's first
timestamp), so a seek that lands late is noticed and redone earlier, and the frame handed back is
the one at that time, not an estimate from a frame count. After a seek nothing is handed back
before a keyframe has been decoded: in a container without a keyframe index (MPEG-TS) a seek lands
anywhere, and the frames up to the next keyframe would be damaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vision.sources.ffmpeg.errors import DecodeError

SEEK_RETRIES = 4
SEEK_AFTER_S = 0.5  # decode on to the next wanted time when it is this close; else seek (its keyframe may be nearer)


@dataclass(frozen=True, slots=True)
class Still:
    """A decoded frame: ``t`` is its own time (seconds on the stream clock), ``image`` HxWx3 BGR."""

    t: float
    image: np.ndarray


class _Reader:
    """Frames of one video stream in decode order, with seeking; ``pos`` is the last frame's time."""

    def __init__(self, path: Path, from_first: bool) -> None:
        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, OSError) as exc:
            raise DecodeError(str(path), f"cannot open for stills: {exc}") from None
        if not self.container.streams.video:
            raise DecodeError(str(path), "no video stream to take stills from")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "NONE"  # one thread: the least CPU for a handful of frames
        self.tb = float(self.stream.time_base)
        start = self.stream.start_time
        self.zero = start * self.tb if start is not None else 0.0
        self.from_first = from_first  # times from the first decoded frame (a segment's keyframe)
        self.pos: float | None = None
        self.need_key = True  # from the start too: a segment may begin before its keyframe
        self.at_start = True
        self._frames = self.container.decode(self.stream)

    def seek(self, t: float) -> None:
        """Go to the keyframe at or before ``t`` (stream seconds)."""
        if t <= 0:
            self.container.seek(0, stream=self.stream, backward=True)
            self.at_start = True
        else:
            self.container.seek(int((t + self.zero) / self.tb), stream=self.stream, backward=True, any_frame=False)
            self.at_start = False
        self._frames = self.container.decode(self.stream)
        self.pos = None
        self.need_key = True

    def next(self):  # noqa: ANN201 - av.VideoFrame | None
        for frame in self._frames:
            if frame.pts is None:
                continue
            if self.need_key:
                if not frame.key_frame:
                    continue  # damaged until the decoder has met a keyframe
                self.need_key = False
                if self.from_first and self.pos is None and self.zero is not None:
                    self.zero = frame.pts * self.tb  # count from this first keyframe
                    self.from_first = False
            self.pos = frame.pts * self.tb - self.zero
            return frame
        return None

    def close(self) -> None:
        self.container.close()


def read_stills(
    path: str | Path,
    times: Sequence[float],
    *,
    tolerance: float,
    seek: bool = True,
    max_gap: float = 1.0,
    preroll: float = 0.0,
    from_first: bool = False,
) -> dict[float, Still]:
    """The frame at (or first after ``t - tolerance``) each of ``times``, keyed by the time asked for.

    ``times`` are seconds on the stream clock (the first frame of a file is about 0). ``tolerance``:
    half a frame interval. ``seek``: False decodes from the start (a short segment). ``preroll``:
    seek this much earlier than a wanted time; a container without a keyframe index needs a keyframe
    interval, so that decoding meets a keyframe before the wanted frame. ``from_first`` (with ``seek``
    False): times count from the first keyframe decoded, not the file's first timestamp (a segment
    that begins with packets before its keyframe). A time with no frame within ``max_gap`` after it
    (past the end, inside a gap) is left out of the result. Raises DecodeError when the file cannot
    be opened.
    """
    wanted = sorted(set(float(t) for t in times))
    out: dict[float, Still] = {}
    if not wanted:
        return out
    reader = _Reader(Path(path), from_first and not seek)
    try:
        for t in wanted:
            if t in out:
                continue
            lead = preroll
            found = None
            for attempt in range(SEEK_RETRIES + 1):
                ahead = reader.pos is not None and reader.pos < t - tolerance and t - reader.pos <= max(SEEK_AFTER_S, preroll)
                if seek and not ahead:
                    # half a frame past t: a wanted frame on a keyframe seeks to that keyframe, not the one before
                    reader.seek(t - lead + tolerance)
                found = _forward(reader, t, tolerance, max_gap)
                if found is not _LATE:
                    break
                found = None
                if not seek:
                    break
                lead = max(4 * lead, 1.0)  # the seek landed after t: go back further
            if found is None:
                continue
            out[t] = found
            for u in wanted:  # later times on the same frame (asked twice within a frame) share it
                if u not in out and abs(u - found.t) <= tolerance:
                    out[u] = found
    except av.error.FFmpegError as exc:
        raise DecodeError(str(path), f"decoding stills failed: {exc}") from None
    finally:
        reader.close()
    return out


_LATE = object()


def _forward(reader: _Reader, t: float, tolerance: float, max_gap: float):  # noqa: ANN202 - Still | None | _LATE
    """Decode forward to the first frame at or after ``t - tolerance``; _LATE when the first frame after
    a seek is already past ``t + tolerance`` (the seek overshot), None at the end or past ``max_gap``."""
    first = reader.pos is None
    while (frame := reader.next()) is not None:
        pos = reader.pos
        assert pos is not None
        if pos < t - tolerance:
            first = False
            continue
        if first and pos > t + tolerance and not reader.at_start:
            return _LATE
        if pos > t + max_gap:
            return None
        return Still(pos, frame.to_ndarray(format="bgr24"))
    return None
