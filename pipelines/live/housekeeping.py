"""Everything a live worker says to Redis, on its own thread, so an outage never blocks the main loop.

Each pass: balance camera leases with the other workers (and tell the worker which cameras it
owns), publish queued camera alerts, replay the disk spool, publish the worker's status. A Redis
error is logged once when it starts and once when it ends; meanwhile the worker spools its
records and keeps its cameras only while their leases surely hold: a fence thread, which never
waits on Redis, gives each camera up when its lease could expire (``LeaseManager.held``), since
another worker may take it over then.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import redis

from pipelines.live.bus import CameraAlert, EventBus
from pipelines.live.config import LiveConfig
from pipelines.live.leases import LeaseManager
from pipelines.live.spool import DiskSpool
from pipelines.live.status import WorkerStatus, status_key
from vision.sources.health import HealthEvent

log = logging.getLogger(__name__)


class RedisHousekeeper:
    def __init__(
        self,
        client: redis.Redis,
        bus: EventBus,
        leases: LeaseManager,
        spool: DiskSpool,
        live: LiveConfig,
        site_id: str,
        worker_id: str,
        camera_ids: list[str],
        status: Callable[[], WorkerStatus],
        on_owned: Callable[[set[str], bool], None],
    ) -> None:
        self.client = client
        self.bus = bus
        self.leases = leases
        self.spool = spool
        self.live = live
        self.site_id = site_id
        self.worker_id = worker_id
        self.camera_ids = sorted(camera_ids)
        self.status = status
        self.on_owned = on_owned  # (cameras owned now, whether that changed)
        self.alerts: queue.Queue[HealthEvent] = queue.Queue()
        self.ok: bool = True  # Redis reachable on the last pass
        self._reported: set[str] | None = None
        self._report_lock = threading.Lock()

    def _report(self, changed: bool, only_if_changed: bool = False) -> None:
        """Tell the worker which cameras it holds now (owned, lease surely not expired)."""
        with self._report_lock:
            held = self.leases.held()
            changed = changed or held != self._reported
            if only_if_changed and not changed:
                return
            self._reported = held
            self.on_owned(held, changed)

    def _fence(self, stop: threading.Event) -> None:
        while not stop.is_set():
            deadline = self.leases.next_deadline()
            left = 0.25 if deadline is None else deadline - time.monotonic() + 0.005
            if stop.wait(min(max(left, 0.005), 0.25)):
                return
            if self.leases.held() != self._reported:
                log.warning("camera lease not renewed in time; stopping the camera", extra={"worker": self.worker_id})
                self._report(True, only_if_changed=True)

    def run(self, stop: threading.Event) -> None:
        period = min(self.live.lease_ttl_s / 3.0, self.live.status_interval_s)
        last_status = 0.0
        threading.Thread(target=self._fence, args=(stop,), name="lease-fence", daemon=True).start()
        while not stop.is_set():
            try:
                changes = self.leases.balance(self.camera_ids)
                self._report(bool(changes.acquired or changes.lost or changes.released))
                self._publish_alerts()
                if len(self.spool):
                    self.bus.replay()
                if time.monotonic() - last_status >= self.live.status_interval_s:
                    self._publish_status()
                    last_status = time.monotonic()
                if not self.ok:
                    log.info("redis reachable again", extra={"spooled": len(self.spool)})
                self.ok = True
            except redis.RedisError as exc:
                if self.ok:
                    log.warning("redis unreachable; spooling events, keeping cameras while their leases hold", extra={"error": str(exc)})
                self.ok = False
                self._report(False, only_if_changed=True)
            except Exception:  # noqa: BLE001 - this thread must outlive any one bad pass
                log.exception("housekeeping pass failed")
                self._report(False, only_if_changed=True)
            stop.wait(period)

    def _publish_alerts(self) -> None:
        while True:
            try:
                ev = self.alerts.get_nowait()
            except queue.Empty:
                return
            self.bus.publish_alert(
                CameraAlert(
                    site_id=self.site_id, camera_id=ev.camera_id, kind=ev.kind, state=ev.state, wall_time=ev.wall_time,
                    down_for_s=round(ev.down_for_s, 3), reason=ev.reason, worker=self.worker_id,
                )
            )

    def _publish_status(self) -> None:
        ttl = int(self.live.status_interval_s * 3000)
        self.client.set(status_key(self.site_id, self.worker_id), self.status().model_dump_json(), px=ttl)
