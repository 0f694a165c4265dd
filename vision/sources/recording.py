"""A camera's rolling recording: segment files of its own bitstream, indexed on the engine's clock.

Every FFmpeg run that records (one per connection to the camera) writes its own
``SegmentOutput`` (``r00001_000000.ts``, ... and ``r00001.csv``). The source tells the recording how
that run's output timeline maps onto the engine's clock (``anchor``: a constant offset, known once
the run's first frame arrived, or estimated from wall-clock arrival for a separate recorder);
segments of runs never anchored are deleted. The segment list times the copied packets, which the
muxer may have shifted against the decoded frames (by the B-frame delay, so that no decode time is
negative), and a run's first segment starts with whatever packet came first; given the run's
decoded keyframe times, each segment is tied to the keyframe it starts decoding at (``first``).
A live run whose stream has B-frames starts with packets whose times FFmpeg guessed (see
``segments``): its first segment is deleted unindexed. Segments whose end is more than ``keep_s``
older than the newest one are deleted too, unless an event still needs them (``hold``): the folder
holds a bounded window of compressed video per camera, whatever the resolution, and nothing in
memory but this small index.

Thread-safe: the reader thread anchors runs, the inference thread asks what is available and holds
spans for waiting events, evidence threads read segments.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vision.sources.ffmpeg.segments import SEGMENT_SUFFIX, SegmentOutput, read_segment_list

log = logging.getLogger(__name__)

REFRESH_S = 0.25  # re-read segment lists at most this often


@dataclass(frozen=True, slots=True)
class Segment:
    """One closed segment on the engine's clock."""

    path: Path
    start: float
    end: float
    run: str  # the recording run (connection) it belongs to; clips never join runs
    first: float  # engine time of its first decodable frame (its keyframe), where stills count from

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end


