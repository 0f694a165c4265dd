"""Passes through the sink into a real store, watchlist hits and clones raised as alerts, and their
delivery: HMAC-signed webhooks against a real local HTTP server that fails and recovers (nothing
lost), dead letters after N attempts, and the Redis ``alerts`` stream on a real Redis."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import redis

from evidence.checkpoint import alerts, watchlist
from evidence.checkpoint.config import PassesConfig
from evidence.checkpoint.passes import PassStore
from evidence.store import RecordStore
from pipelines.checkpoint.config import AlertsConfig, CheckpointConfig, WebhookConfig
from pipelines.checkpoint.dispatch import SIGNATURE_HEADER, AlertDispatcher, verify, wait_delivered
from pipelines.checkpoint.sink import CheckpointSink
from tests.support.checkpoint import SECRET, Receiver, capture, entry, plate
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401,F811
from tests.support.redis import redis_server, redis_url  # noqa: F401,F811

# A receiver down for "a minute", shortened: retries every 0.1..0.4 s for about 10 s before a delivery dies.
FAST = {"backoff_s": 0.1, "backoff_max_s": 0.4, "max_attempts": 30}


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def store(store_url: str):
    with RecordStore(store_url) as s:
        yield s


def sink_for(store: RecordStore, tmp_path: Path, alerts_cfg: AlertsConfig, redis_client=None) -> CheckpointSink:
    cfg = CheckpointConfig(alerts=alerts_cfg)
    return CheckpointSink(store.engine, cfg, PassesConfig(output_dir=tmp_path / "passes"),
                          AlertDispatcher(store.engine, cfg.alerts, redis_client))


def test_passes_stored_once_hits_scored_and_clones_raised(store, tmp_path):
    watchlist.add(store.engine, entry("京A12345"), "sup")
    sink = sink_for(store, tmp_path, AlertsConfig())
    caps = [capture(plate("京A12345"), track=1), capture(plate("京A1Z345"), track=2, seconds=1),  # exact, confusable
            capture(plate("沪C99999"), track=3, seconds=2), capture(plate(None, "unreadable"), track=4, seconds=3)]
    raised = sink.handle(caps)
    assert PassStore(store.engine).count() == 4
    assert [(a.matched_text, a.match, a.score) for a in raised] == [("京A12345", "exact", 1.0), ("京A1Z345", "confusable", 0.85)]
    assert sink.handle(caps) == [] and PassStore(store.engine).count() == 4  # a re-run stores and raises nothing twice
    rec = PassStore(store.engine).get(raised[0].pass_key)
    assert rec.panorama is not None and Path(rec.vehicle.path).is_file()
    # the same confirmed plate 20 km away two minutes later: a suspected clone against the first pass
    clone = sink.handle([capture(plate("京A12345"), track=9, seconds=120, site="site-b", camera="cam-9", lat=30.18)])
    kinds = sorted((a.kind, a.match) for a in clone)
    assert kinds == [("clone", "clone_speed"), ("watchlist", "exact")]
    c = next(a for a in clone if a.kind == "clone")
    assert c.other_pass_key == raised[0].pass_key and c.details["distance_km"] == pytest.approx(20.0, abs=0.05)


def test_a_watchlist_change_reaches_a_running_sink(store, tmp_path):
    sink = sink_for(store, tmp_path, AlertsConfig())
    sink.cfg = sink.cfg.model_copy(update={"match": sink.cfg.match.model_copy(update={"refresh_s": 0.01})})
    assert sink.handle([capture(plate("京A12345"), track=1)]) == []
    watchlist.add(store.engine, entry("京A12345"), "sup")
    time.sleep(0.02)
    assert len(sink.handle([capture(plate("京A12345"), track=2, seconds=5)])) == 1


def test_a_receiver_down_for_a_while_loses_no_alert(store, tmp_path, receiver):
    watchlist.add(store.engine, entry("京A12345"), "sup")
    watchlist.add(store.engine, entry("沪B54321", reason="overdue_inspection"), "sup")
    hook = WebhookConfig(name="ops", url=receiver.url, secret=SECRET)
    sink = sink_for(store, tmp_path, AlertsConfig(webhooks=[hook], **FAST))
    stop = threading.Event()
    thread = sink.dispatcher.start(stop)
    try:
        receiver.down = True
        raised = sink.handle([capture(plate("京A12345"), track=1), capture(plate("沪B54321"), track=2, seconds=1)])
        time.sleep(2.0)  # down: every attempt refused, retried with backoff
        assert receiver.refused >= 4 and receiver.received == []
        receiver.down = False
        done = [wait_delivered(store.engine, a.id, 15) for a in raised]
    finally:
        stop.set()
        sink.dispatcher.wake.set()
        thread.join(5)
    assert [[d.state for d in ds] for ds in done] == [["delivered"], ["delivered"]]
    assert all(ds[0].attempts > 1 for ds in done)
    got = {body["alert"]["alert_key"]: (body, raw, headers) for body, raw, headers in receiver.received}
    assert set(got) == {a.alert_key for a in raised}  # every alert, each once
    for body, raw, headers in got.values():
        assert verify(SECRET.encode(), raw, headers[SIGNATURE_HEADER])
        assert not verify(b"another-secret-entirely", raw, headers[SIGNATURE_HEADER])
        assert body["pass"]["vehicle"]["sha256"] and body["alert"]["kind"] == "watchlist"


def test_dead_letter_after_max_attempts(store, tmp_path, receiver):
    watchlist.add(store.engine, entry("京A12345"), "sup")
    hook = WebhookConfig(name="ops", url=receiver.url, secret=SECRET)
    sink = sink_for(store, tmp_path, AlertsConfig(webhooks=[hook], backoff_s=0.01, backoff_max_s=0.02, max_attempts=3))
    receiver.down = True
    (a,) = sink.handle([capture(plate("京A12345"))])
    for _ in range(40):
        sink.dispatcher.run_once()
        if alerts.deliveries_of(store.engine, a.id)[0].state == "dead":
            break
        time.sleep(0.02)
    (d,) = alerts.by_state(store.engine, "dead")
    assert (d.alert_id, d.attempts, receiver.refused) == (a.id, 3, 3) and "503" in d.last_error


def test_alerts_on_the_redis_stream(store, tmp_path, redis_url):
    client = redis.Redis.from_url(redis_url)
    watchlist.add(store.engine, entry("京A12345"), "sup")
    sink = sink_for(store, tmp_path, AlertsConfig(stream="test:alerts"), redis_client=client)
    (a,) = sink.handle([capture(plate("京A12345"))])
    assert sink.dispatcher.run_once() == 1
    ((_, fields),) = client.xrange("test:alerts")
    assert fields[b"alert_key"].decode() == a.alert_key
    assert json.loads(fields[b"json"])["pass"]["plate"] == "京A12345"


def test_background_thread_stores_what_is_submitted(store, tmp_path):
    sink = sink_for(store, tmp_path, AlertsConfig())
    stop = threading.Event()
    t = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    t.start()
    sink.submit([capture(plate(f"京A0000{i}"), track=i, seconds=i) for i in range(5)])
    assert sink.drain(10)
    stop.set()
    t.join(5)
    assert PassStore(store.engine).count() == 5 and sink.stored == 5


def test_a_pass_without_pictures_is_still_stored_and_matched(store, tmp_path):
    from evidence.checkpoint.images import PassCapture
    from evidence.event import Box

    watchlist.add(store.engine, entry("京A12345"), "sup")
    c = capture(plate("京A12345"))
    off_frame = PassCapture(c.event.model_copy(update={"box": Box(x1=700, y1=10, x2=800, y2=90)}), c.panorama)
    (a,) = sink_for(store, tmp_path, AlertsConfig()).handle([off_frame])
    rec = PassStore(store.engine).get(a.pass_key)
    assert rec.plate == "京A12345" and rec.panorama is None and rec.vehicle is None
