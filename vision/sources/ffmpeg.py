"""Shared FFmpeg plumbing for every source (files, RTSP): probe, hwaccel choice, and the rawvideo pipe.

Decoding runs in an ``ffmpeg`` child process (command built with ffmpeg-python) that writes
``bgr24`` frames to a pipe. Frame selection (stride / target fps) happens inside the filter graph
BEFORE scaling and pixel-format conversion, so unused frames are decoded (they must be, for
inter-frame codecs) but never converted or copied. Two ``showinfo`` filters around ``select`` log
each frame's true pts and its index among all decoded frames; a stderr thread parses them so every
frame handed over carries its original timestamp and sequence number. The same thread keeps a tail
of ffmpeg's log (with level prefixes) so failures produce a one-line reason instead of a traceback.

Hardware decode (``-hwaccel cuda``/``vaapi``/...) is tried when asked for; if ffmpeg fails before
producing a frame, the pipe reopens in software and remembers the failure for this process.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"

# Tried in this order for hwaccel="auto"; each is used only if `ffmpeg -hwaccels` lists it.
HWACCEL_PREFERENCE: tuple[str, ...] = ("cuda", "vaapi", "videotoolbox", "d3d11va")
SOFTWARE = ("none", "software", "cpu", "")

_failed_hwaccels: set[str] = set()


class FFmpegError(RuntimeError):
    """FFmpeg could not open or decode a source. ``reason`` is one line fit for a summary."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = str(source)
        self.reason = reason


class DecodeError(FFmpegError):
    """A source failed to decode (corrupt, truncated, unreadable). Frames already yielded stay valid."""

    @property
    def path(self) -> str:
        return self.source


class ProbeError(DecodeError):
    """The source is unreadable, not media, or has no video stream (raised before any frame)."""


class PipeTimeout(TimeoutError):
    """No frame arrived within the read timeout (stalled stream)."""


# ---------------------------------------------------------------------------------------------
# probe


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What ffprobe says about a source's first video stream (sizes are as displayed, i.e. after rotation)."""

    source: str
    format_name: str  # e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpegts", "flv", "avi", "rtsp"
    codec: str  # e.g. "h264", "hevc"
    width: int
    height: int
    fps: float | None  # average frame rate; None when unknown (some live streams)
    duration: float | None  # seconds; None for live streams
    nb_frames: int | None  # from the container when it says so
    start_time: float  # container start pts in seconds (ffmpeg subtracts it, so decoded pts start near 0)
    creation_time: datetime | None  # container/stream ``creation_time`` tag, timezone-aware (UTC)
    rotation: int = 0  # degrees applied on display (autorotate)
    size_bytes: int | None = None

    @property
    def frame_interval(self) -> float | None:
        return 1.0 / self.fps if self.fps else None


def _ratio(text: str | None) -> float | None:
    if not text or text in ("0/0", "N/A"):
        return None
    if "/" in text:
        num, den = text.split("/", 1)
        try:
            n, d = float(num), float(den)
        except ValueError:
            return None
        return n / d if d and n else None
    try:
        value = float(text)
    except ValueError:
        return None
    return value or None


def _float(text: object) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_creation_time(text: str | None) -> datetime | None:
    """ISO-8601 ``creation_time`` tag (e.g. ``2017-09-05T13:53:54.000000Z``) as an aware UTC datetime."""
    if not text:
        return None
    from datetime import timezone

    value = text.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # the tag is defined as UTC
        parsed = parsed.replace(tzinfo=timezone.utc)
    if parsed.year < 1971:  # unset tags are often written as the epoch / 1904 (QuickTime zero)
        return None
    return parsed


def _rotation(stream: Mapping) -> int:
    tag = (stream.get("tags") or {}).get("rotate")
    if tag is not None:
        try:
            return int(float(tag)) % 360
        except ValueError:
            pass
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            try:
                return int(-float(side["rotation"])) % 360
            except (TypeError, ValueError):
                pass
    return 0


def _probe_error(stderr: str, source: str) -> str:
    """ffprobe's cause and its consequence on one line, without the path repeated."""
    lines = []
    for raw in stderr.splitlines():
        text = clean_log_line(raw)
        if text.startswith(f"{source}: "):
            text = text[len(source) + 2 :]
        if text and text not in lines:
            lines.append(text)
    if not lines:
        return "ffprobe failed without a message"
    return lines[0] if len(lines) == 1 else f"{lines[0]} ({lines[-1]})"


