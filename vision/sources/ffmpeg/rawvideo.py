"""The running decoder: an ``ffmpeg`` child process writing ``bgr24`` frames to a pipe.

The command comes from ``command`` (frame selection before scaling, ``showinfo`` around it). A
stderr thread parses the ``showinfo`` lines so every frame handed over carries its original
timestamp and sequence number, and feeds the rest of the log to an FFmpegLog, so failures produce a
one-line reason instead of a traceback. A stdout thread reads whole frames into a small queue.

When a hardware decoder fails before producing a frame, the pipe reopens in software and marks the
accelerator failed for this process (see ``hwaccel``).
"""

from __future__ import annotations

import logging
import queue
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vision.sources.ffmpeg.command import PipeSpec, format_option, rawvideo_command, select_expression
from vision.sources.ffmpeg.decode_log import FFmpegLog
from vision.sources.ffmpeg.errors import PipeTimeout
from vision.sources.ffmpeg.hwaccel import mark_hwaccel_failed, resolve_hwaccel
from vision.sources.ffmpeg.segments import SegmentOutput

log = logging.getLogger(__package__)  # one logger for the package: the RTSP source redacts URLs there

_SHOWINFO_RE = re.compile(
    r"\[showinfo@(pre|post) @ 0x[0-9a-f]+\] \[info\] n:\s*(\d+) pts:\s*(-?\d+) pts_time:(-?[\d.eE+-]+)(?:.*? iskey:(\d))?"
)
_TIMEBASE_RE = re.compile(r"\[showinfo@(pre|post) @ 0x[0-9a-f]+\] \[info\] config in time_base: (\d+)/(\d+)")


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One frame out of the pipe: ``index`` counts every decoded frame of this pipe's input (0-based),
    ``pts`` is seconds on ffmpeg's output timeline (container start and any ``-ss`` already subtracted).
    ``made_at``: when (``time.monotonic()``) FFmpeg logged the frame leaving its filters. FFmpeg 5.1's output
    stage holds each frame until the next one reaches it (one detection interval at detect_fps), so
    this, not the frame's arrival, is when it was ready."""

    index: int
    pts: float
    image: np.ndarray  # HxWx3 uint8 BGR, owned by the caller
    made_at: float | None = None


_END = object()


