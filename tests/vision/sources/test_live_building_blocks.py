"""Live-ingest building blocks on synthetic inputs: masking, backoff, latest-frame queue, health, motion gate."""

from __future__ import annotations

import logging
import random
import threading

import numpy as np
import pytest

from vision.motion import MotionConfig, MotionGate
from vision.sources.backoff import Backoff, BackoffConfig
from vision.sources.health import HealthMonitor
from vision.sources.latest import LatestQueue
from vision.sources.redact import RedactingFilter, mask_url, redact, register_secret, register_url_secrets
from vision.sources.rtsp import validate_live_url


# -- credential masking ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:pw123@10.0.0.5:554/Streaming/101", "rtsp://admin:***@10.0.0.5:554/Streaming/101"),
        ("rtsp://10.0.0.5/stream", "rtsp://10.0.0.5/stream"),
        ("rtsp://tokenonly@cam.local/s", "rtsp://***@cam.local/s"),
        ("rtsp://admin:p@ss@w0rd@10.0.0.5/s", "rtsp://admin:***@10.0.0.5/s"),  # raw '@' in the password
        ("rtsp://admin:@10.0.0.5/s", "rtsp://admin:***@10.0.0.5/s"),
        ("[rtsp @ 0x55] rtsp://u:secretpw@h:554/x: Server returned 401", "[rtsp @ 0x55] rtsp://u:***@h:554/x: Server returned 401"),
        ("two rtsp://a:b1@h1/x and rtsps://c:d2@h2/y", "two rtsp://a:***@h1/x and rtsps://c:***@h2/y"),
        ("no url here, user@example.org", "no url here, user@example.org"),
    ],
)
def test_mask_url_synthetic(text: str, expected: str) -> None:
    assert mask_url(text) == expected


def test_registered_secret_is_masked_raw_and_decoded_synthetic() -> None:
    register_url_secrets("rtsp://admin:Zq%3A9%40xYz@h/s")
    # ffmpeg sometimes prints the decoded password outside the URL
    assert "Zq:9@xYz" not in redact("auth failed for password Zq:9@xYz")
    assert "Zq%3A9%40xYz" not in redact("option value Zq%3A9%40xYz")
    register_secret("ab")  # too short to mask safely: ignored, so ordinary text survives
    assert redact("about abc") == "about abc"


def test_redacting_filter_rewrites_args_and_exceptions_synthetic() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "open %s failed", ("rtsp://u:hunter22@h/s",), None)
    try:
        raise RuntimeError("rtsp://u:hunter22@h/s refused")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "open rtsp://u:***@h/s failed"
    assert "hunter22" not in (record.exc_text or "") and "refused" in record.exc_text


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://u:pw999@h/s", "must start with rtsp://"),
        ("rtsp://u:pw999@/s", "has no host"),
        ("rtsp://u:pw999@h:99999/s", "malformed"),
        ("cam.local/stream", "must start with rtsp://"),
    ],
)
def test_bad_live_url_is_a_clear_masked_error_synthetic(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error) as info:
        validate_live_url(url)
    assert "pw999" not in str(info.value)


# -- backoff -----------------------------------------------------------------------------------
def test_backoff_grows_caps_jitters_and_resets_synthetic() -> None:
    b = Backoff(BackoffConfig(initial_s=1.0, factor=2.0, cap_s=8.0, jitter=0.5), rng=random.Random(7))
    delays = [b.next_delay() for _ in range(8)]
    bases = [1, 2, 4, 8, 8, 8, 8, 8]
    for d, base in zip(delays, bases):
        assert base * 0.5 <= d <= base  # jitter takes up to half away, never adds
    assert len(set(delays)) == len(delays)  # jittered, not lockstep
    for _ in range(5000):  # days of failures must not overflow
        b.next_delay()
    b.reset()
    assert b.next_delay() <= 1.0


def test_backoff_config_rejects_cap_below_initial_synthetic() -> None:
    with pytest.raises(ValueError, match="cap_s"):
        BackoffConfig(initial_s=5, cap_s=1)


# -- latest-frame queue --------------------------------------------------------------------------
def test_latest_queue_drops_oldest_and_counts_synthetic() -> None:
    q: LatestQueue[int] = LatestQueue(3)
    for i in range(10):
        q.put(i)
    assert q.dropped == 7 and len(q) == 3
    assert [q.get_nowait() for _ in range(3)] == [7, 8, 9]
    assert q.get(timeout=0.01) is None


def test_latest_queue_close_wakes_consumer_synthetic() -> None:
    q: LatestQueue[int] = LatestQueue(1)
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(q.get(timeout=10)))
    t.start()
    q.close()
    t.join(2)
    assert not t.is_alive() and got == [None]


