"""Recorded footage as ``Frame``s: one file, or one segment of it, decoded by FFmpeg.

A segment (``start_seconds``/``end_seconds``) seeks fast to the nearest keyframe before the start
(``-ss`` before the input), then decodes accurately to the exact start, and stops at the end, so a
long file can be split across workers. Frames keep the pts and sequence number they have in the
whole file, so the engine's times and ring-buffer references agree across segments.

Failures: an unreadable or non-video file raises ``ProbeError`` (a ``DecodeError``) when the source
is constructed. A corrupt or truncated file yields every frame FFmpeg can decode and then raises
``DecodeError`` with a one-line reason taken from FFmpeg's log. A few damaged frames (at most
``MAX_DAMAGED_SHARE`` of those decoded, at least one) are what real NVR recordings have, concealed by
the decoder: the file is fine, "with N decode warnings" (``warnings``, ``decode_warnings``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from vision.frame import Frame
from vision.sources.clock import ClockConfig, ClockStart, localize, resolve_start
from vision.sources.ffmpeg.command import output_size
from vision.sources.ffmpeg.errors import DecodeError, ProbeError
from vision.sources.ffmpeg.probe import MediaInfo, probe
from vision.sources.ffmpeg.rawvideo import RawVideoPipe, first_frame_pts, open_rawvideo_pipe

log = logging.getLogger(__name__)

__all__ = ["FileSource", "DecodeError", "ProbeError"]

# A segment's fast seek lands this far before its start; the exact cut is a select on timestamps.
PREROLL_SECONDS = 3.0
MAX_DAMAGED_SHARE = 0.01  # frames with decode errors a file may have and still count as decoded (warnings)


class FileSource:
    """Frames of a recorded file (or a segment of it) for the engine.

    ``stride``: hand over every Nth decoded frame; ``target_fps``: at most this rate (true pts kept);
    ``detect_fps``: only the frames of the engine's detection schedule at this rate (see
    ``ffmpeg.command.select_expression``), so frames the detector would skip are never converted.
    ``scale``: a factor for the frame size (e.g. 0.5); ``max_width``: cap the width (keeps aspect);
    ``size``: an exact (width, height), e.g. the camera's configured frame size (overrides both).
    ``start_time``: the recording's wall-clock start (else ``clock`` decides; see vision.sources.clock).
    ``hwaccel``: "auto", "none" or an ffmpeg hwaccel name; falls back to software if it fails.
    """

    def __init__(
        self,
        path: str | Path,
        camera_id: str,
        *,
        target_fps: float | None = None,
        stride: int | None = None,
        detect_fps: float | None = None,
        scale: float | None = None,
        max_width: int | None = None,
        size: tuple[int, int] | None = None,
        start_time: datetime | None = None,
        clock: ClockConfig | None = None,
        hwaccel: str | None = "auto",
        start_seconds: float | None = None,
        end_seconds: float | None = None,
    ):
        self.path = Path(path)
        self.camera_id = camera_id
        self.target_fps = target_fps
        self.stride = stride
        self.detect_fps = detect_fps
        self.hwaccel = hwaccel
        if start_seconds is not None and start_seconds < 0:
            raise ValueError(f"start_seconds must be >= 0, got {start_seconds}")
        if start_seconds is not None and end_seconds is not None and end_seconds <= start_seconds:
            raise ValueError(f"end_seconds ({end_seconds}) must be after start_seconds ({start_seconds})")
        self.start_seconds = float(start_seconds or 0.0)
        self.end_seconds = end_seconds
        self.info: MediaInfo = probe(self.path)  # raises ProbeError now: bad files fail before any work
        if size is not None:
            if size[0] <= 0 or size[1] <= 0:
                raise ValueError(f"size must be positive, got {size}")
            self.size = (int(size[0]), int(size[1]))
        else:
            self.size = output_size(self.info.width, self.info.height, scale=scale, max_width=max_width)
        clock = clock or ClockConfig()
        if start_time is not None:
            self.clock_start = ClockStart(start=localize(start_time, clock.tz), source="start_time")
        else:
            self.clock_start = resolve_start(self.path, clock, creation_time=self.info.creation_time, duration=self.info.duration)
        # What the last frames() run noticed (for summaries and benchmarks).
        self.fell_back_to_software = False
        self.warnings: list[str] = []
        self.decode_warnings = 0  # decode errors the decoder concealed in a file that still counts as good

    @property
    def expected_end(self) -> float | None:
        """Where decoding should stop, in file seconds (segment end or container duration)."""
        ends = [e for e in (self.end_seconds, self.info.duration) if e is not None]
        return min(ends) if ends else None

    def _open(self) -> RawVideoPipe:
        # Container timestamps throughout (-copyts): the exact segment cut is a select on them,
        # and the fast seek lands PREROLL seconds early because some demuxers (MPEG-TS) overshoot.
        options: list[tuple[str, object]] = []
        keep: list[str] = []  # a select on exact float times; trim's end rounds to coarse time bases (AVI: 1/fps)
        base = self.info.start_time
        seek = 0.0
        if self.start_seconds > 0:
            seek = max(0.0, self.start_seconds - PREROLL_SECONDS)
            if seek > 0:
                options.append(("ss", seek))
            keep.append(f"gte(t,{base + self.start_seconds - 0.0005:.6f})")
        if self.end_seconds is not None:
            options.append(("t", self.end_seconds - seek + 1.0))
            keep.append(f"lt(t,{base + self.end_seconds - 0.0005:.6f})")
        return open_rawvideo_pipe(
            self.path,
            width=self.size[0],
            height=self.size[1],
            input_options=options,
            stride=self.stride,
            target_fps=self.target_fps,
            detect_fps=self.detect_fps,
            hwaccel=self.hwaccel,
            pre_filters=[f"select={'*'.join(keep)}"] if keep else [],
            copyts=True,
        )

    def _seq_from_pts(self) -> Callable[[float, int], int]:
        """How a segment numbers its frames: a whole-file decode counts them; a segment that starts
        later derives the count from the pts at the nominal rate (exact for constant-rate files)."""
        if self.start_seconds <= 0 or not self.info.fps:
            return lambda pts, index: index
        first = first_frame_pts(self.path)
        origin = (first - self.info.start_time) if first is not None else 0.0
        fps = self.info.fps
        return lambda pts, index: int(round((pts - origin) * fps))

    def frames(self) -> Iterator[Frame]:
        """Decode and yield frames; raise DecodeError after the last good frame if the file is damaged."""
        number = self._seq_from_pts()
        pipe = self._open()
        self.warnings = []
        self.decode_warnings = 0
        base = self.info.start_time
        last_seq = -1
        try:
            for raw in pipe:
                pts = round(raw.pts - base, 6)  # microseconds: drop float noise from time-base arithmetic
                seq = max(number(pts, raw.index), last_seq + 1)  # strictly increasing, even for jittery VFR
                last_seq = seq
                yield Frame(camera_id=self.camera_id, seq=seq, pts=pts, wall_time=self.clock_start.at(pts), image=raw.image)
        finally:
            pipe.close()
        self.fell_back_to_software = pipe.fell_back_to_software
        self._check(pipe)

    def _check(self, pipe: RawVideoPipe) -> None:
        """Turn what FFmpeg said into DecodeError (damage) or warnings (harmless noise)."""
        name = str(self.path)
        rc = pipe.returncode
        if rc not in (0, None):
            raise DecodeError(name, f"ffmpeg exited with code {rc}: {pipe.log.reason()}")
        if pipe.decoded == 0:
            interval = self.info.frame_interval or 0.04
            if self.info.duration is not None and self.start_seconds >= self.info.duration - interval:
                return  # a segment past the end of the file: nothing to decode, nothing wrong
            raise DecodeError(name, f"no frames could be decoded: {pipe.log.reason('no video data')}")
        base = self.info.start_time
        last = (pipe.last_decoded_pts if pipe.last_decoded_pts is not None else base) - base
        interval = self.info.frame_interval or 0.04
        end = self.expected_end
        short = end is not None and end - (last + interval) > max(1.0, 3 * interval)
        log_ = pipe.log
        if log_.stream_error_count:
            first = (log_.first_stream_error_pts if log_.first_stream_error_pts is not None else base) - base
            detail = log_.stream_reason() or log_.reason()
            if short:
                raise DecodeError(name, f"truncated: video ends at {last:.2f} s of {end:.2f} s ({detail})")
            if first >= last - max(1.0, 3 * interval):
                raise DecodeError(name, f"truncated: damaged data at the end, {first:.2f} s ({detail})")
            damaged = len({pts for pts, _ in log_.stream_errors})
            if damaged <= max(1, MAX_DAMAGED_SHARE * pipe.decoded):
                self.decode_warnings = log_.stream_error_count
                self.warnings.append(f"{log_.stream_error_count} decode warning(s): {damaged} damaged frame(s) concealed, "
                                     f"from {first:.2f} s ({detail})")
            else:
                raise DecodeError(
                    name,
                    f"corrupt data: {log_.stream_error_count} decode error(s) in {damaged} frames from {first:.2f} s ({detail})",
                )
        if short:
            # Container duration longer than the video (e.g. audio runs on) with a clean log: note it only.
            self.warnings.append(f"video ends at {last:.2f} s, container says {end:.2f} s")
        if leading := log_.error_count - log_.stream_error_count:
            self.warnings.append(f"{leading} error(s) before the first frame ({log_.reason()})")
        for warning in self.warnings:
            log.info("%s: %s", self.path.name, warning)