class RawVideoPipe:
    """Iterate ``RawFrame``s from an ffmpeg process (see the module docstring).

    Usage::

        with open_rawvideo_pipe(path, width=w, height=h, stride=5) as pipe:
            for raw in pipe:
                ...
        pipe.returncode, pipe.log.reason()
    """

    def __init__(self, spec: PipeSpec):
        self.spec = spec
        self.frames_out = 0
        self.last_pts: float | None = None  # pts of the last frame handed over
        self.decoded = 0  # frames decoded so far (handed over or not), from showinfo
        self.last_decoded_pts: float | None = None  # pts of the last decoded frame, handed over or not
        self.fell_back_to_software = False
        self._closed = False
        self._start(spec)

    # -- process management ------------------------------------------------------------------
    def _start(self, spec: PipeSpec) -> None:
        self.spec = spec
        self.decoded = 0
        self.last_decoded_pts = None
        self.keyframes: deque[float] = deque(maxlen=64)  # pts of the latest decoded keyframes (align recorded segments)
        self.log = FFmpegLog()
        self._pts_queue: queue.Queue = queue.Queue()
        self._frames: queue.Queue = queue.Queue(maxsize=max(1, spec.queue_size))
        self._stop = threading.Event()
        cmd = rawvideo_command(spec)
        log.debug("ffmpeg: %s", " ".join(cmd))
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self._err_thread = threading.Thread(target=self._read_stderr, name="ffmpeg-stderr", daemon=True)
        self._out_thread = threading.Thread(target=self._read_stdout, name="ffmpeg-stdout", daemon=True)
        self._err_thread.start()
        self._out_thread.start()

    def _read_stderr(self) -> None:
        pre: dict[int, int] = {}  # pts (time-base units) -> decoded index, for frames seen before select
        pre_order: deque[int] = deque()
        use_pre = self.spec.select is not None
        time_base: dict[str, float] = {}
        stream = self._proc.stderr
        assert stream is not None
        buf = b""
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = re.split(rb"\r\n|\n|\r", buf)
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                m = _SHOWINFO_RE.search(line)
                if not m and (tb := _TIMEBASE_RE.search(line)):
                    num, den = int(tb.group(2)), int(tb.group(3))
                    if num and den:
                        time_base[tb.group(1)] = num / den
                    continue
                if not m:
                    if "color_range:" not in line and line.strip():
                        self.log.add(line, self.last_decoded_pts)
                    continue
                which, n, pts = m.group(1), int(m.group(2)), int(m.group(3))
                # pts_time is printed with 6 significant digits; pts x time base is exact.
                pts_time = pts * time_base[which] if which in time_base else float(m.group(4))
                if which == "pre" or not use_pre:
                    self.decoded = n + 1
                    self.last_decoded_pts = pts_time
                    if m.group(5) == "1":
                        self.keyframes.append(pts_time)
                if which == "pre":
                    pre[pts] = n
                    pre_order.append(pts)
                    while len(pre_order) > 4096:
                        pre.pop(pre_order.popleft(), None)
                    continue
                index = pre.pop(pts, n) if use_pre else n
                self._pts_queue.put((index, pts_time, time.monotonic()))
        if buf.strip():
            self.log.add(buf.decode("utf-8", "replace"), self.last_decoded_pts)
        self._pts_queue.put(None)

    def _read_stdout(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        w, h = self.spec.width, self.spec.height
        frame_bytes = w * h * 3
        fps_fallback_index = 0
        pts_done = False
        try:
            while not self._stop.is_set():
                image = np.empty((h, w, 3), dtype=np.uint8)
                view = memoryview(image).cast("B")
                got = 0
                while got < frame_bytes:
                    n = stream.readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got < frame_bytes:
                    if got:
                        self.log.add(f"[error] pipe: partial frame ({got} of {frame_bytes} bytes) at end of output", self.last_decoded_pts)
                    break
                item = None if pts_done else self._pts_queue.get()
                made_at = None
                if item is None:  # stderr ended early (should not happen): index by count
                    pts_done = True
                    index, pts = fps_fallback_index, float("nan")
                else:
                    index, pts, made_at = item
                fps_fallback_index = index + 1
                self._put(RawFrame(index=index, pts=pts, image=image, made_at=made_at))
        finally:
            self._put(_END)

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._frames.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _finish(self) -> int:
        self._out_thread.join()
        try:
            rc = self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            rc = self._proc.wait()
        self._err_thread.join(timeout=10)
        return rc

    # -- reading -------------------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> RawFrame | None:
        """Next frame, or None at end of stream. Raises PipeTimeout if none arrives within ``timeout``."""
        if self._closed:
            return None
        timeout = self.spec.read_timeout if timeout is None else timeout
        try:
            item = self._frames.get(timeout=timeout)
        except queue.Empty:
            raise PipeTimeout(f"{self.spec.source}: no frame for {timeout:.1f} s") from None
        if item is _END:
            rc = self._finish()
            if rc != 0 and self.frames_out == 0 and self.spec.hwaccel:
                name = self.spec.hwaccel
                mark_hwaccel_failed(name)
                log.log(
                    logging.INFO if self.spec.hwaccel_auto else logging.WARNING,
                    "hardware decode (%s) failed for %s (%s); retrying in software", name, self.spec.source, self.log.reason(),
                )
                self.fell_back_to_software = True
                self._start(replace(self.spec, hwaccel=None))
                return self.read(timeout)
            self._closed = True
            return None
        assert isinstance(item, RawFrame)
        self.frames_out += 1
        self.last_pts = item.pts
        return item

    def __iter__(self) -> Iterator[RawFrame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    def close(self) -> None:
        """Stop the decoder (idempotent); safe to call mid-stream."""
        if self._closed and self._proc.poll() is not None:
            return
        self._closed = True
        self._stop.set()
        if self._proc.poll() is None:
            # SIGKILL, not SIGTERM: with the reader stopped, ffmpeg sits blocked writing into a full
            # pipe, where SIGTERM never takes effect; a decoder has nothing to flush.
            self._proc.kill()
            self._proc.wait()
        # The process is gone, so both reader threads see EOF; close the pipes only after they stop.
        self._out_thread.join(timeout=5)
        self._err_thread.join(timeout=5)
        for stream in (self._proc.stdout, self._proc.stderr):
            try:
                stream.close()  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - closing a dead pipe may fail; nothing to do
                pass

    def __enter__(self) -> RawVideoPipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def open_rawvideo_pipe(
    source: str | Path,
    *,
    width: int,
    height: int,
    input_options: Mapping[str, object] | Sequence[tuple[str, object]] | None = None,
    stride: int | None = None,
    target_fps: float | None = None,
    detect_fps: float | None = None,
    hwaccel: str | None = "auto",
    pre_filters: Sequence[str] = (),
    extra_filters: Sequence[str] = (),
    copyts: bool = False,
    read_timeout: float | None = None,
    queue_size: int = 4,
    record: SegmentOutput | None = None,
) -> RawVideoPipe:
    """Start decoding ``source`` into ``width``x``height`` BGR frames (scaled with area filtering).

    ``input_options``: ffmpeg input options without dashes, in order (e.g. ``{"ss": 60, "t": 300}``
    for a segment, ``{"rtsp_transport": "tcp", "timeout": 5000000}`` for a camera).
    ``stride``/``target_fps``/``detect_fps``: hand over only those frames (see ``select_expression``);
    the others are decoded but never scaled or converted. ``record``: also copy the undecoded stream
    into these rolling segment files (same process, same timeline). ``hwaccel``: "auto", "none" or a name (see ``resolve_hwaccel``).
    ``pre_filters`` run before selection (e.g. ``trim=start=..:end=..``), ``extra_filters`` after it.
    ``copyts``: RawFrame.pts are the container's timestamps instead of starting near 0.
    ``read_timeout``: seconds ``read()`` waits for a frame before raising PipeTimeout (live sources).
    """
    items = list(input_options.items()) if isinstance(input_options, Mapping) else list(input_options or [])
    spec = PipeSpec(
        source=str(source),
        width=int(width),
        height=int(height),
        input_options=tuple((str(k), format_option(v)) for k, v in items),
        select=select_expression(stride=stride, target_fps=target_fps, detect_fps=detect_fps),
        hwaccel=resolve_hwaccel(hwaccel),
        hwaccel_auto=(hwaccel or "").strip().lower() == "auto",
        pre_filters=tuple(pre_filters),
        extra_filters=tuple(extra_filters),
        copyts=copyts,
        read_timeout=read_timeout,
        queue_size=queue_size,
        record=record,
    )
    return RawVideoPipe(spec)


def first_frame_pts(source: str | Path, *, input_options: Mapping[str, object] | None = None) -> float | None:
    """Container timestamp of the first decoded frame (decodes one tiny frame). Differs from the
    container start when B-frames delay output in formats without pts (AVI)."""
    with open_rawvideo_pipe(source, width=2, height=2, input_options=input_options, hwaccel="none", copyts=True) as pipe:
        frame = pipe.read(timeout=30)
    return None if frame is None else frame.pts
