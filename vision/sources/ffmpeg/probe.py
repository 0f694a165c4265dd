"""What ffprobe says about a source's first video stream, or a one-line reason why it is not a video."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from vision.sources.ffmpeg.binary import FFPROBE, find_binary
from vision.sources.ffmpeg.decode_log import clean_log_line
from vision.sources.ffmpeg.errors import ProbeError


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
    video_start_time: float | None = None  # the video stream's own first timestamp (after audio, it may start later)
    reorders: bool = False  # frames are decoded out of presentation order (B-frames)

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
    cmd = [find_binary(FFPROBE), "-v", "error", "-show_format", "-show_streams", "-of", "json"]
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
        video_start_time=_float(stream.get("start_time")),
        reorders=int(stream.get("has_b_frames") or 0) > 0,
    )


def _is_cover_art(stream: Mapping) -> bool:
    return bool((stream.get("disposition") or {}).get("attached_pic"))


INDEXED_FORMATS = ("mov", "mp4", "matroska", "webm")  # containers whose index makes a seek land on a keyframe


def seeks_to_keyframes(info: MediaInfo) -> bool:
    """True for containers with an index of keyframes (a seek lands on one); False for streams such as
    MPEG-TS or FLV, where a seek lands anywhere and decoding must start early enough to meet one."""
    return any(name in INDEXED_FORMATS for name in info.format_name.split(","))


def keyframe_interval(source: str | Path, seconds: float = 30.0, timeout: float = 30.0) -> float | None:
    """The longest gap between keyframes in the first ``seconds`` of ``source`` (packets only, nothing
    decoded), or None when it cannot be read or has fewer than two keyframes there."""
    cmd = [
        find_binary(FFPROBE), "-v", "error", "-read_intervals", f"%+{seconds:g}", "-select_streams", "v:0",
        "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", str(source),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    keys = []
    for line in proc.stdout.splitlines():
        pts, _, flags = line.partition(",")
        if "K" in flags and (t := _float(pts)) is not None:
            keys.append(t)
    keys.sort()
    gaps = [b - a for a, b in zip(keys, keys[1:])]
    return max(gaps) if gaps else None