class Recording:
    """Rolling segments of one camera in ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | Path, keep_s: float, segment_s: float = 1.0) -> None:
        if keep_s <= 0:
            raise ValueError(f"keep_s must be > 0, got {keep_s}")
        self.directory = Path(directory)
        self.keep_s = float(keep_s)
        self.segment_s = float(segment_s)
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in [*self.directory.glob(f"*{SEGMENT_SUFFIX}"), *self.directory.glob("*.csv")]:
            stale.unlink(missing_ok=True)  # an earlier process's files: nothing indexes them any more
        self._lock = threading.Lock()
        self._runs: dict[str, SegmentOutput] = {}
        self._offsets: dict[str, float] = {}  # run prefix -> engine seconds at the run's output time 0
        self._keyframes: dict[str, Callable[[], Sequence[float]]] = {}  # run -> its decoded keyframe times
        self._shifts: dict[str, float] = {}  # run -> segment list time minus decoded time, once measured
        self._ended: set[str] = set()
        self._retiring: set[str] = set()  # ended, fully indexed runs: forgotten once their last segment is deleted
        self._untimed_first: set[str] = set()  # runs whose first segment cannot be timed
        self._listed: dict[str, tuple[int, int, float]] = {}  # run -> (bytes of its list read, entries read, last end)
        self._segments: list[tuple[str, float, float, Path, float | None]] = []  # (run, start, end, path, keyframe), run times
        self._seen: set[Path] = set()
        self._holds: dict[int, float] = {}
        self._next_hold = 0
        self._next_run = 0
        self._refreshed = 0.0
        self._closed = False
        self.deleted = 0

    # -- runs ------------------------------------------------------------------------------------
    def next_run(self, live: bool = False, reorders: bool = False) -> SegmentOutput:
        """Where the next FFmpeg run writes; runs that were never anchored are dropped now.
        ``live``: it reads a network stream; ``reorders``: one with B-frames (module docstring)."""
        with self._lock:
            for prefix in [p for p in self._runs if p not in self._offsets]:
                self._drop_run(prefix)
            self._next_run += 1
            output = SegmentOutput(self.directory, f"r{self._next_run:05d}", self.segment_s, live=live)
            self._runs[output.prefix] = output
            if live and reorders:
                self._untimed_first.add(output.prefix)
            return output

    def anchor(self, output: SegmentOutput, offset: float, keyframes: Callable[[], Sequence[float]] | None = None) -> None:
        """Engine time = the run's output time + ``offset`` (may be called again to refine it).
        ``keyframes``: the decoded keyframe times of the same run, to take out a muxer shift."""
        with self._lock:
            if output.prefix not in self._runs:
                raise KeyError(f"unknown recording run {output.prefix}")
            self._offsets[output.prefix] = float(offset)
            if keyframes is not None:
                self._keyframes[output.prefix] = keyframes
        self.refresh(force=True)

    def _shift(self, run: str, keys: Sequence[float]) -> float:
        """The run's segment-list-minus-decoded shift: later segments' listed starts against the nearest
        decoded keyframe (a keyframe interval is far longer than any B-frame delay), their median."""
        if run in self._shifts:
            return self._shifts[run]
        starts = [seg[1] for seg in self._segments if seg[0] == run][1:17]  # the first segment starts anywhere
        matches = [m for s in starts if abs(m := min((s - k for k in keys), key=abs)) < 1.0] if keys else []
        if len(matches) >= 2:
            self._shifts[run] = statistics.median(matches)
        return statistics.median(matches) if matches else 0.0

    def _keyframe_at(self, run: str, start: float) -> float | None:
        """The decoded time of the first keyframe a segment listed at ``start`` decodes from."""
        source = self._keyframes.get(run)
        keys = sorted(source()) if source is not None else []
        if not keys:
            return None
        at = start - self._shift(run, keys)
        return next((k for k in keys if k >= at - 1e-3), None)

    def end_run(self, output: SegmentOutput) -> None:
        """The run's process is gone: its last segment (left open, unlisted) is indexed as it is."""
        with self._lock:
            self._ended.add(output.prefix)
        self.refresh(force=True)

    def _drop_run(self, prefix: str) -> None:
        """Forget a run and delete its files (a reconnecting camera leaves no state behind)."""
        output = self._runs.pop(prefix)
        for path in output.files():
            path.unlink(missing_ok=True)
            self._seen.discard(path)
        output.list_path.unlink(missing_ok=True)
        self._segments = [s for s in self._segments if s[0] != prefix]
        for state in (self._offsets, self._keyframes, self._shifts, self._listed):
            state.pop(prefix, None)
        for names in (self._untimed_first, self._ended, self._retiring):
            names.discard(prefix)

    # -- index -----------------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Index newly closed segments of anchored runs, then delete what fell out of the window."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._refreshed < REFRESH_S:
                return
            self._refreshed = now
            for prefix, output in list(self._runs.items()):
                if prefix not in self._offsets:
                    continue
                offset, count, last_end = self._listed.get(prefix, (0, 0, 0.0))
                entries, offset = read_segment_list(output, offset)
                for i, e in enumerate(entries, start=count):
                    self._seen.add(e.path)
                    if i == 0 and prefix in self._untimed_first:
                        e.path.unlink(missing_ok=True)
                        continue
                    self._segments.append((prefix, e.start, e.end, e.path, None))  # listed first: it helps measure the shift
                    self._segments[-1] = (prefix, e.start, e.end, e.path, self._keyframe_at(prefix, e.start))
                count, last_end = count + len(entries), entries[-1].end if entries else last_end
                self._listed[prefix] = (offset, count, last_end)
                if prefix in self._ended:
                    self._index_tail(output, last_end, untimed=count == 0 and prefix in self._untimed_first)
                    self._ended.discard(prefix)  # its files are all indexed now
                    self._retiring.add(prefix)
            self._prune()

    def _index_tail(self, output: SegmentOutput, start: float, untimed: bool = False) -> None:
        """The unlisted last file of an ended run: its span from the end of the one before, its length
        from the frame rate the run kept (FFmpeg was killed before it could list it)."""
        for path in output.files():
            try:
                empty = path.stat().st_size == 0
            except FileNotFoundError:
                continue
            if path in self._seen or empty:
                continue
            self._seen.add(path)
            if untimed:  # the run's first segment, never listed
                path.unlink(missing_ok=True)
                untimed = False
                continue
            listed = [s for s in self._segments if s[0] == output.prefix]
            mean = (listed[-1][2] - listed[0][1]) / len(listed) if listed else self.segment_s
            self._segments.append((output.prefix, start, start + min(mean, self.segment_s * 4), path, self._keyframe_at(output.prefix, start)))

    def _prune(self) -> None:
        for prefix in self._retiring - {seg[0] for seg in self._segments}:
            self._drop_run(prefix)
        if not self._segments:
            return
        offsets = self._offsets
        newest = max(seg[2] + offsets[seg[0]] for seg in self._segments)
        floor = newest - self.keep_s
        if self._holds:
            floor = min(floor, min(self._holds.values()))
        if self._closed and not self._holds:
            floor = float("inf")
        keep: list[tuple[str, float, float, Path, float | None]] = []
        for seg in self._segments:
            run, _, end, path, _ = seg
            if end + offsets[run] < floor:
                path.unlink(missing_ok=True)
                self._seen.discard(path)
                self.deleted += 1
            else:
                keep.append(seg)
        self._segments = keep

    def segments(self, t0: float = float("-inf"), t1: float = float("inf")) -> list[Segment]:
        """Closed segments overlapping [t0, t1] on the engine clock, in time order."""
        self.refresh()
        with self._lock:
            out = []
            for run, start, end, path, key in self._segments:
                off = self._offsets[run]
                shift = self._shifts.get(run, 0.0)
                out.append(Segment(path, start - shift + off, end - shift + off, run, (key if key is not None else start - shift) + off))
        return sorted((s for s in out if s.end > t0 and s.start <= t1), key=lambda s: s.start)

    def available_until(self) -> float:
        """Engine time up to which recorded footage is on disk (-inf before the first segment closes)."""
        segs = self.segments()
        return max((s.end for s in segs), default=float("-inf"))

    # -- retention ----------------------------------------------------------------------------------
    def hold(self, t0: float) -> int:
        """Keep every segment ending after ``t0`` until ``release``; returns the hold's token."""
        with self._lock:
            self._next_hold += 1
            self._holds[self._next_hold] = float(t0)
            return self._next_hold

    def release(self, token: int) -> None:
        with self._lock:
            self._holds.pop(token, None)
            self._prune()

    def close(self) -> None:
        """The camera is gone: delete every segment no event holds (the rest go when released)."""
        with self._lock:
            self._closed = True
            self._prune()
