"""A local disk spool for messages that could not reach Redis: one fsynced file per message.

One file per message (not one JSONL file) so a crash mid-write can only leave a temp file, never
a torn line in the middle of good ones, and replay can delete exactly what Redis accepted. Names
sort by time of spooling, so replay keeps the original order. Files are written to a temp name,
fsynced, renamed, and the directory fsynced: a spooled message survives power loss.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from evidence.atomic import fsync_path, replace_durable

_SUFFIX = ".msg.json"


class DiskSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = 0
        for stale in self.directory.glob("*.tmp"):  # a crash mid-write: the message was never acknowledged as spooled
            stale.unlink(missing_ok=True)

    def append(self, key: str, payload: bytes) -> Path:
        """Durably store one message; ``key`` (the idempotency key) is part of the name for operators."""
        safe_key = "".join(c for c in key if c.isalnum() or c in "-_")[:64] or "msg"
        with self._lock:
            self._counter += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._counter:06d}-{safe_key}{_SUFFIX}"
        final = self.directory / name
        replace_durable(final, payload, 0o600)
        return final

    def pending(self) -> list[Path]:
        """Spooled messages, oldest first."""
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob(f"*{_SUFFIX}"))

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        fsync_path(self.directory)
