"""The ``ffmpeg`` and ``ffprobe`` executables, found on PATH with an install hint when missing."""

from __future__ import annotations

import shutil

from vision.sources.ffmpeg.errors import FFmpegError

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"


def find_binary(name: str) -> str:
    """Full path of ``name``; raises FFmpegError saying how to install it when it is not on PATH."""
    found = shutil.which(name)
    if not found:
        raise FFmpegError(name, f"{name} not found on PATH (install ffmpeg, e.g. `apt-get install ffmpeg`)")
    return found
