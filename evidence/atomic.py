"""Crash-safe publishing of a whole folder.

A package is built in a hidden temp folder next to its final place (same filesystem, so rename is
atomic), every file and the folder are fsynced, and only then is it renamed into place and the parent
fsynced. A crash at any point leaves either nothing or a ``.tmp-*`` folder without a signed manifest,
which never verifies and is never taken for a package.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes the names in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a new file and fsync it (the caller fsyncs the folder)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durable(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` whole or not at all: a ``.tmp`` sibling, fsynced, renamed over, folder fsynced.

    A reader never sees a half-written file, and after return the file survives a power cut.
    """
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # left by a crash mid-write
    write_durable(tmp, data, mode)
    os.replace(tmp, path)
    fsync_path(path.parent)


def fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root``, deepest first, then ``root`` itself."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def make_temp_dir(final: Path) -> Path:
    """A fresh hidden folder beside ``final`` (created parents are fsynced so the rename survives)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def publish_dir(tmp: Path, final: Path) -> None:
    """fsync everything in ``tmp`` and rename it to ``final``; raises FileExistsError if taken."""
    fsync_tree(tmp)
    try:
        os.rename(tmp, final)  # on Linux: atomic; fails on a non-empty existing dir
    except OSError as exc:
        if final.exists():
            raise FileExistsError(f"{final} already exists") from exc
        raise
    fsync_path(final.parent)


def sweep_stale_temps(parent: Path, older_than_s: float = 3600.0) -> list[Path]:
    """Remove temp folders a crashed writer left behind (old enough that no writer still owns them)."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    cutoff = time.time() - older_than_s
    for child in parent.iterdir():
        if child.name.startswith(TMP_PREFIX) and child.is_dir() and child.stat().st_mtime < cutoff:
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed
