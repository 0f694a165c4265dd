"""Encoding clips, for the two cases that need it: frames without a bitstream of their own (piped raw
into libx264), and a site that asks for text burned into the camera's clip (``evidence.clip_overlay``).

Clips are otherwise the camera's own packets, copied (see ``vision.sources.ffmpeg.cut``). yuv420p and
faststart make an encoded file play in browsers and on the review platform as it downloads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np


class ClipError(Exception):
    """FFmpeg is missing or failed; the message carries its stderr."""


def _check_frame(i: int, frame: np.ndarray, size: tuple[int, int]) -> None:
    w, h = size
    if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
        raise ClipError(f"clip frame {i} is {frame.shape} {frame.dtype}, expected ({h}, {w}, 3) uint8 like frame 0")


class ClipWriter:
    """Frames piped one by one into FFmpeg (libx264, yuv420p, +faststart), for clips too long to hold in memory."""

    def __init__(self, out: Path, size: tuple[int, int], fps: float, crf: int = 23, preset: str = "veryfast") -> None:
        if fps <= 0:
            raise ClipError(f"fps must be positive, got {fps}")
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise ClipError("ffmpeg not found on PATH (apt-get install ffmpeg)")
        self.out = Path(out)
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0
        w, h = self.size
        cmd = [
            ffmpeg, "-v", "error", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", f"{fps:.6g}", "-i", "pipe:0",
            "-an", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",  # yuv420p needs even sides
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-threads", "2", "-map_metadata", "-1",
            str(self.out),
        ]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        _check_frame(self.frames, frame, self.size)
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            pass
        self.frames += 1

    def close(self) -> None:
        assert self._proc.stdin is not None and self._proc.stderr is not None
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        err = self._proc.stderr.read().decode(errors="replace")
        if self._proc.wait() != 0 or not self.out.exists():
            raise ClipError(f"ffmpeg failed encoding the clip: {err.strip()[-500:]}")

    def __enter__(self) -> "ClipWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:  # a failed caller leaves no half-written file behind a live ffmpeg
            self._proc.kill()
            self._proc.wait()


def encode_clip(frames: Sequence[np.ndarray], fps: float, out: Path, crf: int = 23, preset: str = "veryfast") -> None:
    if not frames:
        raise ClipError("no frames to encode")
    h, w = frames[0].shape[:2]
    for i, f in enumerate(frames):
        _check_frame(i, f, (w, h))
    with ClipWriter(out, (w, h), fps, crf, preset) as writer:
        for f in frames:
            writer.write(f)


def burn_overlay(
    src: Path, out: Path, lines: Sequence[str], start: datetime, tz: str, font: Path, crf: int = 23, preset: str = "veryfast"
) -> None:
    """Re-encode ``src`` with ``lines`` and a running capture clock (``start`` is the wall time of its
    first frame, shown in ``tz``) in a bar at the top left."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ClipError("ffmpeg not found on PATH (apt-get install ffmpeg)")
    with tempfile.TemporaryDirectory(prefix="overlay-") as tmp:
        text = Path(tmp) / "lines.txt"
        # drawtext expands %{...} in the file: the clock is the frame's pts after the first frame's epoch time
        clock = "%{pts:localtime:" + f"{start.timestamp():.3f}" + "}"
        text.write_text("\n".join([clock, *(line.replace("%", "%%") for line in lines)]), encoding="utf-8")
        draw = (
            f"drawtext=fontfile={_escape(font)}:textfile={_escape(text)}:x=12:y=12:fontsize=h/36:line_spacing=6:"
            "fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=8"
        )
        cmd = [
            ffmpeg, "-v", "error", "-nostdin", "-y", "-i", str(src), "-map", "0:v:0", "-an", "-vf", draw,
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", "-movflags", "+faststart",
            "-threads", "2", "-map_metadata", "-1", str(out),
        ]
        proc = subprocess.run(cmd, capture_output=True, env={**os.environ, "TZ": tz}, check=False)
    if proc.returncode != 0 or not out.exists():
        raise ClipError(f"ffmpeg failed burning the overlay into the clip: {proc.stderr.decode(errors='replace').strip()[-500:]}")


def _escape(path: Path) -> str:
    """A path as a filter option value (ffmpeg's filter-graph escaping of \\ : and ')."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")
