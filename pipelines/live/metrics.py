"""Prometheus metrics and ``/healthz`` for a live worker, on one small HTTP port.

Labels carry the camera *id* from the site file, never its URL, so no credential can reach a
metrics backend. Counters the reader threads own (decoded, dropped, reconnects, queue depth,
health) are read from the sources at scrape time by a custom collector, so the hot decode path
never touches a metrics lock; the worker's own measurements (detected frames, inference and
frame-age histograms, violations by rule) are ordinary prometheus-client metrics.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipelines.handoff.writer import EvidenceWriter
from pipelines.live.bus import EventBus
from pipelines.live.writer import RecordWriter
from vision.sources.health import HEALTH_STATES
from vision.sources.rtsp import RtspSource

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)


class _SourceCollector(Collector):
    def __init__(self, sources: Callable[[], Iterable[RtspSource]]) -> None:
        self._sources = sources

    def collect(self):  # noqa: ANN201 - prometheus-client protocol
        decoded = CounterMetricFamily("epolice_frames_decoded", "Frames decoded from the camera", labels=["camera"])
        dropped = CounterMetricFamily("epolice_frames_dropped", "Frames dropped because the consumer was behind (oldest first)", labels=["camera"])
        reconnects = CounterMetricFamily("epolice_reconnects", "Connection attempts after the first", labels=["camera"])
        depth = GaugeMetricFamily("epolice_queue_depth", "Frames waiting in the latest-frame queue", labels=["camera"])
        state = GaugeMetricFamily("epolice_camera_health", "1 for the camera's current health state", labels=["camera", "state"])
        down = GaugeMetricFamily("epolice_camera_down_seconds", "Seconds since the camera stopped being live (0 when live)", labels=["camera"])
        alerting = GaugeMetricFamily("epolice_camera_alerting", "1 while the offline alert is raised", labels=["camera"])
        for src in self._sources():
            cam = src.camera_id
            snap = src.health.snapshot()
            decoded.add_metric([cam], src.stats.decoded)
            dropped.add_metric([cam], src.frames.dropped)
            reconnects.add_metric([cam], src.stats.reconnects)
            depth.add_metric([cam], len(src.frames))
            for s in HEALTH_STATES:
                state.add_metric([cam, s], 1.0 if snap.state == s else 0.0)
            down.add_metric([cam], snap.down_for_s)
            alerting.add_metric([cam], 1.0 if snap.alerting else 0.0)
        yield from (decoded, dropped, reconnects, depth, state, down, alerting)


# (kind, name, help, value) read at scrape time from the counters the evidence writer, the bus and the
# record writer keep (plain ints they own, like the sources' counters above)
Reading = tuple[str, str, str, float]


def failure_readings(evidence: EvidenceWriter, bus: EventBus | None = None, writer: RecordWriter | None = None) -> list[Reading]:
    """Failure counters for /metrics: nothing fails without a number going up."""
    out: list[Reading] = [
        ("gauge", "epolice_evidence_unsaved", "Events held in memory: they failed and could not even be saved (disk full)", evidence.unsaved),
        ("counter", "epolice_evidence_unsaved", "Events that could not be saved when they failed", evidence.unsaved_total),
        ("counter", "epolice_record_delivery_failures", "Packages written whose record was not stored (records ingest)", evidence.record_failures),
        ("gauge", "epolice_disk_full", "1 while evidence is paused because the disk is full", 1.0 if evidence.disk_full else 0.0),
        ("counter", "epolice_evidence_disk_waits", "Times the inference loop was held because the disk was full", evidence.disk_waits),
        ("counter", "epolice_evidence_disk_wait_seconds", "Seconds the inference loop was held because the disk was full", evidence.disk_wait_s),
    ]
    if bus is not None:
        out.append(("counter", "epolice_spool_failures", "Messages that reached neither Redis nor the spool", bus.spool_failures))
    if writer is not None:
        out += [("counter", "epolice_records_dead_letters", "Record entries moved to the dead letters", writer.dead),
                ("counter", "epolice_records_lost", "Record entries that vanished from the stream while pending", writer.lost)]
    return out


class _StateCollector(Collector):
    def __init__(self, read: Callable[[], Iterable[Reading]]) -> None:
        self._read = read

    def collect(self):  # noqa: ANN201 - prometheus-client protocol
        for kind, name, doc, value in self._read():
            family = CounterMetricFamily(name, doc) if kind == "counter" else GaugeMetricFamily(name, doc)
            family.add_metric([], value)
            yield family


class LiveMetrics:
    """All metrics of one worker process, in a private registry (tests can run several)."""

    def __init__(self, sources: Callable[[], Iterable[RtspSource]], state: Callable[[], Iterable[Reading]] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_SourceCollector(sources))
        if state is not None:
            self.registry.register(_StateCollector(state))
        r = self.registry
        self.frames_detected = Counter("epolice_frames_detected", "Frames the detector ran on", ["camera"], registry=r)
        self.frames_gated = Counter("epolice_frames_motion_skipped", "Due frames skipped by the motion gate (tracks predicted)", ["camera"], registry=r)
        self.frames_processed = Counter("epolice_frames_processed", "Frames handed to the engine", ["camera"], registry=r)
        self.inference = Histogram("epolice_inference_seconds", "Detector time of the batch a frame was in", ["camera"], buckets=LATENCY_BUCKETS, registry=r)
        self.decode_lag = Histogram("epolice_decode_lag_seconds", "How far frame arrival trails the stream clock (decode + transport)", ["camera"], buckets=LATENCY_BUCKETS, registry=r)
        self.frame_age = Histogram("epolice_frame_age_seconds", "Age of a frame when the engine takes it (end-to-end latency)", ["camera"], buckets=LATENCY_BUCKETS, registry=r)
        self.violations = Counter("epolice_violations", "Violation events by rule", ["camera", "rule"], registry=r)
        self.records_published = Counter("epolice_records_published", "Records sent to Redis or written to the store", ["camera"], registry=r)
        self.records_spooled = Counter("epolice_records_spooled", "Records spooled to disk during a Redis outage", ["camera"], registry=r)
        self.evidence_failures = Counter("epolice_evidence_failures", "Events whose evidence package could not be written", ["camera"], registry=r)
        self.alerts = Counter("epolice_camera_alerts", "Offline alerts, recoveries and system clock steps", ["camera", "kind"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """Serves ``/metrics`` (Prometheus text) and ``/healthz`` (JSON from ``health()``) in a thread."""

    def __init__(self, metrics: LiveMetrics, health: Callable[[], dict], port: int, host: str = "127.0.0.1") -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, ctype, code = outer.metrics.render(), CONTENT_TYPE_LATEST, 200
                elif path in ("/healthz", "/health"):
                    doc = outer.health()
                    body, ctype, code = json.dumps(doc, default=str).encode(), "application/json", 200
                else:
                    body, ctype, code = b"not found: try /metrics or /healthz\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes every few seconds would flood the log
                return

        self.metrics = metrics
        self.health = health
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics and health on http://%s:%d/metrics /healthz", self.server.server_address[0], self.port)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