# -- health state machine --------------------------------------------------------------------------
def test_health_blip_shorter_than_alert_raises_no_alert_synthetic() -> None:
    h = HealthMonitor("c", stall_after_s=2, alert_after_s=10)
    assert [e.state for e in h.connecting(0.0)] == []  # starts in connecting
    assert h.frame(0.9) == []  # one frame is not yet a stream
    assert [(e.kind, e.state) for e in h.frame(1.0)] == [("state", "live")]
    assert [(e.kind, e.state) for e in h.error("reset", 5.0)] == [("state", "offline")]
    h.connecting(6.0)
    h.frame(6.9)
    events = h.frame(7.0)
    assert [(e.kind, e.state) for e in events] == [("state", "live")]  # no recovery: no alert was raised
    assert events[0].down_for_s == pytest.approx(2.0)


def test_health_alert_once_while_flapping_then_recovery_synthetic() -> None:
    h = HealthMonitor("c", stall_after_s=2, alert_after_s=10)
    h.frame(0.0)
    h.frame(0.1)
    kinds: list[str] = []
    t = 1.0
    for _ in range(10):  # connecting/offline cycles for 20 s
        kinds += [e.kind for e in h.connecting(t)]
        kinds += [e.kind for e in h.error("connection refused", t + 1)]
        kinds += [e.kind for e in h.tick(t + 1.5)]
        t += 2
    assert kinds.count("alert") == 1
    alert_time_down = h.snapshot(t).down_for_s
    assert alert_time_down == pytest.approx(t - 1.0)
    assert h.snapshot(t).alerting and h.snapshot(t).last_error == "connection refused"
    h.frame(t - 0.1)
    events = h.frame(t)
    assert [(e.kind, e.state) for e in events] == [("state", "live"), ("recovery", "live")]
    assert not h.snapshot(t).alerting


def test_health_stall_counts_from_last_frame_synthetic() -> None:
    h = HealthMonitor("c", stall_after_s=2, alert_after_s=5)
    h.frame(0.0)
    h.frame(1.0)
    assert h.tick(2.5) == []
    events = h.tick(3.5)
    assert [(e.kind, e.state) for e in events] == [("state", "stalled")]
    alert = h.tick(6.5)  # 5.5 s since the last frame
    assert [(e.kind, e.state) for e in alert] == [("alert", "stalled")]
    assert alert[0].down_for_s == pytest.approx(5.5)
    assert h.frame(8.6) == [] and h.tick(10.0) == []  # a frozen link leaking one frame: still stalled, no flapping
    assert h.state == "stalled"
    assert [e.kind for e in h.frame(10.5)] == ["state", "recovery"]


def test_health_never_connected_camera_alerts_synthetic() -> None:
    h = HealthMonitor("c", stall_after_s=1, alert_after_s=3)
    start = h.snapshot().down_for_s  # down since construction
    assert start >= 0
    import time

    now = time.monotonic()
    assert [e.kind for e in h.error("404 Not Found", now + 4)] == ["state", "alert"]


# -- motion gate -------------------------------------------------------------------------------------
def _scene(shift: int) -> np.ndarray:
    img = np.full((240, 320, 3), 90, np.uint8)
    img[100:140, 40 + shift : 80 + shift] = 230  # a bright "vehicle"
    return img


def test_motion_gate_skips_static_frames_and_forces_periodic_detection_synthetic() -> None:
    gate = MotionGate(MotionConfig(enabled=True, max_skip_s=2.0))
    decisions = [gate.should_detect(_scene(0), pts=i * 0.1) for i in range(15)]  # 1.5 s of a still scene
    assert decisions[0] is True and not any(decisions[1:])
    assert gate.skipped == 14
    assert gate.should_detect(_scene(0), pts=2.05) is True  # max_skip_s elapsed: re-confirm parked vehicles
    assert gate.should_detect(_scene(30), pts=2.1) is True  # something moved


def test_motion_gate_disabled_always_detects_synthetic() -> None:
    gate = MotionGate(MotionConfig(enabled=False))
    assert all(gate.should_detect(_scene(0), pts=i * 0.1) for i in range(5))


# -- structured logs -------------------------------------------------------------------------------
def test_json_logs_are_one_object_per_line_with_extras_and_masked_secrets_synthetic() -> None:
    import io
    import json

    from pipelines.live.logs import setup_json_logging

    stream = io.StringIO()
    handler = setup_json_logging("INFO", stream)
    try:
        log = logging.getLogger("epolice.test.live")
        log.info("camera %s", "live", extra={"camera": "gate-1", "source": "rtsp://admin:topsecret9@10.1.1.1/s"})
        try:
            raise ConnectionError("rtsp://admin:topsecret9@10.1.1.1/s: refused")
        except ConnectionError:
            log.exception("connect failed")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [ln["msg"] for ln in lines] == ["camera live", "connect failed"]
    assert lines[0]["camera"] == "gate-1" and lines[0]["level"] == "info" and lines[0]["source"] == "rtsp://admin:***@10.1.1.1/s"
    assert "ConnectionError" in lines[1]["exc"]
    assert "topsecret9" not in stream.getvalue()
