"""Evidence clips by stream copy: the camera's own packets remuxed into an MP4, never re-encoded.

Cuts fall on keyframes: a clip from recorded segments is the whole segments that cover the window
(each starts with a keyframe); a clip from a file starts at the keyframe before the window (the
packets before its start are kept and marked to be skipped on playback, so the first frame shown is
the one at the start). Copying costs a process start and a few milliseconds of I/O, where encoding
a 1080p clip cost seconds. ``+faststart`` puts the index first so the clip plays as it downloads.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from vision.sources.ffmpeg.binary import FFMPEG, find_binary
from vision.sources.ffmpeg.command import GLOBAL_OPTIONS, format_option
from vision.sources.ffmpeg.decode_log import FFmpegLog
from vision.sources.ffmpeg.errors import FFmpegError

_MP4 = ["-map", "0:v:0", "-c", "copy", "-an", "-sn", "-dn", "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4"]


def _run(cmd: list[str], source: str, out: Path, timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise FFmpegError(source, f"clip copy timed out after {timeout:.0f} s") from None
    if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        log = FFmpegLog()
        for line in proc.stderr.decode("utf-8", "replace").splitlines():
            log.add(line)
        raise FFmpegError(source, f"clip copy failed: {log.reason()}")


def copy_file_clip(source: str | Path, start_s: float, end_s: float, out: Path, timeout: float = 120.0) -> None:
    """``source`` from ``start_s`` to ``end_s`` (seconds from the file's start) into ``out`` (MP4)."""
    if end_s <= start_s:
        raise ValueError(f"clip end {end_s} must be after its start {start_s}")
    cmd = [
        find_binary(FFMPEG), *GLOBAL_OPTIONS, "-y", "-ss", format_option(max(0.0, float(start_s))), "-i", str(source),
        "-t", format_option(float(end_s) - max(0.0, float(start_s))), *_MP4, str(out),
    ]
    _run(cmd, str(source), out, timeout)


def copy_segments_clip(segments: Sequence[Path], out: Path, timeout: float = 120.0) -> None:
    """Consecutive MPEG-TS segments of one recording run, joined byte for byte, into ``out`` (MP4)."""
    if not segments:
        raise ValueError("no segments to copy")
    joined = "concat:" + "|".join(str(p) for p in segments)
    cmd = [find_binary(FFMPEG), *GLOBAL_OPTIONS, "-y", "-i", joined, *_MP4, str(out)]
    _run(cmd, str(segments[0]), out, timeout)
