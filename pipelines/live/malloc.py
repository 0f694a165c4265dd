"""Frame-sized allocations always come from ``mmap``, so every freed frame goes back to the OS.

glibc serves allocations above ``M_MMAP_THRESHOLD`` with ``mmap``, but raises that threshold (up to
32 MB) each time such a chunk is freed. After that, the 6 MB of a 1080p BGR frame come from the heap
arenas of the reader threads that allocate them, and a day of frames freed on another thread
fragments those arenas: in a 30-minute two-camera 1080p soak the worker's memory crept up by about a
megabyte a minute. Setting the threshold explicitly turns the adjustment off (``mallopt``); the cost
is a fresh mapping per frame, a few page faults per megabyte at the detection rate.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
THRESHOLD_BYTES = 1 << 20  # larger than any crop or tensor row, smaller than any frame


def pin_mmap_threshold(nbytes: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``nbytes``; False (and nothing changed) on other C libraries."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.info("not glibc: the mmap threshold is left as it is")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, int(nbytes)))
