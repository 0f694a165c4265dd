"""``epolice run``: one process runs all (or some) cameras of a site, live, until SIGTERM.

Threads:
  rtsp-<camera>   one reader per camera (vision.sources.rtsp): decode, reconnect, health;
  main loop       takes the newest frame of each camera; on each detection tick batches the
                  cameras that are due through the detector together; runs each camera's
                  engine; queues events;
  evidence-N      packages evidence and writes/publishes records (pipelines.live.evidence);
  housekeeping    leases, alert and status publishing, spool replay: everything that talks
                  to Redis, so an outage never blocks the main loop;
  metrics-http    /metrics and /healthz.

Without Redis the worker owns every selected camera and writes records straight to the store.
With Redis, cameras are shared with other workers through leases, records go to the site's
events stream (spooled to disk while Redis is down), and an embedded record writer (optional)
stores them.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import redis

from evidence.config import EvidenceConfig
from evidence.signing import Signer
from evidence.store.records import NewRecord
from models.strict import StrictModel
from pipelines.config import CameraConfig, SiteConfig
from pipelines.engine import BoxDetector, CameraPipeline, PlateReader
from pipelines.live.bus import CameraAlert, EventBus
from pipelines.live.config import LiveConfig
from pipelines.live.evidence import CameraEvidence, EvidenceWriter, FrameIndex, PendingEvent, capture_context, package_input
from pipelines.live.leases import LeaseManager
from pipelines.live.metrics import LiveMetrics, MetricsServer
from pipelines.live.spool import DiskSpool
from pipelines.live.writer import RecordSink, RecordWriter
from vision.frame import Frame
from vision.motion import MotionGate
from vision.sources.health import CameraHealth, HealthEvent
from vision.sources.redact import mask_url
from vision.sources.rtsp import RtspSource, validate_live_url

log = logging.getLogger(__name__)


class CameraStatus(CameraHealth):
    decoded: int = 0
    dropped: int = 0
    reconnects: int = 0
    source: str = ""  # masked URL


class WorkerStatus(StrictModel):
    """What ``/healthz`` serves and ``epolice status`` prints."""

    worker: str
    site_id: str
    status: str  # "ok" when every owned camera is live, else "degraded"
    started: datetime
    updated: datetime
    redis: str | None = None  # "ok" / "down" / None without Redis
    spooled: int = 0
    evidence_in_flight: int = 0
    records: int = 0
    cameras: list[CameraStatus]


@dataclass
class _Camera:
    config: CameraConfig
    source: RtspSource
    evidence: CameraEvidence
    gate: MotionGate


def live_cameras(site: SiteConfig, chosen: list[str] | None) -> list[CameraConfig]:
    """The cameras to run; raises ValueError naming an unknown id or a non-RTSP source."""
    cams = [site.camera(c) for c in chosen] if chosen else list(site.cameras)
    for cam in cams:
        try:
            validate_live_url(cam.source)
        except ValueError as exc:
            raise ValueError(f"camera {cam.id!r}: {exc} (recorded files go through `epolice process`)") from None
    return cams


class LiveWorker:
    def __init__(
        self,
        site: SiteConfig,
        live: LiveConfig,
        detector: BoxDetector,
        *,
        evidence_cfg: EvidenceConfig,
        signer: Signer,
        cameras: list[str] | None = None,
        helmet_detector: BoxDetector | None = None,
        plate_reader: PlateReader | None = None,
        store: RecordSink | None = None,
        redis_client: redis.Redis | None = None,
        run_writer: bool = True,
        worker_id: str | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
    ) -> None:
        if redis_client is None and store is None:
            raise ValueError("a live worker needs a record store, or Redis to publish records to")
        self.site = site
        self.live = live
        self.detector = detector
        self.helmet_detector = helmet_detector
        self.plate_reader = plate_reader
        self.camera_configs = {c.id: c for c in live_cameras(site, cameras)}
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.redis = redis_client
        self.store = store
        self.started = datetime.now(timezone.utc)
        self.cams: dict[str, _Camera] = {}
        self._cams_lock = threading.Lock()
        self._wanted: set[str] = set(self.camera_configs) if redis_client is None else set()
        self._wanted_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._alerts: queue.Queue[HealthEvent] = queue.Queue()
        self.records = 0
        self.metrics = LiveMetrics(lambda: [c.source for c in self._snapshot_cams()])
        self.metrics_server = MetricsServer(self.metrics, self.status_doc, metrics_port, metrics_host) if metrics_port is not None else None
        self.spool = DiskSpool(live.spool_dir / "outbox")
        self.bus = EventBus(redis_client, site.id, self.spool, live.stream_maxlen) if redis_client is not None else None
        self.leases = LeaseManager(redis_client, site.id, self.worker_id, int(live.lease_ttl_s * 1000)) if redis_client is not None else None
        self.writer = (
            RecordWriter(redis_client, site.id, store, consumer=self.worker_id, claim_idle_ms=int(live.claim_idle_s * 1000))
            if redis_client is not None and store is not None and run_writer
            else None
        )
        self.evidence = EvidenceWriter(
            evidence_cfg, signer, self._deliver, live.spool_dir / "failed", live.evidence_threads, on_done=self._evidence_done
        )
        self.evidence_cfg = evidence_cfg
        self._redis_ok: bool | None = None if redis_client is None else True
        self._tick_period = 1.0 / max(c.detect_fps for c in self.camera_configs.values())
        self._next_tick = 0.0
        self._threads: list[threading.Thread] = []

    # -- records -----------------------------------------------------------------------------------
    def _deliver(self, record: NewRecord) -> bool:
        """Runs on an evidence thread: the record goes to Redis (or the spool), or straight to the store."""
        if self.bus is not None:
            return self.bus.publish_record(record)
        assert self.store is not None
        self.store.add(record)
        return True

    def _evidence_done(self, camera_id: str, ok: bool, delivered: bool) -> None:
        if not ok:
            self.metrics.evidence_failures.labels(camera_id).inc()
            return
        self.records += 1
        (self.metrics.records_published if delivered else self.metrics.records_spooled).labels(camera_id).inc()

    # -- cameras -----------------------------------------------------------------------------------
    def _snapshot_cams(self) -> list[_Camera]:
        with self._cams_lock:
            return list(self.cams.values())

    def _on_health(self, event: HealthEvent) -> None:
        """Reader thread: count and queue; publishing happens on the housekeeping thread."""
        if event.kind in ("alert", "recovery"):
            self.metrics.alerts.labels(event.camera_id, event.kind).inc()
            if self.bus is not None:  # without Redis the alert is the log line and the metric
                self._alerts.put(event)

    def _start_camera(self, cam_id: str) -> None:
        cfg = self.camera_configs[cam_id]
        pipeline = CameraPipeline(cfg, self.site, self.detector, self.helmet_detector, self.plate_reader)
        source = RtspSource(cam_id, cfg.source, self.live.rtsp, on_health=self._on_health, notify=self._wake, size=cfg.frame_size)
        evidence = CameraEvidence(pipeline, capture_context(self.site, cfg), FrameIndex(self.site.engine.ring_seconds))
        with self._cams_lock:
            self.cams[cam_id] = _Camera(cfg, source, evidence, MotionGate(self.live.motion))
        source.start()
        log.info("camera started", extra={"camera": cam_id, "source": source.masked_url})

    def _stop_camera(self, cam_id: str) -> None:
        """Detach a camera (lease lost or shutdown): package its waiting events, stop its reader in the background."""
        with self._cams_lock:
            cam = self.cams.pop(cam_id, None)
        if cam is None:
            return
        self._flush_pending(cam, force=True)
        threading.Thread(target=cam.source.stop, name=f"stop-{cam_id}", daemon=True).start()
        log.info("camera stopped", extra={"camera": cam_id})

    def _reconcile(self) -> None:
        with self._wanted_lock:
            wanted = set(self._wanted)
        running = set(self.cams)
        for cam_id in sorted(running - wanted):
            self._stop_camera(cam_id)
        for cam_id in sorted(wanted - running):
            self._start_camera(cam_id)

    # -- main loop ---------------------------------------------------------------------------------
    def step(self) -> int:
        """One pass: at most one (the oldest waiting) frame per camera; returns frames processed.

        Detection passes run on one worker-wide tick (the fastest camera's detect rate). On a tick
        the pass waits up to ``batch_wait_s`` for a frame from every live camera, so the cameras
        that are due go through the detector together in one batch instead of each in a batch of
        one on its own phase. A due frame between ticks is tracked by prediction meanwhile.
        """
        self._reconcile()
        cams = self._snapshot_cams()
        frames: dict[str, Frame] = {}
        for cam in cams:
            frame = cam.source.frames.get_nowait()
            if frame is not None:
                frames[cam.config.id] = frame
        mono = time.monotonic()
        tick = bool(frames) and mono >= self._next_tick
        if tick:
            self._next_tick = max(self._next_tick + self._tick_period, mono - self._tick_period)
            deadline = mono + self.live.batch_wait_s
            missing = [c for c in cams if c.config.id not in frames and c.source.health.state == "live"]
            while missing and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
                self._wake.clear()
                for cam in list(missing):
                    frame = cam.source.frames.get_nowait()
                    if frame is not None:
                        frames[cam.config.id] = frame
                        missing.remove(cam)
        if not frames:
            self._service_evidence()
            return 0
        batch = [(cam, frames[cam.config.id]) for cam in cams if cam.config.id in frames]
        now = time.time()
        due: list[tuple[_Camera, Frame]] = []
        for cam, frame in batch:
            cam_id = cam.config.id
            self.metrics.frame_age.labels(cam_id).observe(max(0.0, now - frame.wall_time.timestamp()))
            self.metrics.decode_lag.labels(cam_id).observe(cam.source.stats.last_decode_lag_s)
            self.metrics.frames_processed.labels(cam_id).inc()
            cam.evidence.index.add(frame.seq, frame.pts)
            pipe = cam.evidence.pipeline
            if tick and pipe.needs_detection(frame):
                if cam.gate.should_detect(frame.image, frame.pts):
                    due.append((cam, frame))
                    continue
                self.metrics.frames_gated.labels(cam_id).inc()
            self._guard(cam, lambda: pipe.on_frame(frame))
        for start in range(0, len(due), self.live.max_batch):
            chunk = due[start : start + self.live.max_batch]
            t0 = time.perf_counter()
            try:
                dets = self.detector.detect([f.image for _, f in chunk])
            except Exception:  # noqa: BLE001 - a failed batch skips these frames, the site keeps running
                log.exception("detector failed on a batch", extra={"cameras": ",".join(c.config.id for c, _ in chunk)})
                continue
            elapsed = time.perf_counter() - t0
            for (cam, frame), d in zip(chunk, dets):
                cam_id = cam.config.id
                self.metrics.inference.labels(cam_id).observe(elapsed)
                self.metrics.frames_detected.labels(cam_id).inc()
                cam.evidence.pipeline.stats.detect_s += elapsed / len(chunk)
                events = self._guard(cam, lambda: cam.evidence.pipeline.on_detections(frame, d)) or []
                for ev in events:
                    self.metrics.violations.labels(cam_id, ev.rule).inc()
                    log.info("violation", extra={"camera": cam_id, "rule": ev.rule, "track": ev.track_id, "event_key": ev.event_key})
                    cam.evidence.pending.append(
                        PendingEvent(ev, frame.pts, frame.pts + self.evidence_cfg.clip_after_s, time.monotonic() + self.evidence_cfg.clip_after_s + 5.0)
                    )
        self._service_evidence()
        return len(batch)

    def _guard(self, cam: _Camera, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except Exception:  # noqa: BLE001 - one camera's bad frame must not stop the site
            log.exception("engine failed on a frame", extra={"camera": cam.config.id})
            return None

    def _service_evidence(self) -> None:
        for cam in self._snapshot_cams():
            self._flush_pending(cam, force=False)

    def _flush_pending(self, cam: _Camera, force: bool) -> None:
        ev = cam.evidence
        if not ev.pending:
            return
        last_pts = ev.index.last_pts
        now = time.monotonic()
        keep: list[PendingEvent] = []
        for p in ev.pending:
            if force or last_pts >= p.due_pts or now >= p.due_mono:
                try:
                    inp = package_input(ev, p, self.evidence_cfg)
                except Exception:  # noqa: BLE001
                    log.exception("collecting evidence frames failed", extra={"camera": cam.config.id, "event_key": p.event.event_key})
                    self.evidence.save_failed(p.event)
                    continue
                self.evidence.submit(inp)
            else:
                keep.append(p)
        ev.pending = keep

    def run(self) -> int:
        """Run until :meth:`request_stop`; then shut down gracefully. Returns the exit code (0)."""
        self.start()
        try:
            while not self._stop.is_set():
                if self.step() == 0:
                    self._wake.wait(0.05)
                    self._wake.clear()
        finally:
            self.shutdown()
        return 0

    def request_stop(self) -> None:
        """Safe from a signal handler."""
        self._stop.set()
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.start()
        if self.redis is not None:
            self._spawn(self._housekeeping, "housekeeping")
            if self.writer is not None:
                self._spawn(lambda: self.writer.run(self._stop), "record-writer")
        log.info(
            "worker started",
            extra={"worker": self.worker_id, "site": self.site.id, "cameras": ",".join(sorted(self.camera_configs)), "redis": self.redis is not None},
        )

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def shutdown(self) -> None:
        """Stop readers, package every waiting event, wait for evidence, hand leases back."""
        self._stop.set()
        log.info("worker stopping", extra={"worker": self.worker_id})
        cams = self._snapshot_cams()
        for cam in cams:
            self._flush_pending(cam, force=True)
        stoppers = [threading.Thread(target=c.source.stop, daemon=True) for c in cams]
        for t in stoppers:
            t.start()
        unfinished = self.evidence.shutdown(self.live.shutdown_grace_s)
        for t in stoppers:
            t.join(10)
        for t in self._threads:
            t.join(5)
        if self.bus is not None:
            try:
                self.bus.replay()
            except redis.RedisError:
                pass
        if self.leases is not None:
            try:
                self.leases.release_all()
            except redis.RedisError:
                pass
        if self.metrics_server is not None:
            self.metrics_server.stop()
        log.info("worker stopped", extra={"worker": self.worker_id, "records": self.records, "unfinished_saved": unfinished, "spooled": len(self.spool)})

    # -- housekeeping (Redis) ------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        assert self.leases is not None and self.bus is not None and self.redis is not None
        period = min(self.live.lease_ttl_s / 3.0, self.live.status_interval_s)
        last_status = 0.0
        while not self._stop.is_set():
            try:
                changes = self.leases.balance(sorted(self.camera_configs))
                with self._wanted_lock:
                    self._wanted = set(self.leases.owned)
                if changes.acquired or changes.lost or changes.released:
                    self._wake.set()
                self._publish_alerts()
                if len(self.spool):
                    self.bus.replay()
                if time.monotonic() - last_status >= self.live.status_interval_s:
                    self._publish_status()
                    last_status = time.monotonic()
                if self._redis_ok is False:
                    log.info("redis reachable again", extra={"spooled": len(self.spool)})
                self._redis_ok = True
            except redis.RedisError as exc:
                if self._redis_ok:
                    log.warning("redis unreachable; keeping owned cameras, spooling events", extra={"error": str(exc)})
                self._redis_ok = False
            self._stop.wait(period)

    def _publish_alerts(self) -> None:
        assert self.bus is not None
        while True:
            try:
                ev = self._alerts.get_nowait()
            except queue.Empty:
                return
            self.bus.publish_alert(
                CameraAlert(
                    site_id=self.site.id, camera_id=ev.camera_id, kind=ev.kind, state=ev.state, wall_time=ev.wall_time,
                    down_for_s=round(ev.down_for_s, 3), reason=ev.reason, worker=self.worker_id,
                )
            )

    def _publish_status(self) -> None:
        assert self.redis is not None
        ttl = int(self.live.status_interval_s * 3000)
        self.redis.set(status_key(self.site.id, self.worker_id), self.status().model_dump_json(), px=ttl)

    # -- status ------------------------------------------------------------------------------------
    def status(self) -> WorkerStatus:
        cams = []
        for cam in sorted(self._snapshot_cams(), key=lambda c: c.config.id):
            snap = cam.source.health.snapshot()
            cams.append(
                CameraStatus(
                    **snap.model_dump(), decoded=cam.source.stats.decoded, dropped=cam.source.frames.dropped,
                    reconnects=cam.source.stats.reconnects, source=mask_url(cam.config.source),
                )
            )
        ok = bool(cams) and all(c.state == "live" for c in cams)
        return WorkerStatus(
            worker=self.worker_id, site_id=self.site.id, status="ok" if ok else "degraded", started=self.started,
            updated=datetime.now(timezone.utc), redis=None if self._redis_ok is None else ("ok" if self._redis_ok else "down"),
            spooled=len(self.spool), evidence_in_flight=self.evidence.in_flight, records=self.records, cameras=cams,
        )

    def status_doc(self) -> dict:
        return self.status().model_dump(mode="json")


def status_key(site_id: str, worker_id: str) -> str:
    return f"epolice:{site_id}:status:{worker_id}"
