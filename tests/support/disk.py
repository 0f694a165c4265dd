"""A small disk that a test can fill up and free again: a real tmpfs mounted on a test folder when the
sandbox lets us mount (root), otherwise ENOSPC injected into every write under that folder.

``fill()`` writes a filler file until the filesystem is full (tmpfs) or turns on the injected error;
``free()`` removes it. Either way the code under test sees ``OSError(ENOSPC)`` from its own writes.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallDisk:
    def __init__(self, path: Path, mounted: bool) -> None:
        self.path = path
        self.mounted = mounted
        self.full = False
        self._filler = path / ".filler"

    def fill(self) -> None:
        if self.mounted:
            chunk = b"\0" * (1 << 20)
            with open(self._filler, "ab") as fh:
                try:
                    while True:
                        fh.write(chunk)
                        fh.flush()
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
            # the last partial MiB may still fit small writes: use it up byte-wise
            with open(self._filler, "ab", buffering=0) as fh:
                try:
                    while True:
                        fh.write(b"\0" * 512)
                except OSError:
                    pass
        self.full = True

    def free(self) -> None:
        if self.mounted:
            self._filler.unlink(missing_ok=True)
        self.full = False

    def owns(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith(str(self.path))
        except OSError:
            return False


def _try_mount(path: Path, size_kb: int) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallDisk]:
    path = tmp_path / "small-disk"
    path.mkdir()
    disk = SmallDisk(path, _try_mount(path, 16 * 1024))
    if not disk.mounted:  # no mounting here: every write under the folder fails while "full"
        real_write = os.write

        def write(fd: int, data) -> int:  # noqa: ANN001
            if disk.full and disk.owns(fd):
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)
    try:
        yield disk
    finally:
        if disk.mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
