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


def encode_clip(frames: Sequence[np.ndarray], fps: float, out: Path, crf: int = 23, preset: str = "veryfast") -> None:
    if not frames:
        raise ClipError("no frames to encode")
    if fps <= 0:
        raise ClipError(f"fps must be positive, got {fps}")
    h, w = frames[0].shape[:2]
    for i, f in enumerate(frames):
        if f.shape != (h, w, 3) or f.dtype != np.uint8:
            raise ClipError(f"clip frame {i} is {f.shape} {f.dtype}, expected ({h}, {w}, 3) uint8 like frame 0")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ClipError("ffmpeg not found on PATH (apt-get install ffmpeg)")
    cmd = [
        ffmpeg, "-v", "error", "-nostdin", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", f"{fps:.6g}", "-i", "pipe:0",
        "-an", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",  # yuv420p needs even sides
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", "-threads", "2", "-map_metadata", "-1",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    try:
        for f in frames:
            proc.stdin.write(np.ascontiguousarray(f).tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0 or not out.exists():
        raise ClipError(f"ffmpeg failed encoding the clip: {err.strip()[-500:]}")


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
