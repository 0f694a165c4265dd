"""A bounded queue that keeps the NEWEST items: when full, the oldest is dropped and counted.

A live camera outruns a slow detector; a FIFO that blocks the reader stalls the socket, and an
unbounded one grows latency and memory without limit. Dropping the oldest keeps the age of the
frame being processed bounded by ``maxsize`` frame intervals, whatever the consumer's speed.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestQueue(Generic[T]):
    def __init__(self, maxsize: int = 2, notify: threading.Event | None = None) -> None:
        """``notify`` is set on every put: one consumer can wait on many queues (a worker's cameras)."""
        if maxsize < 1:
            raise ValueError(f"LatestQueue maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._dropped = 0
        self._closed = False
        self._notify = notify

    def put(self, item: T) -> int:
        """Append ``item``; returns how many old items were dropped to make room (0 or more)."""
        with self._cond:
            dropped = 0
            while len(self._items) >= self.maxsize:
                self._items.popleft()
                dropped += 1
            self._items.append(item)
            self._dropped += dropped
            self._cond.notify()
        if self._notify is not None:
            self._notify.set()
        return dropped

    def note_dropped(self, n: int) -> None:
        """Count items the producer discarded before they reached the queue (stale backlog)."""
        with self._cond:
            self._dropped += n

    def get(self, timeout: float | None = None) -> T | None:
        """Oldest retained item, waiting up to ``timeout`` s; None on timeout or when closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait_for(lambda: self._items or self._closed, timeout)
            return self._items.popleft() if self._items else None

    def get_nowait(self) -> T | None:
        with self._cond:
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """Wake every waiting consumer; later gets return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def dropped(self) -> int:
        return self._dropped

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
