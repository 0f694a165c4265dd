"""Frames freed on another thread go back to the OS once the mmap threshold is pinned (glibc).

A child process allocates twenty 1080p BGR frames on a reader thread, frees them after small
allocations were made above them, five times over, as the live path does all day. With the
threshold pinned its memory returns to where it started; with glibc's adjusting threshold it keeps
tens of megabytes (printed, not asserted: that is the C library's behaviour, not ours).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO

CHILD = """
import sys, threading
import numpy as np
from pipelines.bench.soak import rss_mb
from pipelines.live.malloc import pin_mmap_threshold
pinned = sys.argv[1] == "pinned" and pin_mmap_threshold()
def read(out):
    for _ in range(20):
        frame = np.empty((1080, 1920, 3), np.uint8)
        frame.fill(1)
        out.append(frame)
base = rss_mb()
for _ in range(5):
    held = []
    reader = threading.Thread(target=read, args=(held,))
    reader.start()
    reader.join()
    small = [np.ones(1000) for _ in range(200)]
    del held
print(pinned, rss_mb() - base)
"""


def _kept_mb(mode: str) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    pinned, kept_mb = out.stdout.split()
    return pinned == "True", float(kept_mb)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_frames_return_to_the_os_when_the_mmap_threshold_is_pinned() -> None:
    pinned, kept = _kept_mb("pinned")
    print(f"pinned: {kept:.1f} MB kept after freeing 100 frames; glibc default: {_kept_mb('default')[1]:.1f} MB")
    assert pinned
    assert kept < 15  # about two frames' worth of slack at most (each is 6.2 MB)
