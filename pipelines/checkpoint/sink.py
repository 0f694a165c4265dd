"""Where a camera's passes go: pictures written and hashed, the pass stored, the watchlist matched,
clones looked for, alerts raised (with their deliveries) and the dispatcher woken.

The live worker ``submit``s passes from its main loop and a background thread stores them (the
main loop never waits on the disk or the database); batch calls ``handle`` directly. Alerts are
idempotent (``alert_key`` from the pass and the entry or the earlier pass), so a re-run of a clip
stores nothing twice and raises nothing twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import timedelta

import redis
import sqlalchemy as sa

from evidence.checkpoint import alerts as alert_store
from evidence.checkpoint import watchlist
from evidence.checkpoint.config import PassesConfig
from evidence.checkpoint.images import PassCapture, PassImageError, write_pictures
from evidence.checkpoint.passes import PassStore
from evidence.checkpoint.values import WATCH_REASONS, Alert, NewAlert, NewPass
from pipelines.checkpoint.clone import suspect_clone
from pipelines.checkpoint.config import CheckpointConfig
from pipelines.checkpoint.dispatch import AlertDispatcher
from pipelines.checkpoint.matching import WatchIndex, reads_of
from pipelines.config import SiteConfig

log = logging.getLogger(__name__)


class CheckpointSink:
    def __init__(self, engine: sa.Engine, cfg: CheckpointConfig, passes_cfg: PassesConfig,
                 dispatcher: AlertDispatcher | None = None) -> None:
        self.engine = engine
        self.cfg = cfg
        self.passes_cfg = passes_cfg
        self.store = PassStore(engine)
        self.dispatcher = dispatcher if dispatcher is not None else AlertDispatcher(engine, cfg.alerts)
        self._index: WatchIndex | None = None
        self._version: object = None
        self._checked = 0.0
        self._queue: deque[PassCapture] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self.stored = 0
        self.dropped = 0
        self.alerts_raised = 0

    @classmethod
    def from_site(cls, site: SiteConfig, engine: sa.Engine, redis_client: redis.Redis | None = None) -> "CheckpointSink":
        """The site's sink; alerts go to Redis when ``checkpoint.alerts.redis_url`` is set, else to the
        worker's Redis (``redis_client``) if it has one, and always to the store and the webhooks."""
        return cls(engine, site.checkpoint, site.passes, AlertDispatcher.configured(engine, site.checkpoint.alerts, redis_client))

    # -- the watchlist, reloaded when it changes ---------------------------------------------------
    def index(self) -> WatchIndex:
        now = time.monotonic()
        if self._index is None or now - self._checked >= self.cfg.match.refresh_s:
            self._checked = now
            version = watchlist.version(self.engine)
            if self._index is None or version != self._version:
                self._index, self._version = WatchIndex(watchlist.entries(self.engine), self.cfg.match), version
        return self._index

    # -- one batch, synchronously ------------------------------------------------------------------
    def handle(self, captures: Sequence[PassCapture]) -> list[Alert]:
        """Store the passes (pictures first) and raise their alerts; returns the new alerts."""
        raised: list[Alert] = []
        for start in range(0, len(captures), self.cfg.batch_size):
            chunk = captures[start:start + self.cfg.batch_size]
            records = [self._record(c) for c in chunk]
            for rec, new in zip(records, self.store.add_many(records)):
                if new:
                    self.stored += 1
                    raised += self.raise_alerts(rec)
        if raised:
            self.dispatcher.wake.set()
        return raised

    def _record(self, capture: PassCapture) -> NewPass:
        """The pass with its two pictures; a pass whose pictures cannot be made is still stored (logged)."""
        try:
            return NewPass.of(capture.event, *write_pictures(capture, self.passes_cfg))
        except PassImageError as exc:
            log.error("checkpoint: pass pictures not written", extra={"pass": capture.event.pass_key, "error": str(exc)})
            return NewPass.of(capture.event, None, None)

    def _create(self, alert: NewAlert) -> list[Alert]:
        saved, new = alert_store.create(self.engine, alert, self.dispatcher.targets)
        if new:
            self.alerts_raised += 1
            log.warning("checkpoint alert", extra={"alert": saved.alert_key, "kind": saved.kind, "plate": saved.plate,
                                                   "score": saved.score, "match": saved.match, "camera": saved.camera_id})
        return [saved] if new else []

    def raise_alerts(self, rec: NewPass) -> list[Alert]:
        """Watchlist hits (one alert per entry) and at most one suspected clone for a stored pass."""
        out: list[Alert] = []
        base = {"pass_key": rec.pass_key, "pass_time": rec.pass_time, "site_id": rec.site_id,
                "camera_id": rec.camera_id, "plate": rec.plate}
        for hit in self.index().match(reads_of(rec, self.cfg.match), rec.pass_time):
            e = hit.entry
            out += self._create(NewAlert(
                alert_key=f"w:{rec.pass_key}:{e.id}", kind="watchlist", score=hit.score, match=hit.kind,
                matched_text=hit.text, entry_id=e.id, priority=e.priority, reason=WATCH_REASONS[e.reason]["zh"],
                details={"entry_plate": e.plate, "entry_reason": e.reason, "note": e.note, "plate_status": rec.plate_status},
                **base))
        if rec.confirmed and rec.plate and self.cfg.clone.enabled:
            since = rec.pass_time - timedelta(hours=self.cfg.clone.window_h)
            earlier = self.store.recent_for_plate(rec.plate, since, exclude=rec.pass_key)
            found = suspect_clone(rec, earlier, self.cfg.clone)
            if found is not None:
                out += self._create(NewAlert(
                    alert_key=f"c:{rec.pass_key}:{found.other.pass_key[:16]}", kind="clone", score=found.score,
                    match=found.kind, matched_text=rec.plate, other_pass_key=found.other.pass_key,
                    other_pass_time=found.other.pass_time, priority=1, reason=found.reason, details=found.details, **base))
        return out

    # -- live: a background thread -------------------------------------------------------------------
    def submit(self, captures: Sequence[PassCapture]) -> None:
        """From the main loop: queue passes (beyond ``max_waiting`` the oldest are dropped and counted)."""
        if not captures:
            return
        with self._cond:
            self._queue.extend(captures)
            while len(self._queue) > self.cfg.max_waiting:
                self._queue.popleft()
                self.dropped += 1
            self._cond.notify()

    def run(self, stop: threading.Event) -> None:
        """Store what is queued until ``stop`` (and then what is left)."""
        while True:
            with self._cond:
                while not self._queue and not stop.is_set():
                    self._cond.wait(0.2)
                if not self._queue and stop.is_set():
                    return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.cfg.batch_size))]
                self._busy = True
            try:
                self.handle(batch)
            except Exception:  # noqa: BLE001 - a failed batch is logged and counted; the site keeps running
                self.dropped += len(batch)
                log.exception("checkpoint: storing passes failed", extra={"passes": len(batch)})
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def drain(self, timeout_s: float) -> bool:
        """Wait until the queue is empty and nothing is being stored; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def __len__(self) -> int:
        return len(self._queue)
