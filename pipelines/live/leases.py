"""Camera ownership across workers: one Redis lease per camera, renewed while the owner lives.

A lease is ``SET key worker NX PX ttl``. The owner renews it with a Lua compare-and-extend, so a
worker that paused past its TTL (GC, a suspended VM) cannot extend a lease another worker has
since taken: the renewal fails, and the paused worker drops the camera. A dead worker simply stops
renewing, and its cameras become free after at most ``ttl`` and are taken at the next balance.

Fair share: each worker also keeps a heartbeat key, and takes at most ceil(cameras / live
workers) cameras, so a second worker started beside a first one gets half of the site, and when
a worker dies the survivors' share grows and they take its cameras over.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import redis

log = logging.getLogger(__name__)

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

    def try_acquire(self, camera_id: str) -> bool:
        if self.client.set(self.lease_key(camera_id), self.worker_id, nx=True, px=self.ttl_ms):
            self.owned.add(camera_id)
            return True
        return False

    def renew(self, camera_id: str) -> bool:
        key = self.lease_key(camera_id)
        ok = bool(self._extend(keys=[key], args=[self.worker_id, self.ttl_ms]))
        if not ok:  # expired with nobody else taking it (e.g. Redis restarted empty): take it back
            ok = bool(self.client.set(key, self.worker_id, nx=True, px=self.ttl_ms))
        if not ok:
            self.owned.discard(camera_id)
        return ok

    def release(self, camera_id: str) -> None:
        self._release(keys=[self.lease_key(camera_id)], args=[self.worker_id])
        self.owned.discard(camera_id)

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
