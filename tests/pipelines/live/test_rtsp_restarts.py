"""Fault test (issue 15, "Also"): the camera (GStreamer's RTSP server) is killed and restarted 20 times
under a running live worker with Redis. After each restart the worker must be live again, and no
health event in between may be lost: every outage's offline alert and every recovery reaches the
site's alerts stream (published through the housekeeping thread), and the metrics count them.

The detector sees nothing (a stub): the test is about ingest, reconnection and event delivery, and
must stay well under two minutes on two CPU cores.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import redis

from evidence.signing import Signer, generate_keypair
from evidence.store import RecordStore
from pipelines.config import parse_site
from pipelines.live.bus import LiveMessage, alerts_stream
from pipelines.live.config import LiveConfig
from pipelines.live.worker import LiveWorker
from tests.support.live import wait_for
from tests.support.redis import redis_server, redis_url  # noqa: F401  (fixtures)
from tests.support.rtsp import RtspServer, rtsp_server  # noqa: F401  (fixture)
from vision.detections import Detections
from vision.sources.backoff import BackoffConfig
from vision.sources.rtsp import RtspConfig

RESTARTS = 20


class SeesNothing:
    def detect(self, images):
        return [Detections.empty() for _ in images]


def _alerts(client: redis.Redis) -> list[str]:
    return [LiveMessage.model_validate_json(f[b"data"]).alert.kind for _, f in client.xrange(alerts_stream("restarts"))]


def test_worker_is_live_after_each_of_20_camera_restarts_and_loses_no_event(rtsp_server: RtspServer, redis_url: str, tmp_path: Path) -> None:
    priv, _ = generate_keypair(tmp_path / "keys")
    site = parse_site({
        "id": "restarts",
        "cameras": [{"id": "gate", "source": rtsp_server.url, "detect_fps": 2, "frame_size": [768, 432], "rules": ["parking"]}],
        "models": {"helmet": None},
        "evidence": {"output_dir": str(tmp_path / "evidence"), "signing_key": str(priv)},
        "store": {"url": f"sqlite:///{tmp_path / 'records.db'}"},
    })
    rtsp = RtspConfig(io_timeout_s=2.0, stall_after_s=0.8, reconnect_after_s=4.0, alert_after_s=0.0, analyze_s=0.5, settle_s=0.3,
                      backoff=BackoffConfig(initial_s=0.1, cap_s=0.3, jitter=0.2))
    live = LiveConfig(rtsp=rtsp, lease_ttl_s=3.0, status_interval_s=0.3, spool_dir=tmp_path / "spool")
    client = redis.Redis.from_url(redis_url)
    worker = LiveWorker(site, live, SeesNothing(), evidence_cfg=site.evidence, signer=Signer.from_file(priv),
                        store=RecordStore(site.store.url), redis_client=client, metrics_port=0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()

    def state() -> str | None:
        cams = worker.status().cameras
        return cams[0].state if cams else None

    def decoded() -> int:
        cams = worker.status().cameras
        return cams[0].decoded if cams else 0

    try:
        wait_for(lambda: state() == "live", 30, "the camera live under the worker's lease")
        wait_for(lambda: len(_alerts(client)) % 2 == 0, 10, "the start-up alert and its recovery, if any")  # alert_after_s 0
        base = _alerts(client)
        took = []
        for cycle in range(1, RESTARTS + 1):
            rtsp_server.kill()
            wait_for(lambda: worker.metrics.alerts.labels("gate", "alert")._value.get() >= len(base) // 2 + cycle, 10,
                     f"the offline alert of outage {cycle}")
            before = decoded()
            t0 = time.monotonic()
            rtsp_server.start()
            wait_for(lambda: state() == "live" and decoded() > before, 20, f"the camera live again after restart {cycle}")
            took.append(time.monotonic() - t0)
        wait_for(lambda: len(_alerts(client)) == len(base) + 2 * RESTARTS, 10, "every alert and recovery in the alerts stream")
    finally:
        worker.request_stop()
        thread.join(60)
    kinds = _alerts(client)[len(base):]
    assert kinds == ["alert", "recovery"] * RESTARTS  # none lost, none doubled, in order
    metrics = worker.metrics.render().decode()
    assert f'epolice_camera_alerts_total{{camera="gate",kind="recovery"}} {len(base) // 2 + RESTARTS}.0' in metrics
    reconnects = next(float(x.split()[-1]) for x in metrics.splitlines() if x.startswith('epolice_reconnects_total{camera="gate"}'))
    assert reconnects >= RESTARTS and rtsp_server.starts == RESTARTS + 1
    print(f"live again after a restart in {min(took):.2f}-{max(took):.2f} s (median {sorted(took)[len(took) // 2]:.2f} s)")
