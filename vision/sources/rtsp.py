"""A live camera that never gives up: RTSP over TCP through FFmpeg, reconnecting forever.

One reader thread per camera probes the stream, opens the shared rawvideo pipe
(``vision.sources.ffmpeg.rawvideo``) with a socket timeout, and pushes each frame into a
:class:`~vision.sources.latest.LatestQueue` that keeps only the newest frames, so a slow
consumer sees fresh frames and the drops are counted instead of latency growing. When the
stream ends, errors, or delivers nothing for ``reconnect_after_s``, the reader closes FFmpeg
and retries after an exponential backoff with jitter; every state change goes through the
:class:`~vision.sources.health.HealthMonitor`, is logged, and is handed to ``on_health``.

What it hands over: with ``detect_fps`` only the frames on the detector's schedule are converted
(FFmpeg selects them before scaling, so the others are decoded but never converted or copied), at
``size`` (the analysis size). With a ``Recording``, the same FFmpeg process also copies the camera's
undecoded stream into rolling segment files (one connection, two outputs) and anchors each run's
segments on the frames' clock, so evidence decodes full-resolution stills and cuts clips from them.

Credentials: the URL is kept only for FFmpeg. Everything that leaves this module (logs, errors,
``masked_url``, health reasons) goes through :func:`~vision.sources.redact.redact`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import urlsplit

import numpy as np
from pydantic import Field

from models.strict import StrictModel
from vision.frame import Frame
from vision.sources.backoff import Backoff, BackoffConfig
from vision.sources.clock import MonotonicWallClock
from vision.sources.ffmpeg.command import output_size
from vision.sources.ffmpeg.errors import FFmpegError, PipeTimeout
from vision.sources.ffmpeg.probe import probe
from vision.sources.ffmpeg.rawvideo import RawVideoPipe, open_rawvideo_pipe
from vision.sources.health import HealthEvent, HealthMonitor
from vision.sources.latest import LatestQueue
from vision.sources.recording import Recording
from vision.sources.redact import RedactingFilter, mask_url, redact, register_url_secrets

log = logging.getLogger(__name__)
# The FFmpeg package logs commands and sources, which hold the camera URL, to its one package logger:
# redact at the originating loggers, so every handler (files, JSON, pytest's caplog) sees masked text.
for _name in (__name__, "vision.sources.ffmpeg"):
    if not any(isinstance(f, RedactingFilter) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(RedactingFilter())

LIVE_SCHEMES = ("rtsp", "rtsps")


class RtspConfig(StrictModel):
    """How a live camera is read. Defaults suit a 25 fps camera on a flaky site network."""

    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport; TCP survives lossy links without smearing frames")
    io_timeout_s: float = Field(5.0, gt=0, description="FFmpeg socket I/O timeout (-timeout), ends a dead connection")
    probe_timeout_s: float = Field(15.0, gt=0, description="longest wait for the stream description on connect")
    analyze_s: float = Field(1.0, gt=0, description="stream analysis before the first frame (FFmpeg -analyzeduration); shorter reconnects")
    stall_after_s: float = Field(3.0, gt=0, description="no frame for this long: health goes 'stalled'")
    reconnect_after_s: float = Field(10.0, gt=0, description="no frame for this long: close FFmpeg and reconnect")
    alert_after_s: float = Field(30.0, ge=0, description="down this long: raise the offline alert once")
    queue_size: int = Field(2, ge=1, description="frames kept for the consumer; older ones are dropped")
    max_width: int | None = Field(None, gt=0, description="downscale wider streams to this width (saves memory and conversion)")
    settle_s: float = Field(
        1.0, ge=0, description="after each connect, hold frames this long to time-stamp a backlog burst correctly"
    )
    max_clock_skew_s: float = Field(
        2.0, gt=0, description="frame wall times follow the stream clock; re-anchor when they trail the local clock this far"
    )
    hwaccel: str = Field("none", description="FFmpeg hardware decoder: none, auto, cuda, vaapi...")
    backoff: BackoffConfig = Field(default_factory=BackoffConfig)

    def input_options(self) -> list[tuple[str, str]]:
        """FFmpeg input options for a camera read with these settings (every process that connects)."""
        return [
            ("rtsp_transport", self.transport),
            ("timeout", str(int(self.io_timeout_s * 1_000_000))),
            ("analyzeduration", str(int(self.analyze_s * 1_000_000))),
        ]


@dataclass
class SourceStats:
    """Counters read by the metrics collector; plain ints, updated only by the reader thread."""

    decoded: int = 0
    connects: int = 0  # connections that delivered at least one frame
    attempts: int = 0
    reconnects: int = 0  # attempts after the first
    width: int = 0
    height: int = 0
    last_decode_lag_s: float = 0.0


def validate_live_url(url: str) -> str:
    """Return ``url`` if it is a usable RTSP URL; raise ValueError naming the (masked) problem."""
    masked = mask_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"camera URL {masked!r} is malformed: {redact(str(exc))}") from None
    if parts.scheme.lower() not in LIVE_SCHEMES:
        raise ValueError(f"camera URL {masked!r} must start with rtsp:// or rtsps:// (got scheme {parts.scheme or 'none'!r})")
    if not parts.hostname:
        raise ValueError(f"camera URL {masked!r} has no host")
    if port == 0:
        raise ValueError(f"camera URL {masked!r} has port 0")
    return url


class RtspSource:
    """Reads one camera in a background thread; consume ``frames`` (newest-first semantics)."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        config: RtspConfig | None = None,
        on_health: Callable[[HealthEvent], None] | None = None,
        notify: threading.Event | None = None,
        size: tuple[int, int] | None = None,
        detect_fps: float | None = None,
        record: Recording | None = None,
        aspect: tuple[int, int] | None = None,
        decoder_threads: int | None = None,
    ) -> None:
        """``on_health`` runs on the reader thread (keep it quick); ``notify`` is set on every new frame.

        ``size`` (width, height) fixes the output frame size, e.g. the frame the site's zones were
        drawn on; the stream is scaled to it and no probe is needed. Without it the first
        connection probes the stream (and ``max_width`` may shrink it; ``aspect`` (w, h) then sets
        the height from the width, for a sub-stream whose pixels are not square). ``detect_fps``:
        hand over only the frames of the detector's schedule. ``record``: also copy the stream into
        this recording's segments. ``decoder_threads``: 1 takes out the decoder's frame-threading delay
        (two or three frames), so frame times track arrival closely (a sub-stream whose recording is
        placed by wall time).
        """
        register_url_secrets(url)
        self.url = validate_live_url(url)
        self.camera_id = camera_id
        self.masked_url = mask_url(url)
        self.config = config or RtspConfig()
        self.frames: LatestQueue[Frame] = LatestQueue(self.config.queue_size, notify)
        self.health = HealthMonitor(camera_id, self.config.stall_after_s, self.config.alert_after_s)
        self.stats = SourceStats()
        self._on_health = on_health
        self._backoff = Backoff(self.config.backoff)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pipe: RawVideoPipe | None = None
        self._seq = 0
        self._t0 = time.monotonic()
        self._last_pts = -1.0
        self._size: tuple[int, int] | None = (int(size[0]), int(size[1])) if size else None
        self._reorders = False  # the stream has B-frames: see Recording.next_run
        self._probed = size is not None and record is None  # the recording needs to know about B-frames
        self._aspect = aspect
        self.detect_fps = detect_fps
        self.record = record
        self.decoder_threads = decoder_threads
        self._anchor: float | None = None  # wall seconds at pts 0 (see _wall_time)
        self._last_wall = 0.0
        self._clock = MonotonicWallClock()  # "now" for frame times: a system clock step cannot freeze them

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> RtspSource:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"rtsp-{self.camera_id}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading and close FFmpeg; frames already queued stay readable."""
        self._stop.set()
        pipe = self._pipe
        if pipe is not None:
            pipe.close()  # SIGKILLs ffmpeg: a frozen camera never answers TEARDOWN
        if self._thread is not None:
            self._thread.join(timeout)
        self.frames.close()

    @property
    def wall_at_zero(self) -> float | None:
        """Wall time (epoch seconds) of pts 0 on the frames' clock, once the first connection settled."""
        return self._anchor

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> RtspSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reader thread ---------------------------------------------------------------------------
    def _emit(self, events: list[HealthEvent]) -> None:
        for ev in events:
            fields = {"camera": self.camera_id, "state": ev.state, "previous": ev.previous, "down_for_s": round(ev.down_for_s, 2)}
            if ev.reason:
                fields["reason"] = ev.reason
            if ev.kind == "alert":
                log.error("camera offline alert", extra=fields)
            elif ev.kind == "recovery":
                log.warning("camera recovered", extra=fields)
            elif ev.kind == "clock_step":
                log.warning("system clock stepped", extra=fields)
            else:
                level = logging.INFO if ev.state in ("live", "connecting") else logging.WARNING
                log.log(level, "camera %s", ev.state, extra=fields)
            if self._on_health is not None:
                try:
                    self._on_health(ev)
                except Exception:  # noqa: BLE001 - a broken observer must not kill the camera
                    log.exception("health observer failed", extra={"camera": self.camera_id})

    def _run(self) -> None:
        while not self._stop.is_set():
            self.stats.attempts += 1
            if self.stats.attempts > 1:
                self.stats.reconnects += 1
            self._emit(self.health.connecting())
            reason = self._connect_and_pump()
            if self._stop.is_set():
                break
            self._emit(self.health.error(reason))
            delay = self._backoff.next_delay()
            log.info("reconnecting in %.2fs", delay, extra={"camera": self.camera_id, "attempt": self.stats.attempts})
            self._sleep(delay)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(left, 0.25))
            self._emit(self.health.tick())

    def _connect_and_pump(self) -> str:
        """One connection: probe, decode until it ends; returns the redacted reason it ended."""
        cfg = self.config
        options = cfg.input_options()
        try:
            if not self._probed:
                # Probed once: a reconnect then costs one RTSP session, not two. A camera that comes
                # back at another resolution is scaled to the first one, which zones were drawn on.
                info = probe(self.url, input_args=dict(options), timeout=cfg.probe_timeout_s)
                self._reorders, self._probed = info.reorders, True
                if self._size is None:
                    w, h = output_size(info.width, info.height, max_width=cfg.max_width)
                    if self._aspect is not None:
                        h = max(2, int(round(w * self._aspect[1] / self._aspect[0] / 2)) * 2)
                    self._size = (w, h)
            width, height = self._size
            if self._stop.is_set():
                return "stopped"
            run = self.record.next_run(live=True, reorders=self._reorders) if self.record is not None else None
            decoder = [("threads", str(self.decoder_threads))] if self.decoder_threads else []
            self._pipe = pipe = open_rawvideo_pipe(
                self.url, width=width, height=height, input_options=options + decoder, detect_fps=self.detect_fps,
                hwaccel=cfg.hwaccel, read_timeout=cfg.io_timeout_s, queue_size=2, record=run,
            )
        except FFmpegError as exc:
            return redact(exc.reason)
        self.stats.width, self.stats.height = width, height
        try:
            return self._pump(pipe)
        finally:
            pipe.close()  # SIGKILLs ffmpeg: a frozen camera never answers TEARDOWN
            self._pipe = None
            if self.record is not None and run is not None:
                self.record.end_run(run)

    def _wall_time(self, pts: float, now: float | None = None) -> datetime:
        """Capture time of a frame: the local clock, anchored so it advances exactly with the stream's pts.

        Arrival times are jittery, and the engine measures dwell and speed on pts, so evidence
        times must advance with pts or a 12 s stay could show panoramas 11.6 s apart. The anchor
        (wall time at pts 0) is set after each connect from the least-delayed frame of the settle
        window (see ``_pump``), and afterwards only moves for a reason:
          - earlier, when a frame would be stamped after its arrival: the frames before it were
            backlog (a server sending from the last keyframe, a TCP catch-up burst), so the anchor
            was late; a frame is never stamped in the future;
          - later, when stamps trail arrivals by more than ``max_clock_skew_s`` (the camera's
            clock runs slow against ours over days).
        Wall times never go backwards. "Now" is the monotonic clock plus an anchor; a step of the
        system clock is reported as a ``clock_step`` health event instead of reaching frame times.
        """
        now = self._clock.now() if now is None else now
        if (jump := self._clock.step()) is not None:
            self._emit([HealthEvent(self.camera_id, "clock_step", self.health.state, self.health.state, datetime.now(timezone.utc),
                                    reason=f"system clock stepped {jump:+.1f} s; frame times keep to the monotonic clock")])
        if self._anchor is None or self._anchor + pts > now or now - (self._anchor + pts) > self.config.max_clock_skew_s:
            self._anchor = now - pts
        wall = max(self._anchor + pts, self._last_wall + 1e-6)
        self._last_wall = wall
        return datetime.fromtimestamp(wall, timezone.utc)

    def _pump(self, pipe: RawVideoPipe) -> str:
        cfg = self.config
        first: tuple[float, float] | None = None  # (monotonic arrival, pts) of this connection's first frame
        pts_base = 0.0
        # Frames of the first settle_s are held (only the newest queue_size) until the clock anchor
        # is known: the least-delayed of them tells when pts 0 was captured, so a connect burst of
        # backlog frames gets true, evenly spaced times instead of its arrival times.
        settling: list[tuple[int, float, np.ndarray]] | None = []
        min_offset = float("inf")
        last_frame = flowing = time.monotonic()  # flowing: last frame that came within stall_after_s of the one before
        decoded = 0
        while not self._stop.is_set():
            try:
                raw = pipe.read(timeout=min(0.5, cfg.stall_after_s))
            except PipeTimeout:
                raw = False
            now = time.monotonic()
            if raw is None:
                return redact(pipe.log.reason("stream ended"))
            # Health follows the camera's frames as FFmpeg decodes them, not only the few it hands
            # over (at detect_fps a handed-over frame may be seconds apart on a slow schedule).
            progress = pipe.decoded > decoded or raw is not False
            decoded = pipe.decoded
            if progress:
                if now - last_frame <= cfg.stall_after_s:
                    flowing = now
                last_frame = now
            if now - flowing > cfg.reconnect_after_s:  # silent, or a trickle of buffered frames
                return f"no steady frames for {now - flowing:.1f}s"
            if raw is False:
                self._emit(self.health.frame(now) if progress else self.health.tick())
                continue
            pts = raw.pts if raw.pts == raw.pts else 0.0  # NaN when ffmpeg gave no timing
            if first is None:
                first = (now, pts)
                # continue the camera's timeline across reconnects: jump by the real gap
                pts_base = max(self._last_pts + 1e-3, now - self._t0) - pts
                self.stats.connects += 1
                self._backoff.reset()
                if self.record is not None and pipe.spec.record is not None:
                    # the recording shares this process's output timeline: its segments sit on the frames' clock
                    self.record.anchor(pipe.spec.record, pts_base, lambda: list(pipe.keyframes))
            self.stats.last_decode_lag_s = max(0.0, (now - first[0]) - (pts - first[1]))
            if self.record is not None:
                self.record.refresh()  # index closed segments, delete expired ones (at most every 0.25 s)
            frame_pts = pts_base + pts
            self._last_pts = frame_pts
            seq, self._seq = self._seq, self._seq + 1
            self.stats.decoded += 1
            # when FFmpeg had it, not when it let go (monotonic, so a system clock step cannot reach it)
            made = self._clock.now() - (0.0 if raw.made_at is None else time.monotonic() - raw.made_at)
            if settling is None:
                self.frames.put(Frame(self.camera_id, seq, frame_pts, self._wall_time(frame_pts, made), raw.image))
            else:
                settling.append((seq, frame_pts, raw.image))
                min_offset = min(min_offset, made - frame_pts)
                if len(settling) > cfg.queue_size:  # only the newest could reach the consumer anyway
                    del settling[0]
                    self.frames.note_dropped(1)
                if now - first[0] >= cfg.settle_s:
                    self._anchor = min_offset
                    for held_seq, held_pts, image in settling:
                        self.frames.put(Frame(self.camera_id, held_seq, held_pts, self._wall_time(held_pts), image))
                    settling = None
            self._emit(self.health.frame(now))
        return "stopped"
