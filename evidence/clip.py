"""The short H.264 clip: ring-buffer frames piped raw into FFmpeg (libx264, yuv420p, +faststart).

yuv420p and faststart make the file play in browsers and on the review platform as it downloads.
"""

from __future__ import annotations

import shutil
import subprocess
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