def probe(
    source: str | Path,
    *,
    input_args: Mapping[str, object] | None = None,
    timeout: float | None = 30.0,
) -> MediaInfo:
    """Describe ``source`` (a path or URL). Raises ProbeError with a one-line reason when it is not a video.

    ``input_args`` are ffmpeg input options without the dash (e.g. ``{"rtsp_transport": "tcp"}``).
    """
    src = str(source)
    if not src.startswith(("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "srt://", "pipe:")):
        path = Path(src)
        if not path.exists():
            raise ProbeError(src, "file not found")
        if path.is_dir():
            raise ProbeError(src, "is a directory, not a video file")
        if path.stat().st_size == 0:
            raise ProbeError(src, "empty file (0 bytes)")
    cmd = [_binary(FFPROBE), "-v", "error", "-show_format", "-show_streams", "-of", "json"]
    for key, value in (input_args or {}).items():
        cmd += [f"-{key}", str(value)]
    cmd.append(src)
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeError(src, f"ffprobe timed out after {timeout:.0f} s") from None
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise ProbeError(src, f"not a readable video: {_probe_error(stderr, src)}")
    try:
        data = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError:
        raise ProbeError(src, "ffprobe returned unparseable output") from None
    streams = [s for s in data.get("streams", []) if s.get("codec_type") == "video" and not _is_cover_art(s)]
    if not streams:
        raise ProbeError(src, "no video stream (not a video file)")
    stream = streams[0]
    fmt = data.get("format", {})
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        raise ProbeError(src, f"video stream has no frame size: {_probe_error(stderr, src) if stderr.strip() else 'unknown codec parameters'}")
    rotation = _rotation(stream)
    if rotation in (90, 270):
        width, height = height, width
    fps = _ratio(stream.get("avg_frame_rate")) or _ratio(stream.get("r_frame_rate"))
    duration = _float(fmt.get("duration")) or _float(stream.get("duration"))
    nb_frames = stream.get("nb_frames")
    tags = {**(fmt.get("tags") or {}), **(stream.get("tags") or {})}
    size = _float(fmt.get("size"))
    return MediaInfo(
        source=src,
        format_name=str(fmt.get("format_name", "")),
        codec=str(stream.get("codec_name", "")),
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        nb_frames=int(nb_frames) if nb_frames and str(nb_frames).isdigit() else None,
        start_time=_float(fmt.get("start_time")) or 0.0,
        creation_time=parse_creation_time(tags.get("creation_time")),
        rotation=rotation,
        size_bytes=int(size) if size else None,
    )


def _is_cover_art(stream: Mapping) -> bool:
    return bool((stream.get("disposition") or {}).get("attached_pic"))


# ---------------------------------------------------------------------------------------------
# hardware decode


def _binary(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise FFmpegError(name, f"{name} not found on PATH (install ffmpeg, e.g. `apt-get install ffmpeg`)")
    return found


@lru_cache(maxsize=1)
def available_hwaccels() -> tuple[str, ...]:
    """Hardware decoders this ffmpeg build knows (``ffmpeg -hwaccels``); a device may still be absent."""
    try:
        out = subprocess.run([_binary(FFMPEG), "-hide_banner", "-hwaccels"], capture_output=True, timeout=10).stdout
    except (subprocess.TimeoutExpired, FFmpegError):
        return ()
    lines = out.decode("utf-8", "replace").splitlines()
    return tuple(ln.strip() for ln in lines[1:] if ln.strip())


def resolve_hwaccel(preference: str | None = "auto") -> str | None:
    """The hwaccel to try for ``preference`` ("auto", "none", or a name), or None for software.

    "auto" picks the first of HWACCEL_PREFERENCE the build supports and that has not already
    failed in this process; an explicit name the build lacks falls back to software with a warning.
    """
    pref = (preference or "none").strip().lower()
    if pref in SOFTWARE:
        return None
    known = available_hwaccels()
    if pref == "auto":
        for name in HWACCEL_PREFERENCE:
            if name in known and name not in _failed_hwaccels:
                return name
        return None
    if pref not in known:
        log.warning("hwaccel %r is not supported by this ffmpeg build (has: %s); decoding in software", pref, ", ".join(known) or "none")
        return None
    if pref in _failed_hwaccels:
        return None
    return pref


def hwaccel_args(preference: str | None = "auto") -> list[str]:
    """FFmpeg input arguments for ``preference``: e.g. ``["-hwaccel", "cuda"]``, or ``[]`` for software."""
    name = resolve_hwaccel(preference)
    return ["-hwaccel", name] if name else []


def mark_hwaccel_failed(name: str) -> None:
    """Remember that ``name`` could not open a device here, so "auto" stops trying it in this process."""
    _failed_hwaccels.add(name)


# ---------------------------------------------------------------------------------------------
# sizes and selection


def output_size(width: int, height: int, *, scale: float | None = None, max_width: int | None = None) -> tuple[int, int]:
    """Frame size after a region scale: a factor (0 < scale <= 1 typical) and/or a maximum width.

    Rounded to even numbers, which every downstream consumer (encoders for evidence clips) accepts.
    """
    factor = 1.0
    if scale is not None:
        if not (scale > 0):
            raise ValueError(f"scale must be > 0, got {scale}")
        factor = float(scale)
    if max_width is not None:
        if max_width <= 0:
            raise ValueError(f"max_width must be > 0, got {max_width}")
        factor = min(factor, max_width / width)
    if factor == 1.0:
        return width, height
    w = max(2, int(round(width * factor / 2)) * 2)
    h = max(2, int(round(height * factor / 2)) * 2)
    return w, h


def select_expression(*, stride: int | None = None, target_fps: float | None = None) -> str | None:
    """The ``select`` filter expression for a frame stride or a target rate, or None to keep every frame.

    Target fps keeps a frame when at least 1/fps (minus half a millisecond of jitter) has passed since
    the last kept one: frames keep their true timestamps (unlike the ``fps`` filter, which retimes and
    duplicates).
    """
    if stride is not None and target_fps is not None:
        raise ValueError("give either stride or target_fps, not both")
    if stride is not None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        return None if stride == 1 else f"not(mod(n,{int(stride)}))"
    if target_fps is not None:
        if not (target_fps > 0):
            raise ValueError(f"target_fps must be > 0, got {target_fps}")
        interval = 1.0 / float(target_fps) - 0.0005
        return f"isnan(prev_selected_t)+gte(t-prev_selected_t,{interval:.6f})"
    return None


# ---------------------------------------------------------------------------------------------
# log parsing

_LEVEL_RE = re.compile(r"\[(panic|fatal|error|warning|info|verbose|debug|trace)\]\s?")
_CONTEXT_RE = re.compile(r"^\[([^\]@]+?)(?:@\w+)?\s@\s(?:0x[0-9a-f]+|\(nil\))\]\s*")
_SHOWINFO_RE = re.compile(r"\[showinfo@(pre|post) @ 0x[0-9a-f]+\] \[info\] n:\s*(\d+) pts:\s*(-?\d+) pts_time:(-?[\d.eE+-]+)")
_TIMEBASE_RE = re.compile(r"\[showinfo@(pre|post) @ 0x[0-9a-f]+\] \[info\] config in time_base: (\d+)/(\d+)")


def clean_log_line(line: str) -> str:
    """Strip ffmpeg's ``[ctx @ 0x...]`` and ``[level]`` decorations from a log line."""
    text = line.strip()
    for _ in range(3):
        before = text
        text = _LEVEL_RE.sub("", _CONTEXT_RE.sub(lambda m: "" if m.group(1) == "NULL" else f"{m.group(1)}: ", text), count=1).strip()
        if text == before:
            break
    return text


_GENERIC = (
    "conversion failed",
    "error while decoding stream",
    "nothing was written",
    "invalid argument",
    "error initializing complex filters",
    "error applying options",
    "error initializing filter",
    "error while filtering",
    "error marking filters as finished",
    "error while processing the decoded data",
    "device setup failed",
    "device creation failed",
)


@dataclass(slots=True)
class FFmpegLog:
    """What a decoder process said: a bounded tail plus error lines, split by when they happened.

    Errors logged before the first decoded frame are "leading" (a recording that starts mid-GOP, a
    seek landing between keyframes, a failed hwaccel probe) and usually harmless; errors after it
    ("stream errors") mean corrupt or missing data inside the part being decoded.
    """

    tail: deque[str] = field(default_factory=lambda: deque(maxlen=60))
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    error_count: int = 0
    stream_errors: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=200))
    stream_error_count: int = 0
    first_stream_error_pts: float | None = None

    def add(self, line: str, pts: float | None = None) -> None:
        """Record one log line; ``pts`` is the last decoded frame's pts when it was logged (None before any)."""
        self.tail.append(line)
        if "[error]" in line or "[fatal]" in line or "[panic]" in line:
            text = clean_log_line(line)
            self.error_count += 1
            self.errors.append(text)
            if pts is not None:
                self.stream_error_count += 1
                self.stream_errors.append((pts, text))
                if self.first_stream_error_pts is None:
                    self.first_stream_error_pts = pts

    @staticmethod
    def _pick(lines: list[str]) -> str | None:
        # The cause comes first; later lines are consequences ("Error initializing complex filters",
        # "Invalid argument", "Conversion failed!"), so take the first line that is not one of those.
        for line in lines:
            if not line.lower().startswith(_GENERIC):
                return line
        return lines[0] if lines else None

    def reason(self, default: str = "ffmpeg failed") -> str:
        """The most telling error: the first specific fatal/error line, else the last line of output."""
        picked = self._pick(list(self.errors))
        if picked:
            return picked
        for line in reversed(self.tail):
            if line.strip():
                return clean_log_line(line)
        return default

    def stream_reason(self) -> str | None:
        """The first specific error logged after decoding started (where corruption begins), if any."""
        return self._pick([text for _, text in self.stream_errors])


# ---------------------------------------------------------------------------------------------
# rawvideo pipe


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One frame out of the pipe: ``index`` counts every decoded frame of this pipe's input (0-based),
    ``pts`` is seconds on ffmpeg's output timeline (container start and any ``-ss`` already subtracted)."""

    index: int
    pts: float
    image: np.ndarray  # HxWx3 uint8 BGR, owned by the caller


@dataclass(frozen=True, slots=True)
class PipeSpec:
    """Everything needed to (re)start the decoder process; kept so a failed hwaccel can reopen in software."""

    source: str
    width: int  # output frame size (after scaling)
    height: int
    input_options: tuple[tuple[str, str], ...] = ()  # ffmpeg input options, without dashes, in order
    select: str | None = None
    hwaccel: str | None = None
    pre_filters: tuple[str, ...] = ()  # raw filter strings applied first (e.g. an exact segment trim)
    extra_filters: tuple[str, ...] = ()  # raw filter strings applied after select, before scale
    copyts: bool = False  # keep container timestamps (pts not shifted to start at 0)
    read_timeout: float | None = None
    queue_size: int = 4
    hwaccel_auto: bool = False  # chosen by "auto": a failure is expected on machines without a device


_END = object()


def _apply_filter(stream, text: str):  # noqa: ANN001, ANN202 - ffmpeg-python nodes are untyped
    """Apply ``name=a:k=v`` to an ffmpeg-python stream (values passed as arguments, so they get escaped once)."""
    name, _, args = text.partition("=")
    positional: list[str] = []
    keywords: dict[str, str] = {}
    for part in filter(None, args.split(":")):
        key, eq, value = part.partition("=")
        if eq:
            keywords[key] = value
        else:
            positional.append(part)
    return stream.filter(name, *positional, **keywords)


class RawVideoPipe:
    """Iterate ``RawFrame``s from an ffmpeg process; see module docstring.

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
    def command(self, spec: PipeSpec | None = None) -> list[str]:
        """The ffmpeg command line (built with ffmpeg-python) for ``spec``."""
        import ffmpeg  # ffmpeg-python

        spec = spec or self.spec
        kwargs: dict[str, str] = {}
        for key, value in spec.input_options:
            kwargs[key] = value
        if spec.hwaccel:
            kwargs["hwaccel"] = spec.hwaccel
        stream = ffmpeg.input(spec.source, **kwargs).video
        for flt in spec.pre_filters:
            stream = _apply_filter(stream, flt)
        if spec.select:
            stream = stream.filter("showinfo@pre", checksum=0).filter("select", spec.select)
        stream = stream.filter("showinfo@post", checksum=0)
        for flt in spec.extra_filters:
            stream = _apply_filter(stream, flt)
        stream = stream.filter("scale", spec.width, spec.height, flags="area")
        # passthrough: never duplicate/drop frames to fit a rate; enc_time_base -1: keep the input time
        # base so close VFR timestamps don't collide in the muxer.
        out = stream.output(
            "pipe:", format="rawvideo", pix_fmt="bgr24", fps_mode="passthrough", enc_time_base=-1, an=None, sn=None, dn=None
        )
        # Global options first: ffmpeg-python would append them after the output ("trailing options").
        globals_ = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"] + (["-copyts"] if spec.copyts else [])
        return [_binary(FFMPEG), *globals_, *out.get_args()]

    def _start(self, spec: PipeSpec) -> None:
        self.spec = spec
        self.decoded = 0
        self.last_decoded_pts = None
        self.log = FFmpegLog()
        self._pts_queue: queue.Queue = queue.Queue()
        self._frames: queue.Queue = queue.Queue(maxsize=max(1, spec.queue_size))
        self._stop = threading.Event()
        cmd = self.command(spec)
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
                if which == "pre":
                    pre[pts] = n
                    pre_order.append(pts)
                    while len(pre_order) > 4096:
                        pre.pop(pre_order.popleft(), None)
                    continue
                index = pre.pop(pts, n) if use_pre else n
                self._pts_queue.put((index, pts_time))
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
                if item is None:  # stderr ended early (should not happen): index by count
                    pts_done = True
                    index, pts = fps_fallback_index, float("nan")
                else:
                    index, pts = item
                fps_fallback_index = index + 1
                self._put(RawFrame(index=index, pts=pts, image=image))
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
                from dataclasses import replace

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
    hwaccel: str | None = "auto",
    pre_filters: Sequence[str] = (),
    extra_filters: Sequence[str] = (),
    copyts: bool = False,
    read_timeout: float | None = None,
    queue_size: int = 4,
) -> RawVideoPipe:
    """Start decoding ``source`` into ``width``x``height`` BGR frames (scaled with area filtering).

    ``input_options``: ffmpeg input options without dashes, in order (e.g. ``{"ss": 60, "t": 300}``
    for a segment, ``{"rtsp_transport": "tcp", "timeout": 5000000}`` for a camera).
    ``stride``/``target_fps``: hand over only those frames (see ``select_expression``); the others are
    decoded but never scaled or converted. ``hwaccel``: "auto", "none" or a name (see ``resolve_hwaccel``).
    ``pre_filters`` run before selection (e.g. ``trim=start=..:end=..``), ``extra_filters`` after it.
    ``copyts``: RawFrame.pts are the container's timestamps instead of starting near 0.
    ``read_timeout``: seconds ``read()`` waits for a frame before raising PipeTimeout (live sources).
    """
    items = list(input_options.items()) if isinstance(input_options, Mapping) else list(input_options or [])
    spec = PipeSpec(
        source=str(source),
        width=int(width),
        height=int(height),
        input_options=tuple((str(k), _fmt_option(v)) for k, v in items),
        select=select_expression(stride=stride, target_fps=target_fps),
        hwaccel=resolve_hwaccel(hwaccel),
        hwaccel_auto=(hwaccel or "").strip().lower() == "auto",
        pre_filters=tuple(pre_filters),
        extra_filters=tuple(extra_filters),
        copyts=copyts,
        read_timeout=read_timeout,
        queue_size=queue_size,
    )
    return RawVideoPipe(spec)


def _fmt_option(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def first_frame_pts(source: str | Path, *, input_options: Mapping[str, object] | None = None) -> float | None:
    """Container timestamp of the first decoded frame (decodes one tiny frame). Differs from the
    container start when B-frames delay output in formats without pts (AVI)."""
    with open_rawvideo_pipe(source, width=2, height=2, input_options=input_options, hwaccel="none", copyts=True) as pipe:
        frame = pipe.read(timeout=30)
    return None if frame is None else frame.pts
