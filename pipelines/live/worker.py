"""``epolice run``: one process runs all (or some) cameras of a site, live, until SIGTERM.

Threads:
  rtsp-<camera>   one reader per camera (vision.sources.rtsp): decode, reconnect, health; its
                  FFmpeg hands over only the frames of the camera's detection schedule, at the
                  analysis size, and copies the undecoded stream into rolling segments for
                  evidence (record-<camera>: a second process for the main stream when the
                  camera is analysed on its sub-stream);
  main loop       takes the newest frame of each camera; batches the cameras whose frames are
                  due through the detector together; runs each camera's engine; queues events;
  evidence-N      packages evidence and writes/publishes records (pipelines.handoff);
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
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import redis

from evidence.config import EvidenceConfig
from evidence.export import record_problems
from evidence.signing import Signer, keyring_with
from evidence.store.records import NewRecord
from pipelines.camera_feed import LiveFeed, live_feed
from pipelines.checkpoint.sink import CheckpointSink
from pipelines.config import CameraConfig, SiteConfig
from pipelines.engine import BoxDetector, CameraPipeline, TrackPlateReader
from pipelines.handoff.frames import CameraEvidence
from pipelines.handoff.queue import EvidenceQueue
from pipelines.handoff.rider_counts import RiderCounts
from pipelines.handoff.writer import EvidenceWriter
from pipelines.live.bus import EventBus
from pipelines.live.config import LiveConfig
from pipelines.live.housekeeping import RedisHousekeeper
from pipelines.live.leases import LeaseManager
from pipelines.live.malloc import pin_mmap_threshold
from pipelines.live.metrics import LiveMetrics, MetricsServer, failure_readings
from pipelines.live.spool import DiskSpool
from pipelines.live.status import CameraStatus, WorkerStatus
from pipelines.live.writer import RecordSink, RecordWriter
from vision.frame import Frame
from vision.sources.health import HealthEvent
from vision.sources.redact import mask_url
from vision.sources.rtsp import RtspSource, validate_live_url

log = logging.getLogger(__name__)

EVIDENCE_GRACE_S = 5.0  # a camera that went dark: its waiting events are packaged this long after their clip's end


@dataclass
class _Camera:
    config: CameraConfig
    feed: LiveFeed
    evidence: CameraEvidence

    @property
    def source(self) -> RtspSource:
        return self.feed.source


def live_cameras(site: SiteConfig, chosen: list[str] | None) -> list[CameraConfig]:
    """The cameras to run; raises ValueError naming an unknown id or a non-RTSP source."""
    cams = [site.camera(c) for c in chosen] if chosen else list(site.cameras)
    for cam in cams:
        for url in (cam.source, cam.detect_source):
            try:
                if url is not None:
                    validate_live_url(url)
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
        plate_reader: TrackPlateReader | None = None,
        store: RecordSink | None = None,
        redis_client: redis.Redis | None = None,
        run_writer: bool = True,
        worker_id: str | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        checkpoint: CheckpointSink | None = None,
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
        self.records = 0
        self.metrics = LiveMetrics(lambda: [c.source for c in self._snapshot_cams()],
                                   lambda: failure_readings(self.evidence, self.bus, self.writer))
        self.metrics_server = MetricsServer(self.metrics, self.status_doc, metrics_port, metrics_host) if metrics_port is not None else None
        self.spool = DiskSpool(live.spool_dir / "outbox")
        self.bus = EventBus(redis_client, site.id, self.spool, live.stream_maxlen) if redis_client is not None else None
        self.leases = LeaseManager(redis_client, site.id, self.worker_id, int(live.lease_ttl_s * 1000)) if redis_client is not None else None
        self.housekeeper = (
            RedisHousekeeper(
                redis_client, self.bus, self.leases, self.spool, live, site.id, self.worker_id, list(self.camera_configs),
                status=self.status, on_owned=self._owned,
            )
            if redis_client is not None
            else None
        )
        trusted = keyring_with(signer.public_key, evidence_cfg.trusted_keys_dir)
        self.writer = (
            RecordWriter(
                redis_client, site.id, store, consumer=self.worker_id, claim_idle_ms=int(live.claim_idle_s * 1000),
                verify=lambda rec: record_problems(rec, trusted), max_deliveries=live.max_deliveries,
            )
            if redis_client is not None and store is not None and run_writer
            else None
        )
        self.evidence = EvidenceWriter(
            evidence_cfg, signer, self._deliver, live.spool_dir / "failed", live.evidence_threads,
            on_done=self._evidence_done, max_in_flight=live.evidence_max_in_flight,
        )
        self.handoff = EvidenceQueue(evidence_cfg, self.evidence, grace_s=EVIDENCE_GRACE_S)
        # judged riders per camera and hour (helmet-wearing rate), straight to a store this worker holds;
        # with Redis alone they are not carried (yet)
        self.rider_counts = RiderCounts(f"live:{self.worker_id}:{self.started:%Y%m%dT%H%M%S}")
        self._tick_period = 1.0 / max(c.detect_fps for c in self.camera_configs.values())
        self._next_tick = 0.0
        self._threads: list[threading.Thread] = []
        self.checkpoint = checkpoint  # checkpoint mode: passes stored, matched and alerted off the main loop

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
        if event.kind in ("alert", "recovery", "clock_step"):
            self.metrics.alerts.labels(event.camera_id, event.kind).inc()
            if self.housekeeper is not None:  # without Redis the alert is the log line and the metric
                self.housekeeper.alerts.put(event)

    def _start_camera(self, cam_id: str) -> None:
        cfg = self.camera_configs[cam_id]
        pipeline = CameraPipeline(cfg, self.site, self.detector, self.helmet_detector, self.plate_reader, source_selects=True)
        feed = live_feed(self.site, cfg, self.live, on_health=self._on_health, notify=self._wake)
        evidence = CameraEvidence.of(pipeline, self.site, feed.footage)
        with self._cams_lock:
            self.cams[cam_id] = _Camera(cfg, feed, evidence)
        feed.start()
        log.info("camera started", extra={"camera": cam_id, "source": feed.source.masked_url})

    def _stop_camera(self, cam_id: str) -> None:
        """Detach a camera (lease lost or shutdown): package its waiting events, stop its reader in the background."""
        with self._cams_lock:
            cam = self.cams.pop(cam_id, None)
        if cam is None:
            return
        self.handoff.service(force=True, camera_id=cam_id)
        threading.Thread(target=cam.feed.stop, name=f"stop-{cam_id}", daemon=True).start()
        log.info("camera stopped", extra={"camera": cam_id})

    def _owned(self, cameras: set[str], changed: bool) -> None:
        """Housekeeping thread: the cameras this worker holds leases on now."""
        with self._wanted_lock:
            self._wanted = cameras
        if changed:
            self._wake.set()

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

        Sources hand over only frames due for detection. On a worker-wide tick (the fastest
        camera's detect rate) the pass waits up to ``batch_wait_s`` for a frame from every live
        camera, so cameras whose frames arrive close together go through the detector in one batch
        instead of each in a batch of one; a frame that arrives between ticks is detected alone.
        A frame the motion gate skips is tracked by prediction.
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
            self.handoff.service()
            return 0
        batch = [(cam, frames[cam.config.id]) for cam in cams if cam.config.id in frames]
        now = time.time()
        due: list[tuple[_Camera, Frame]] = []
        for cam, frame in batch:
            cam_id = cam.config.id
            self.metrics.frame_age.labels(cam_id).observe(max(0.0, now - frame.wall_time.timestamp()))
            self.metrics.decode_lag.labels(cam_id).observe(cam.source.stats.last_decode_lag_s)
            self.metrics.frames_processed.labels(cam_id).inc()
            pipe = cam.evidence.pipeline
            gated = pipe.stats.gated_frames
            if pipe.needs_detection(frame):
                due.append((cam, frame))
                continue
            if pipe.stats.gated_frames > gated:
                self.metrics.frames_gated.labels(cam_id).inc()
            self._guard(cam, lambda: pipe.on_frame(frame))
            cam.evidence.observe(frame)
        for start in range(0, len(due), self.live.max_batch):
            chunk = due[start : start + self.live.max_batch]
            t0 = time.perf_counter()
            try:
                dets = self.detector.detect([c.evidence.pipeline.detection_image(f) for c, f in chunk])
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
                cam.evidence.observe(frame)
                for ev in events:
                    self.metrics.violations.labels(cam_id, ev.rule).inc()
                    log.info("violation", extra={"camera": cam_id, "rule": ev.rule, "track": ev.track_id, "event_key": ev.event_key})
                    self.handoff.add(cam.evidence, ev, frame.pts)
                if self.checkpoint is not None:
                    self.checkpoint.submit(cam.evidence.pipeline.take_passes())
        self.handoff.service()
        self._write_rider_counts(cams)
        return len(batch)

    def _write_rider_counts(self, cams: list[_Camera], force: bool = False) -> None:
        if not hasattr(self.store, "put_rider_counts"):
            return
        for cam in cams:
            self.rider_counts.take(cam.config.id, cam.evidence.pipeline)
        try:
            self.rider_counts.write(self.store, self.site.id, force=force)
        except Exception:  # noqa: BLE001 - statistics must never stop the site; retried on the next write
            log.exception("rider counts not written")

    def _guard(self, cam: _Camera, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except Exception:  # noqa: BLE001 - one camera's bad frame must not stop the site
            log.exception("engine failed on a frame", extra={"camera": cam.config.id})
            return None

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
        pin_mmap_threshold()  # frames freed all day must not fragment the heap (see malloc.py)
        if self.metrics_server is not None:
            self.metrics_server.start()
        if self.housekeeper is not None:
            self._spawn(lambda: self.housekeeper.run(self._stop), "housekeeping")
            if self.writer is not None:
                self._spawn(lambda: self.writer.run(self._stop), "record-writer")
        if self.checkpoint is not None:
            self._spawn(lambda: self.checkpoint.run(self._stop), "checkpoint-passes")
            self._spawn(lambda: self.checkpoint.dispatcher.run(self._stop), "alert-dispatch")
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
        self.handoff.service(force=True)
        self._write_rider_counts(cams, force=True)
        stoppers = [threading.Thread(target=c.source.stop, daemon=True) for c in cams]
        recorders = [c.feed.recorder for c in cams if c.feed.recorder is not None]
        stoppers += [threading.Thread(target=r.stop, daemon=True) for r in recorders]
        for t in stoppers:
            t.start()
        unfinished = self.evidence.shutdown(self.live.shutdown_grace_s)
        for t in stoppers:
            t.join(10)
        for c in cams:
            c.feed.recording.close()
        if self.checkpoint is not None:
            self.checkpoint.dispatcher.wake.set()
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
            updated=datetime.now(timezone.utc), redis=None if self.housekeeper is None else ("ok" if self.housekeeper.ok else "down"),
            spooled=len(self.spool), evidence_in_flight=self.evidence.in_flight, evidence_waiting=len(self.handoff),
            records=self.records, cameras=cams,
        )

    def status_doc(self) -> dict:
        return self.status().model_dump(mode="json")

