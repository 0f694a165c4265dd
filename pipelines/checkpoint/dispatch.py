"""Alert dispatch: works through the store's outbox of deliveries (``evidence.checkpoint.alerts``).

Each alert has one delivery per target: every configured webhook (a POST of the alert as JSON,
signed with HMAC-SHA256 over the exact body in ``X-Epolice-Signature: sha256=<hex>``) and ``redis``
(an ``XADD`` to the alerts stream) when Redis is configured. A failed attempt is retried after
``backoff_s``, doubling up to ``backoff_max_s``; after ``max_attempts`` the delivery is dead (kept,
listed as a dead letter). Because the outbox is in the store, a receiver that is down loses nothing
while it is down for less than ``AlertsConfig.retry_window_s()``, and a restarted worker carries on.
Receivers must treat ``X-Epolice-Alert`` (the alert key) as idempotency key: a delivery whose
answer was lost is sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import redis
import sqlalchemy as sa

from evidence.checkpoint import alerts as alert_store
from evidence.checkpoint.passes import PassStore
from evidence.checkpoint.values import Alert, Delivery
from pipelines.checkpoint.config import AlertsConfig, WebhookConfig

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Epolice-Signature"
CLAIM_S = 60.0  # a dispatcher that died mid-send frees its delivery after this


def sign(key: bytes, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(key: bytes, body: bytes, header: str | None) -> bool:
    """For receivers (and tests): does the header sign exactly this body?"""
    return header is not None and hmac.compare_digest(sign(key, body), header)


def payload(alert: Alert, passes: PassStore) -> dict[str, Any]:
    """What every target receives: the alert, its pass (and the clone's other pass) with picture hashes."""
    body: dict[str, Any] = {"alert": alert.model_dump(mode="json")}
    for name, key, when in (("pass", alert.pass_key, alert.pass_time), ("other_pass", alert.other_pass_key, alert.other_pass_time)):
        if key is not None:
            rec = passes.get(key, when)
            body[name] = rec.model_dump(mode="json") if rec is not None else None
    return body


def backoff(cfg: AlertsConfig, attempts_done: int) -> float:
    """Seconds before the next attempt after ``attempts_done`` failed ones."""
    return min(cfg.backoff_s * 2 ** max(attempts_done - 1, 0), cfg.backoff_max_s)


class AlertDispatcher:
    """Sends due deliveries; run it on a thread (``run``) or step it (``run_once``)."""

    def __init__(self, engine: sa.Engine, cfg: AlertsConfig, redis_client: redis.Redis | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.engine = engine
        self.cfg = cfg
        self.redis = redis_client
        self.clock = clock
        self.passes = PassStore(engine)
        self.hooks: dict[str, WebhookConfig] = {w.name: w for w in cfg.webhooks}
        self.keys = {w.name: w.key() for w in cfg.webhooks}  # fail at start on a missing secret
        self.wake = threading.Event()
        self.sent = 0
        self.failures = 0

    @classmethod
    def configured(cls, engine: sa.Engine, cfg: AlertsConfig, redis_client: redis.Redis | None = None) -> "AlertDispatcher":
        """The dispatcher of ``cfg``: Redis at ``cfg.redis_url`` when set, else ``redis_client`` (the worker's)."""
        return cls(engine, cfg, redis.Redis.from_url(cfg.redis_url) if cfg.redis_url else redis_client)

    @property
    def targets(self) -> list[str]:
        """The delivery targets a new alert gets."""
        return list(self.hooks) + (["redis"] if self.redis is not None else [])

    def _send(self, delivery: Delivery, body: bytes, alert: Alert) -> None:
        if delivery.target == "redis":
            if self.redis is None:
                raise RuntimeError("no Redis configured in this process")
            self.redis.xadd(self.cfg.stream, {"alert_key": alert.alert_key, "json": body}, maxlen=self.cfg.stream_maxlen, approximate=True)
            return
        hook = self.hooks.get(delivery.target)
        if hook is None:
            raise RuntimeError(f"webhook {delivery.target!r} is no longer configured")
        req = urllib.request.Request(hook.url, data=body, method="POST", headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(self.keys[hook.name], body),
            "X-Epolice-Alert": alert.alert_key, "X-Epolice-Attempt": str(delivery.attempts + 1)})
        with urllib.request.urlopen(req, timeout=hook.timeout_s) as resp:  # noqa: S310 - the configured URL (http/https only)
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"HTTP {resp.status}")

    def deliver(self, delivery: Delivery) -> bool:
        """One attempt at one delivery (claimed first); True when it went through."""
        now = self.clock()
        if not alert_store.claim(self.engine, delivery, now + timedelta(seconds=CLAIM_S), now):
            return False
        alert = alert_store.get(self.engine, delivery.alert_id)
        assert alert is not None, f"delivery {delivery.id} of a missing alert"
        body = json.dumps(payload(alert, self.passes), ensure_ascii=False, sort_keys=True).encode()
        try:
            self._send(delivery, body, alert)
        except (OSError, urllib.error.URLError, redis.RedisError, RuntimeError) as exc:
            self.failures += 1
            attempts = delivery.attempts + 1
            dead = attempts >= self.cfg.max_attempts
            next_at = None if dead else self.clock() + timedelta(seconds=backoff(self.cfg, attempts))
            alert_store.failed(self.engine, delivery, f"{type(exc).__name__}: {exc}", next_at)
            log.warning("alert delivery failed", extra={"alert": alert.alert_key, "target": delivery.target,
                                                         "attempt": attempts, "dead": dead, "error": str(exc)})
            return False
        alert_store.delivered(self.engine, delivery)
        self.sent += 1
        return True

    def run_once(self) -> int:
        """Attempt every delivery due now; returns how many went through."""
        return sum(self.deliver(d) for d in alert_store.due(self.engine, self.clock()))

    def run(self, stop: threading.Event, idle_s: float = 1.0) -> None:
        """Until ``stop``: send what is due, then sleep until the next is due, ``idle_s`` at most or until woken."""
        while not stop.is_set():
            try:
                self.run_once()
                nxt = alert_store.next_due(self.engine)
            except sa.exc.SQLAlchemyError:
                log.exception("alert dispatcher: store unavailable")
                nxt = None
            wait = idle_s
            if nxt is not None:
                wait = min(idle_s, max((nxt - self.clock()).total_seconds(), 0.05))  # 0.05: another process holds it
            self.wake.wait(wait)
            self.wake.clear()

    def start(self, stop: threading.Event) -> threading.Thread:
        t = threading.Thread(target=self.run, args=(stop,), name="alert-dispatch", daemon=True)
        t.start()
        return t


def wait_delivered(engine: sa.Engine, alert_id: int, timeout_s: float) -> list[Delivery]:
    """Poll until none of the alert's deliveries is pending (tests, the CLI); returns them."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = alert_store.deliveries_of(engine, alert_id)
        if all(d.state != "pending" for d in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
