"""Event transport between live workers and record writers: Redis streams with a disk spool.

Workers ``XADD`` each finished record (evidence package already on disk) to the site's events
stream, and camera alerts to its alerts stream. When Redis is unreachable the message goes to the
local :class:`~pipelines.live.spool.DiskSpool` instead (whatever the send failed with), and
:meth:`EventBus.replay` sends the spool in order once Redis answers again. A message that can be
neither sent nor spooled (the spool's disk is full) is logged, counted and raised as
:class:`DeliveryError`, so the evidence writer keeps the event instead of losing it. Delivery is at-least-once (a crash between ``XADD`` and
deleting the spool file re-sends); the record writer's idempotent insert by ``event_key`` makes
the end result exactly once.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Literal

import redis

from evidence.store.records import NewRecord
from models.strict import StrictModel
from pipelines.live.spool import DiskSpool
from vision.sources.health import HealthEventKind, HealthState

log = logging.getLogger(__name__)


def events_stream(site_id: str) -> str:
    return f"epolice:{site_id}:events"


def alerts_stream(site_id: str) -> str:
    return f"epolice:{site_id}:alerts"


class CameraAlert(StrictModel):
    """An offline alert or a recovery, as published for operators (reason is credential-free)."""

    site_id: str
    camera_id: str
    kind: HealthEventKind
    state: HealthState
    wall_time: datetime
    down_for_s: float
    reason: str | None = None
    worker: str = ""

    @property
    def key(self) -> str:
        return f"{self.camera_id}|{self.kind}|{self.wall_time.isoformat()}"


class LiveMessage(StrictModel):
    """One stream entry: a record to store, or a camera alert."""

    kind: Literal["record", "alert"]
    key: str  # idempotency key: the record's event_key, or the alert's key
    record: NewRecord | None = None
    alert: CameraAlert | None = None


class DeliveryError(RuntimeError):
    """A message reached neither Redis nor the spool."""


class _Spooled(StrictModel):
    stream: str
    key: str
    data: str  # LiveMessage JSON


def redis_client(url: str, timeout_s: float = 2.0) -> redis.Redis:
    """A client that fails fast: an outage must divert to the spool, not block the caller for minutes."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=10, retry_on_timeout=False
    )


class EventBus:
    """``maxlen`` caps the alerts stream only: the events stream is never trimmed (the record writer
    deletes what it has stored), since a trim could drop records nobody stored yet."""

    def __init__(self, client: redis.Redis, site_id: str, spool: DiskSpool, maxlen: int | None = 100_000) -> None:
        self.client = client
        self.site_id = site_id
        self.spool = spool
        self.maxlen = maxlen
        self.published = 0
        self.spooled = 0
        self.replayed = 0
        self.spool_failures = 0
        self._replay_lock = threading.Lock()

    def _xadd(self, stream: str, key: str, data: str) -> None:
        cap = None if stream == events_stream(self.site_id) else self.maxlen
        self.client.xadd(stream, {"key": key, "data": data}, maxlen=cap, approximate=True)

    def publish_record(self, record: NewRecord) -> bool:
        return self._publish(events_stream(self.site_id), LiveMessage(kind="record", key=record.event_key, record=record))

    def publish_alert(self, alert: CameraAlert) -> bool:
        return self._publish(alerts_stream(self.site_id), LiveMessage(kind="alert", key=alert.key, alert=alert))

    def _publish(self, stream: str, message: LiveMessage) -> bool:
        """Send now, or spool durably; True when it reached Redis. Never raises on a Redis outage."""
        data = message.model_dump_json()
        if len(self.spool) and not self.replay():  # keep order: older spooled messages go first
            self._to_spool(stream, message.key, data)
            return False
        try:
            self._xadd(stream, message.key, data)
        except Exception as exc:  # noqa: BLE001 - RedisError, or a socket error it did not wrap: spool either way
            log.warning("redis unavailable, spooling %s", message.kind, extra={"key": message.key, "error": str(exc)})
            self._to_spool(stream, message.key, data)
            return False
        self.published += 1
        return True

    def _to_spool(self, stream: str, key: str, data: str) -> None:
        try:
            self.spool.append(key, _Spooled(stream=stream, key=key, data=data).model_dump_json().encode())
        except OSError as exc:
            self.spool_failures += 1
            log.error("message %s reached neither Redis nor the spool (%s)", key, exc, extra={"key": key, "spool": str(self.spool.directory)})
            raise DeliveryError(f"{key}: Redis unreachable and spool {self.spool.directory} not writable: {exc}") from exc
        self.spooled += 1

    def replay(self) -> bool:
        """Send spooled messages oldest first; True when the spool is empty afterwards. Another worker
        replaying the same folder meanwhile: nothing is sent (it sends them), False unless empty."""
        with self._replay_lock, self.spool.replaying() as mine:
            if not mine:
                return len(self.spool) == 0
            for path in self.spool.pending():
                try:
                    item = _Spooled.model_validate_json(path.read_bytes())
                except FileNotFoundError:
                    continue  # sent and removed by a replay that finished just before ours
                except (OSError, ValueError) as exc:
                    # unreadable: keep it for an operator, out of the replay path
                    log.error("unreadable spool file set aside", extra={"path": str(path), "error": str(exc)})
                    path.rename(path.with_suffix(".bad"))
                    continue
                try:
                    self._xadd(item.stream, item.key, item.data)
                except Exception:  # noqa: BLE001 - still unreachable; the file stays for the next pass
                    return False
                self.spool.remove(path)
                self.replayed += 1
                self.published += 1
            return True
