"""A local disk spool for messages that could not reach Redis: one fsynced file per message.

One file per message (not one JSONL file) so a crash mid-write can only leave a temp file, never
a torn line in the middle of good ones, and replay can delete exactly what Redis accepted. Names
sort by time of spooling, so replay keeps the original order. Files are written to a temp name,
fsynced, renamed, and the directory fsynced: a spooled message survives power loss.

Several workers may share one folder: names carry the writer's pid, replay runs under an exclusive
lock on the folder (one replayer at a time, so no message is sent twice), and start-up removes
only temp files no live writer can own (its pid is gone, or it is old).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evidence.atomic import fsync_path, replace_durable

_SUFFIX = ".msg.json"
LOCK = ".replay.lock"
STALE_TMP_S = 300.0  # a temp file this old is a crash's leftover, whoever wrote it


def _writer_alive(tmp: Path) -> bool:
    """Whether the process named in a temp file's name (``<time>-<pid>-...``) still runs."""
    try:
        pid = int(tmp.name.split("-")[1])
        os.kill(pid, 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class DiskSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = 0
        cutoff = time.time() - STALE_TMP_S
        for stale in self.directory.glob("*.tmp"):  # a crash mid-write: the message was never acknowledged as spooled
            try:
                if not _writer_alive(stale) or stale.stat().st_mtime < cutoff:
                    stale.unlink(missing_ok=True)
            except FileNotFoundError:
                pass  # its writer just finished it

    def append(self, key: str, payload: bytes) -> Path:
        """Durably store one message; ``key`` (the idempotency key) is part of the name for operators."""
        safe_key = "".join(c for c in key if c.isalnum() or c in "-_")[:64] or "msg"
        with self._lock:
            self._counter += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._counter:06d}-{safe_key}{_SUFFIX}"
        final = self.directory / name
        replace_durable(final, payload, 0o600)
        return final

    @contextmanager
    def replaying(self) -> Iterator[bool]:
        """Exclusive replay of the folder across threads and processes: yields False (at once) when
        another replay holds it."""
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    def pending(self) -> list[Path]:
        """Spooled messages, oldest first."""
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob(f"*{_SUFFIX}"))

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        fsync_path(self.directory)
