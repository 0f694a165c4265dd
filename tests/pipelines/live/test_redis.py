"""Distribution over a real redis-server: camera leases, the record-writer group, and Redis outages.

Workers and writers that "die" are real child processes killed with SIGKILL mid-work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import redis

from evidence.store import RecordQuery, RecordStore
from pipelines.live.bus import EventBus, LiveMessage, alerts_stream, events_stream
from pipelines.live.leases import LeaseManager
from pipelines.live.spool import DiskSpool
from pipelines.live.writer import GROUP, RecordWriter
from tests.support.evidence import keys  # noqa: F401  (fixture)
from tests.support.live import RedisServer, restartable_redis, synthetic_record, wait_for  # noqa: F401  (fixture)
from tests.support.paths import REPO
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401  (fixtures)
from tests.support.redis import redis_server, redis_url  # noqa: F401  (fixtures)

CAMERAS = ["cam-a", "cam-b", "cam-c", "cam-d"]


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _child(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_leases_fair_share_and_takeover_after_worker_kill(redis_url: str) -> None:
    ttl_ms = 1500
    other = _child(
        f"""
        import time, redis
        from pipelines.live.leases import LeaseManager
        m = LeaseManager(redis.Redis.from_url({redis_url!r}), "site-1", "worker-a", ttl_ms={ttl_ms})
        while True:
            m.balance({CAMERAS!r})
            print(",".join(sorted(m.owned)), flush=True)
            time.sleep({ttl_ms / 3000:.3f})
        """
    )
    try:
        assert other.stdout is not None
        wait_for(lambda: other.stdout.readline().strip().count(",") == 3, 20, "the first worker to own all 4 cameras")
        mine = LeaseManager(_client(redis_url), "site-1", "worker-b", ttl_ms=ttl_ms)

        def balance_until(n: int, timeout: float) -> float:
            start = time.monotonic()
            while len(mine.owned) != n:
                assert time.monotonic() - start < timeout, f"worker-b owns {sorted(mine.owned)}, expected {n} cameras"
                mine.balance(CAMERAS)
                time.sleep(ttl_ms / 3000)
            return time.monotonic() - start

        balance_until(2, 10)  # fair share: the running worker gives two cameras up
        theirs = set(CAMERAS) - mine.owned
        assert all(mine.owner(c) == "worker-a" for c in theirs)
        other.send_signal(signal.SIGKILL)  # dies without releasing anything
        other.wait()
        took = balance_until(4, 10)
        # leases expire after ttl; one more balance period to notice; heartbeat expiry likewise
        assert took <= ttl_ms / 1000 + 1.5, f"takeover took {took:.2f}s with a {ttl_ms / 1000}s lease"
        assert all(mine.owner(c) == "worker-b" for c in CAMERAS)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()


def test_lease_renewal_is_compare_and_extend(redis_url: str) -> None:
    a = LeaseManager(_client(redis_url), "site-1", "worker-a", ttl_ms=400)
    b = LeaseManager(_client(redis_url), "site-1", "worker-b", ttl_ms=5000)
    assert a.try_acquire("cam-a")
    assert not b.try_acquire("cam-a")
    time.sleep(0.6)  # worker-a paused past its lease (GC, suspended VM)
    assert b.try_acquire("cam-a")
    assert not a.renew("cam-a")  # must not extend worker-b's lease
    assert "cam-a" not in a.owned and b.owner("cam-a") == "worker-b"
    a.release("cam-a")  # a stale release must not delete worker-b's lease either
    assert b.owner("cam-a") == "worker-b"
    assert b.renew("cam-a")


def test_killed_record_writer_mid_event_gives_each_record_exactly_once(redis_url: str, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'records.db'}"
    marker = tmp_path / "written-before-ack"
    bus = EventBus(_client(redis_url), "site-1", DiskSpool(tmp_path / "spool"))
    records = [synthetic_record(i) for i in range(5)]
    for rec in records:
        assert bus.publish_record(rec)
    crashing = _child(
        f"""
        import time, pathlib, redis
        from evidence.store import RecordStore
        from pipelines.live.writer import RecordWriter
        store = RecordStore({db!r})
        class StoreThenHang:
            def add(self, rec, **kw):
                result = store.add(rec, **kw)
                pathlib.Path({str(marker)!r}).write_text(rec.event_key)
                time.sleep(120)  # killed here: the record is stored, the entry never acknowledged
        RecordWriter(redis.Redis.from_url({redis_url!r}), "site-1", StoreThenHang(), consumer="w1").step(block_ms=100)
        """
    )
    try:
        wait_for(marker.exists, 30, "the first writer to store a record")
        crashing.send_signal(signal.SIGKILL)
        crashing.wait()
    finally:
        if crashing.poll() is None:
            crashing.kill()
    client = _client(redis_url)
    assert client.xpending(events_stream("site-1"), GROUP)["pending"] == 5  # all delivered to w1, none acked
    store = RecordStore(db)
    assert store.count() == 1
    survivor = RecordWriter(client, "site-1", store, consumer="w2", claim_idle_ms=300)
    wait_for(lambda: survivor.step(block_ms=100) == 0 and store.count() == 5 and client.xpending(events_stream("site-1"), GROUP)["pending"] == 0, 20, "the survivor to reclaim everything")
    assert sorted(r.event_key for r in store.query()) == sorted(r.event_key for r in records)
    assert survivor.duplicates == 1 and survivor.stored == 4  # the half-finished one was recognised, not duplicated


def test_redis_outage_spools_to_disk_and_replays_without_loss(restartable_redis: RedisServer, tmp_path: Path) -> None:
    server = restartable_redis
    store = RecordStore(f"sqlite:///{tmp_path / 'records.db'}")
    spool = DiskSpool(tmp_path / "spool")
    bus = EventBus(redis.Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5), "site-1", spool)
    writer = RecordWriter(_client(server.url), "site-1", store, consumer="w1", claim_idle_ms=500)
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop, 200), daemon=True)
    thread.start()
    try:
        for i in range(3):
            assert bus.publish_record(synthetic_record(i))
        wait_for(lambda: store.count() == 3, 10, "records before the outage")

        server.stop()  # outage: Redis gone, with everything in memory
        from datetime import datetime, timezone

        from pipelines.live.bus import CameraAlert

        for i in range(3, 8):
            assert bus.publish_record(synthetic_record(i)) is False  # spooled, no exception
        alert = CameraAlert(site_id="site-1", camera_id="cam-1", kind="alert", state="offline", wall_time=datetime.now(timezone.utc), down_for_s=31.0)
        assert bus.publish_alert(alert) is False
        assert len(spool) == 6 and bus.spooled == 6
        assert bus.replay() is False  # still down: nothing lost, nothing sent
        assert len(spool) == 6

        # the worker restarts during the outage: a new bus over the same spool directory
        bus2 = EventBus(_client(server.url), "site-1", DiskSpool(tmp_path / "spool"))
        server.start()  # back, and empty (no persistence)
        assert bus2.replay() is True
        assert len(spool) == 0 and bus2.replayed == 6
        wait_for(lambda: store.count() == 8, 15, "spooled records to be stored after Redis returned")
        assert sorted(r.track_id for r in store.query()) == list(range(8))
        [(_, fields)] = _client(server.url).xrange(alerts_stream("site-1"))
        assert LiveMessage.model_validate_json(fields[b"data"]).alert == alert
    finally:
        stop.set()
        thread.join(5)


def test_spool_survives_torn_writes_and_sets_bad_files_aside_synthetic(tmp_path: Path, redis_url: str) -> None:
    d = tmp_path / "spool"
    d.mkdir()
    torn = d / "00000000000000000001-1-000001-x.msg.json.tmp"
    torn.write_bytes(b'{"stream": "torn')  # crash mid-write, an hour ago
    os.utime(torn, (time.time() - 3600, time.time() - 3600))
    (d / "00000000000000000002-1-000001-y.msg.json").write_bytes(b"not json")  # corrupted on disk
    spool = DiskSpool(d)
    assert not list(d.glob("*.tmp")) and len(spool) == 1
    bus = EventBus(_client(redis_url), "site-1", spool)
    bus._to_spool(events_stream("site-1"), "k", LiveMessage(kind="record", key="k", record=synthetic_record(1)).model_dump_json())
    assert bus.replay() is True
    assert len(spool) == 0 and list(d.glob("*.bad"))  # the bad file is kept for an operator
    assert _client(redis_url).xlen(events_stream("site-1")) == 1
    assert os.stat(d).st_mode  # directory still there


def test_record_writer_verifies_the_package_before_it_inserts_synthetic(redis_url: str, tmp_path: Path, keys) -> None:
    """Issue 15 item 1: the writer stores whatever arrives on the stream no more; a record that is not
    the one its signed package describes goes to the dead letters, named, and is not stored."""
    from evidence.export import record_problems
    from evidence.package import write_package
    from evidence.signing import Keyring
    from evidence.store import NewRecord
    from tests.support.evidence import config, event, synthetic_input

    signer, _ = keys
    ev = event(track_id=1)
    genuine = NewRecord.from_package(ev, write_package(synthetic_input(ev), config(tmp_path), signer))
    forged = genuine.model_copy(update={"event_key": "f" * 32, "camera_id": "cam-99", "plate_text": "京X00000"})
    bus = EventBus(_client(redis_url), genuine.site_id, DiskSpool(tmp_path / "spool"))
    assert bus.publish_record(genuine) and bus.publish_record(forged)
    store = RecordStore(f"sqlite:///{tmp_path / 'records.db'}")
    ring = Keyring.of(signer.public_key)
    writer = RecordWriter(_client(redis_url), genuine.site_id, store, consumer="w1", verify=lambda rec: record_problems(rec, ring))
    wait_for(lambda: writer.step(block_ms=100) == 0 and store.count() == 1, 10, "the writer to handle both entries")
    assert [r.event_key for r in store.query()] == [genuine.event_key]
    [(_, dead)] = _client(redis_url).xrange(events_stream(genuine.site_id) + ":dead")
    assert b"event_key" in dead[b"error"] and b"camera_id" in dead[b"error"]
    assert writer.dead == 1 and writer.stored == 1


class RejectingStore:
    """A store that refuses one record every time (a poison message), and takes the others."""

    def __init__(self, inner: RecordStore, poison: str) -> None:
        self.inner, self.poison, self.tries = inner, poison, 0

    def add(self, rec, **kw):
        if rec.event_key == self.poison:
            self.tries += 1
            raise ValueError("value too long for type character varying(32)")
        return self.inner.add(rec, **kw)


def test_a_record_the_store_rejects_goes_to_dead_letters_after_the_delivery_limit(redis_url: str, tmp_path: Path) -> None:
    """Issue 15 item 15: a poison record was retried forever; now it is dead-lettered after
    ``max_deliveries`` and `epolice status` shows it."""
    import json

    from typer.testing import CliRunner

    from pipelines.cli.main import app

    bus = EventBus(_client(redis_url), "site-1", DiskSpool(tmp_path / "spool"))
    records = [synthetic_record(i) for i in range(3)]
    for rec in records:
        assert bus.publish_record(rec)
    store = RejectingStore(RecordStore(f"sqlite:///{tmp_path / 'records.db'}"), records[1].event_key)
    writer = RecordWriter(_client(redis_url), "site-1", store, consumer="w1", claim_idle_ms=50, max_deliveries=3)
    client = _client(redis_url)
    stream = events_stream("site-1")
    wait_for(lambda: writer.step(block_ms=50) >= 0 and client.xpending(stream, GROUP)["pending"] == 0, 10,
             "the poison entry to leave the pending list")
    assert store.tries == 3 and writer.dead == 1 and writer.stored == 2
    [(_, dead)] = client.xrange(stream + ":dead")
    assert dead[b"key"] == records[1].event_key.encode() and b"3 times" in dead[b"error"]
    assert client.xlen(stream) == 0  # stored and dead-lettered entries are deleted: the stream does not grow
    out = CliRunner().invoke(app, ["status", "--redis", redis_url, "--site", "site-1", "--json"])
    assert out.exit_code == 0, out.output
    letters = json.loads(out.stdout)["dead_letters"]
    assert letters["count"] == 1 and "varying(32)" in letters["latest"][0]["error"]


def test_the_events_stream_is_never_trimmed_and_a_lost_entry_is_not_acknowledged_silently(redis_url: str, tmp_path: Path) -> None:
    """Issue 15 item 15: no silent cap on the events stream; an entry that vanished while pending
    (trimmed, deleted) is logged, counted and dead-lettered instead of acknowledged silently."""
    client = _client(redis_url)
    stream = events_stream("site-1")
    bus = EventBus(client, "site-1", DiskSpool(tmp_path / "spool"), maxlen=1000)
    pipe_records = [synthetic_record(i) for i in range(1100)]
    for rec in pipe_records:
        assert bus.publish_record(rec)
    assert client.xlen(stream) == 1100  # nothing unconsumed was trimmed away
    store = RejectingStore(RecordStore(f"sqlite:///{tmp_path / 'records.db'}"), pipe_records[0].event_key)
    writer = RecordWriter(client, "site-1", store, consumer="w1", claim_idle_ms=50, batch=2000, max_deliveries=50)
    writer.step(block_ms=50)  # everything stored but the first, which stays pending
    [(first_id, _)] = client.xrange(stream)
    client.xdel(stream, first_id)  # gone from the stream while still pending
    wait_for(lambda: writer.step(block_ms=50) >= 0 and client.xpending(stream, GROUP)["pending"] == 0, 10, "the lost entry to be noticed")
    assert writer.lost == 1 and writer.stored == 1099
    [(_, dead)] = client.xrange(stream + ":dead")
    assert b"vanished from the stream" in dead[b"error"]


def test_a_worker_that_cannot_renew_its_leases_stops_its_cameras(restartable_redis: RedisServer, tmp_path: Path) -> None:
    """Issue 15 item 8 (fencing): during a partition the worker kept its cameras while another worker,
    still reaching Redis, took them over once the leases expired: two workers on one camera."""
    from datetime import datetime, timezone

    from pipelines.live.config import LiveConfig
    from pipelines.live.housekeeping import RedisHousekeeper
    from pipelines.live.status import WorkerStatus

    server = restartable_redis
    client = redis.Redis.from_url(server.url, socket_timeout=0.3, socket_connect_timeout=0.3)
    live = LiveConfig(lease_ttl_s=1.0, status_interval_s=0.3, spool_dir=tmp_path / "spool")
    spool = DiskSpool(tmp_path / "spool")
    now = datetime.now(timezone.utc)
    owned: list[tuple[float, set[str]]] = []
    keeper = RedisHousekeeper(
        client, EventBus(client, "site-1", spool), LeaseManager(client, "site-1", "worker-a", ttl_ms=1000), spool, live,
        "site-1", "worker-a", ["cam-a", "cam-b"],
        status=lambda: WorkerStatus(worker="worker-a", site_id="site-1", status="ok", started=now, updated=now, cameras=[]),
        on_owned=lambda cams, changed: owned.append((time.monotonic(), set(cams))),
    )
    stop = threading.Event()
    thread = threading.Thread(target=keeper.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: owned and owned[-1][1] == {"cam-a", "cam-b"}, 10, "the worker to own both cameras")
        server.stop()  # partitioned from Redis: the leases cannot be renewed
        cut = time.monotonic()
        wait_for(lambda: owned[-1][1] == set(), 5, "the worker to give its cameras up")
        stopped_after = next(t for t, cams in owned if t > cut and not cams) - cut
        assert stopped_after <= live.lease_ttl_s, f"cameras kept {stopped_after:.2f}s after the last renewal could fail"
        server.start()  # healed: the worker takes them back through the leases
        wait_for(lambda: owned[-1][1] == {"cam-a", "cam-b"}, 10, "the cameras back after the partition")
    finally:
        stop.set()
        thread.join(5)


def test_the_same_violation_from_two_workers_is_stored_once(redis_url: str, tmp_path: Path, store_url: str) -> None:
    """Issue 15 item 8 (dedupe): the event key holds the per-process track id, so one violation seen by
    two workers in a split brain gave two records. The writer stores one: same camera, rule and plate,
    overlapping time. Other plates, other cameras and later stays are kept."""
    from datetime import timedelta

    base = synthetic_record(1)
    twin = base.model_copy(update={"event_key": "b" * 32, "track_id": 7, "start_time": base.start_time + timedelta(seconds=3),
                                   "end_time": base.end_time + timedelta(seconds=2)})
    others = [
        base.model_copy(update={"event_key": "c" * 32, "plate_text": "京B00001"}),
        base.model_copy(update={"event_key": "d" * 32, "camera_id": "cam-2"}),
        base.model_copy(update={"event_key": "e" * 32, "start_time": base.end_time + timedelta(seconds=1),
                                "end_time": base.end_time + timedelta(seconds=61)}),
        base.model_copy(update={"event_key": "f" * 32, "plate_text": None}),
        base.model_copy(update={"event_key": "9" * 32, "plate_text": None}),  # unread plates are never merged
    ]
    bus = EventBus(_client(redis_url), "site-1", DiskSpool(tmp_path / "spool"))
    for rec in [base, twin, *others]:
        assert bus.publish_record(rec)
    store = RecordStore(store_url)
    writer = RecordWriter(_client(redis_url), "site-1", store, consumer="w1")
    wait_for(lambda: writer.step(block_ms=100) == 0 and store.count(RecordQuery(limit=None)) >= 6, 10, "the writer to store")
    assert writer.stored == 6 and writer.duplicates == 1
    assert twin.event_key not in {r.event_key for r in store.query()}


class BrokenClient:
    """A Redis client whose XADD fails with what a dropped connection can raise besides RedisError."""

    def xadd(self, *args, **kwargs):
        raise ConnectionResetError(104, "Connection reset by peer")


def test_any_transport_error_spools_and_a_full_spool_is_logged_counted_and_raised(tmp_path: Path, monkeypatch, caplog) -> None:
    """Issue 15 item 2: spooling during an outage caught only RedisError; a full spool disk lost the record silently."""
    import errno
    import logging

    import pytest

    from pipelines.live import spool as spool_mod
    from pipelines.live.bus import DeliveryError

    bus = EventBus(BrokenClient(), "site-1", DiskSpool(tmp_path / "spool"))
    assert bus.publish_record(synthetic_record(1)) is False and len(bus.spool) == 1

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool_mod, "replace_durable", full)
    with caplog.at_level(logging.ERROR), pytest.raises(DeliveryError):
        bus.publish_record(synthetic_record(2))
    assert bus.spool_failures == 1 and synthetic_record(2).event_key in caplog.text


class SlowClient:
    """A real client whose XADD takes a while, so two replays overlap."""

    def __init__(self, url: str) -> None:
        self.inner = _client(url)

    def xadd(self, *args, **kwargs):
        time.sleep(0.02)
        return self.inner.xadd(*args, **kwargs)


def test_two_workers_on_one_spool_folder_replay_each_message_once_and_spare_each_others_writes(redis_url: str, tmp_path: Path) -> None:
    """Issue 15 item 13: two workers sharing one spool folder raced on replay (messages sent twice), and
    start-up deleted the other worker's temp files (a message being spooled right then)."""
    d = tmp_path / "spool"
    a = DiskSpool(d)
    writing = d / f"{time.time_ns():020d}-{os.getpid()}-000001-busy.msg.json.tmp"  # worker A is writing this now
    writing.write_bytes(b'{"stream": "half')
    b = DiskSpool(d)  # worker B starts meanwhile
    assert writing.exists()
    writing.unlink()
    bus_a, bus_b = EventBus(SlowClient(redis_url), "site-1", a), EventBus(SlowClient(redis_url), "site-1", b)
    for i in range(20):
        bus_a._to_spool(events_stream("site-1"), f"k{i}", LiveMessage(kind="record", key=f"k{i}", record=synthetic_record(i)).model_dump_json())
    done = []
    threads = [threading.Thread(target=lambda bus=bus: done.append(bus.replay())) for bus in (bus_a, bus_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    while not (bus_a.replay() and bus_b.replay()):
        time.sleep(0.05)
    assert len(a) == 0 and _client(redis_url).xlen(events_stream("site-1")) == 20
