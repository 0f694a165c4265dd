"""Where evidence pixels come from: the camera's own bitstream, on the engine's clock.

The engine analyses frames at the detector's rate (and perhaps a smaller size); a violation's
package needs full-resolution stills at its key-frame times and a clip around it. ``Footage``
answers both from the compressed source, decoding only those few frames and copying the clip's
packets: ``FileFootage`` from a recorded file (batch), ``RecordedFootage`` from a live camera's
rolling segments (``recording.Recording``). Times are engine seconds (``Frame.pts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vision.sources.ffmpeg.probe import MediaInfo, keyframe_interval, probe, seeks_to_keyframes
from vision.sources.recording import Recording, Segment
from vision.sources.remux import copy_file_clip, copy_segments_clip
from vision.sources.stills import Still, read_stills


@dataclass(frozen=True, slots=True)
class ClipCut:
    """A clip written to ``path``; ``start``/``end``: engine seconds it covers (cut at keyframes)."""

    path: Path
    start: float
    end: float


class Footage(Protocol):
    """What evidence needs of a camera's footage (see the module docstring)."""

    def available_until(self) -> float:
        """Engine time up to which stills and clips can be had now."""
        ...

    def hold(self, t0: float) -> int | None:
        """Keep footage from ``t0`` on until ``release`` (a waiting event needs it)."""
        ...

    def release(self, token: int | None) -> None: ...

    def stills(self, times: Sequence[float]) -> dict[float, Still]:
        """Full-resolution frames nearest each engine time (``Still.t`` is the frame's own engine time);
        times with no frame are left out."""
        ...

    def clip(self, t0: float, t1: float, out: Path) -> ClipCut | None:
        """A clip covering [t0, t1] as far as the footage has it, written to ``out``; None when none."""
        ...


class FileFootage:
    """A recorded file, on the clock of a ``FileSource`` over it (pts from the container's start)."""

    def __init__(self, path: str | Path, info: MediaInfo | None = None) -> None:
        self.path = Path(path)
        self.info = info or probe(self.path)
        start = self.info.video_start_time
        # stills are timed from the video stream's first timestamp, engine times from the container's
        self._offset = self.info.start_time - (start if start is not None else self.info.start_time)
        self._tolerance = 0.5 / (self.info.fps or 25.0)
        self._preroll: float | None = None

    @property
    def preroll(self) -> float:
        """How far before a wanted time decoding starts: nothing where the container's index puts a
        seek on the keyframe before it; else the longest keyframe interval seen, plus half a second."""
        if self._preroll is None:
            if seeks_to_keyframes(self.info):
                self._preroll = 0.0
            else:
                gop = keyframe_interval(self.path)
                self._preroll = (gop if gop is not None else 3.0) + 0.5
        return self._preroll

    def available_until(self) -> float:
        return float("inf")

    def hold(self, t0: float) -> int | None:
        return None

    def release(self, token: int | None) -> None:
        pass

    def stills(self, times: Sequence[float]) -> dict[float, Still]:
        got = read_stills(self.path, [t + self._offset for t in times], tolerance=self._tolerance, preroll=self.preroll)
        return {t: Still(s.t - self._offset, s.image) for t in times if (s := got.get(t + self._offset)) is not None}

    def clip(self, t0: float, t1: float, out: Path) -> ClipCut | None:
        end = min(t1, self.info.duration) if self.info.duration else t1
        start = max(0.0, t0)
        if end <= start:
            return None
        first, last = copy_file_clip(self.path, start + self._offset, end + self._offset, out)
        return ClipCut(out, first - self._offset, last - self._offset)


class RecordedFootage:
    """A live camera's rolling recording (see ``recording.Recording``)."""

    def __init__(self, recording: Recording, fps_hint: float = 25.0) -> None:
        self.recording = recording
        self._tolerance = 0.5 / fps_hint

    def available_until(self) -> float:
        return self.recording.available_until()

    def hold(self, t0: float) -> int | None:
        return self.recording.hold(t0)

    def release(self, token: int | None) -> None:
        if token is not None:
            self.recording.release(token)

    def stills(self, times: Sequence[float]) -> dict[float, Still]:
        wanted = sorted(set(times))
        if not wanted:
            return {}
        segments = self.recording.segments(wanted[0] - 1.0, wanted[-1] + 1.0)
        by_segment: dict[Segment, list[float]] = {}
        for t in wanted:
            seg = _segment_for(segments, t)
            if seg is not None:
                by_segment.setdefault(seg, []).append(t)
        out: dict[float, Still] = {}
        for seg, ts in by_segment.items():
            # decode the segment from its start, no seeking, timing frames from its first decoded one (its keyframe)
            got = read_stills(seg.path, [t - seg.first for t in ts], tolerance=self._tolerance, seek=False, from_first=True)
            for t in ts:
                s = got.get(t - seg.first)
                if s is not None:
                    out[t] = Still(seg.first + s.t, s.image)
        return out

    def clip(self, t0: float, t1: float, out: Path) -> ClipCut | None:
        segments = self.recording.segments(t0, t1)
        if not segments:
            return None
        # a clip never joins two runs (their timestamps restart); take the run that covers the most
        runs: dict[str, list[Segment]] = {}
        for seg in segments:
            runs.setdefault(seg.run, []).append(seg)
        best = max(runs.values(), key=lambda segs: sum(min(s.end, t1) - max(s.start, t0) for s in segs))
        copy_segments_clip([s.path for s in best], out)
        return ClipCut(out, best[0].start, best[-1].end)


def _segment_for(segments: Sequence[Segment], t: float) -> Segment | None:
    """The segment holding time ``t``, else the nearest one within a second (a frame at an edge)."""
    for seg in segments:
        if seg.covers(t):
            return seg
    near = [s for s in segments if min(abs(t - s.start), abs(t - s.end)) <= 1.0]
    return min(near, key=lambda s: min(abs(t - s.start), abs(t - s.end)), default=None)
