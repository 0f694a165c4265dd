"""Camera ownership across workers: one Redis lease per camera, renewed while the owner lives.

A lease is ``SET key worker NX PX ttl``. The owner renews it with a Lua compare-and-extend, so a
worker that paused past its TTL (GC, a suspended VM) cannot extend a lease another worker has
since taken: the renewal fails, and the paused worker drops the camera. A dead worker simply stops
renewing, and its cameras become free after at most ``ttl`` and are taken at the next balance.

Fencing: a worker cut off from Redis cannot renew, and after ``ttl`` another worker may take its
cameras. So each lease also has a local deadline, ``FENCE`` of the ttl after the renewal was
sent (never later than Redis can expire it), and :meth:`held` leaves out the cameras past it: the
worker stops them before anyone else can own them, and takes them back through the leases.

Fair share: each worker also keeps a heartbeat key, and takes at most ceil(cameras / live
workers) cameras, so a second worker started beside a first one gets half of the site, and when
a worker dies the survivors' share grows and they take its cameras over.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field

import redis

log = logging.getLogger(__name__)

FENCE = 0.8  # a lease counts as held until this share of its ttl after the renewal that set it was sent

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass
class LeaseChanges:
    acquired: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # renewal failed: someone else owns it now
    released: list[str] = field(default_factory=list)  # given up to make the share fair


class LeaseManager:
    """Owns the leases of one worker on one site. Call :meth:`balance` every ``ttl_ms / 3``."""

    def __init__(self, client: redis.Redis, site_id: str, worker_id: str, ttl_ms: int = 10_000) -> None:
        if ttl_ms < 300:
            raise ValueError(f"lease ttl_ms must be >= 300, got {ttl_ms}")
        self.client = client
        self.site_id = site_id
        self.worker_id = worker_id
        self.ttl_ms = ttl_ms
        self.owned: set[str] = set()
        self._deadline: dict[str, float] = {}  # camera -> monotonic time its lease may no longer be ours
        self._lock = threading.Lock()
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    def lease_key(self, camera_id: str) -> str:
        return f"epolice:{self.site_id}:lease:{camera_id}"

    def _worker_key(self, worker_id: str) -> str:
        return f"epolice:{self.site_id}:worker:{worker_id}"

    def heartbeat(self) -> int:
        """Refresh this worker's presence; returns how many workers are alive on the site."""
        self.client.set(self._worker_key(self.worker_id), "1", px=self.ttl_ms)
        return sum(1 for _ in self.client.scan_iter(match=self._worker_key("*"), count=1000))

    def owner(self, camera_id: str) -> str | None:
        value = self.client.get(self.lease_key(camera_id))
        return value.decode() if isinstance(value, bytes) else value

    def _held_from(self, camera_id: str, sent: float) -> None:
        with self._lock:
            self.owned.add(camera_id)
            self._deadline[camera_id] = sent + FENCE * self.ttl_ms / 1000.0

    def _drop(self, camera_id: str) -> None:
        with self._lock:
            self.owned.discard(camera_id)
            self._deadline.pop(camera_id, None)

    def held(self, now: float | None = None) -> set[str]:
        """Cameras owned whose lease surely has not expired in Redis yet (safe from any thread)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return {c for c in self.owned if self._deadline.get(c, 0.0) > now}

    def next_deadline(self) -> float | None:
        with self._lock:
            return min((self._deadline[c] for c in self.owned if c in self._deadline), default=None)

    def try_acquire(self, camera_id: str) -> bool:
        sent = time.monotonic()
        if self.client.set(self.lease_key(camera_id), self.worker_id, nx=True, px=self.ttl_ms):
            self._held_from(camera_id, sent)
            return True
        return False

    def renew(self, camera_id: str) -> bool:
        key = self.lease_key(camera_id)
        sent = time.monotonic()
        ok = bool(self._extend(keys=[key], args=[self.worker_id, self.ttl_ms]))
        if not ok:  # expired with nobody else taking it (e.g. Redis restarted empty): take it back
            sent = time.monotonic()
            ok = bool(self.client.set(key, self.worker_id, nx=True, px=self.ttl_ms))
        if ok:
            self._held_from(camera_id, sent)
        else:
            self._drop(camera_id)
        return ok

    def release(self, camera_id: str) -> None:
        self._drop(camera_id)  # first: the camera is not ours from now on, even if Redis fails below
        self._release(keys=[self.lease_key(camera_id)], args=[self.worker_id])

    def balance(self, cameras: list[str]) -> LeaseChanges:
        """Renew what we own, give up extras beyond our fair share, take free cameras up to it."""
        changes = LeaseChanges()
        workers = max(1, self.heartbeat())
        share = math.ceil(len(cameras) / workers)
        for cam in sorted(self.owned):
            if cam not in cameras:
                self.release(cam)
                changes.released.append(cam)
            elif not self.renew(cam):
                changes.lost.append(cam)
        while len(self.owned) > share:
            cam = sorted(self.owned)[-1]
            self.release(cam)
            changes.released.append(cam)
        for cam in cameras:
            if len(self.owned) >= share:
                break
            if cam not in self.owned and self.try_acquire(cam):
                changes.acquired.append(cam)
        for cam in changes.acquired:
            log.info("lease acquired", extra={"camera": cam, "worker": self.worker_id})
        for cam in changes.lost:
            log.warning("lease lost", extra={"camera": cam, "worker": self.worker_id})
        for cam in changes.released:
            log.info("lease released for fair share", extra={"camera": cam, "worker": self.worker_id})
        return changes

    def release_all(self) -> None:
        for cam in sorted(self.owned):
            try:
                self.release(cam)
            except redis.RedisError:  # shutting down during an outage: the lease expires by itself
                break
        try:
            self.client.delete(self._worker_key(self.worker_id))
        except redis.RedisError:
            pass
