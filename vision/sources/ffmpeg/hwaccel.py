"""Hardware decode: which ``-hwaccel`` to try, and remembering, per process, the ones that failed.

Hardware decode (``cuda``/``vaapi``/...) is tried when asked for; if ffmpeg fails before producing a
frame, the decoder reopens in software (see ``rawvideo``) and marks the accelerator failed here, so
"auto" stops trying it.
"""

from __future__ import annotations

import logging
import subprocess
from functools import lru_cache

from vision.sources.ffmpeg.binary import FFMPEG, find_binary
from vision.sources.ffmpeg.errors import FFmpegError

log = logging.getLogger(__package__)  # one logger for the package (see its docstring)


# Tried in this order for hwaccel="auto"; each is used only if `ffmpeg -hwaccels` lists it.
HWACCEL_PREFERENCE: tuple[str, ...] = ("cuda", "vaapi", "videotoolbox", "d3d11va")
SOFTWARE = ("none", "software", "cpu", "")

_failed_hwaccels: set[str] = set()


@lru_cache(maxsize=1)
def available_hwaccels() -> tuple[str, ...]:
    """Hardware decoders this ffmpeg build knows (``ffmpeg -hwaccels``); a device may still be absent."""
    try:
        out = subprocess.run([find_binary(FFMPEG), "-hide_banner", "-hwaccels"], capture_output=True, timeout=10).stdout
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


def mark_hwaccel_failed(name: str) -> None:
    """Remember that ``name`` could not open a device here, so "auto" stops trying it in this process."""
    _failed_hwaccels.add(name)
