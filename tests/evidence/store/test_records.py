"""The record store on SQLite and on a real PostgreSQL server (same code, same tests)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from evidence.manifest import FileEntry
from evidence.store import NewRecord, RecordQuery, RecordStore, SchemaTooNew, StoreError, head_revision
from tests.support.evidence import T0
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401


@pytest.fixture
def store(store_url: str):
    with RecordStore(store_url) as s:
        yield s


def new_record(key: str, **kw) -> NewRecord:
    values = dict(
        event_key=key, site_id="site-001", camera_id="cam-01", rule="parking", code="1039", code_name="违法停车",
        track_id=1, start_time=T0, end_time=T0 + timedelta(seconds=30), plate_text="浙A12345", plate_color="blue",
        plate_agreement=0.9, vehicle_class="car", facts={"dwell_s": 30.0}, evidence_path="/nowhere",
        evidence_files=[FileEntry(name="composite.jpg", kind="composite", sha256="0" * 64, size=1)],
        manifest_sha256="1" * 64, signature="c2ln", key_id="abcd", model_versions={"detector": "x@1"}, warnings=[],
    )
    values.setdefault("plate_status", "confirmed" if kw.get("plate_text", values["plate_text"]) else "unreadable")
    values.update(kw)
    return NewRecord(**values)


def test_duplicate_event_gives_one_record(store: RecordStore):
    a = store.add(new_record("k1"))
    b = store.add(new_record("k1", plate_text="OTHER"))  # a redelivery never overwrites either
    assert a.created and not b.created and a.id == b.id
    assert store.count() == 1
    assert store.get(a.id).plate_text == "浙A12345"
    assert store.get("k1").id == a.id


def test_concurrent_duplicate_inserts_give_one_record(store_url: str):
    stores = [RecordStore(store_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: stores[i % 4].add(new_record("same")), range(16)))
        assert sum(r.created for r in results) == 1
        assert len({r.id for r in results}) == 1
        assert stores[0].count() == 1
    finally:
        for s in stores:
            s.close()


def _seed(store: RecordStore) -> None:
    rows = [
        ("a", dict(site_id="s1", rule="parking", plate_text="浙A11111", start_time=T0)),
        ("b", dict(site_id="s1", rule="u_turn", plate_text="浙A22222", start_time=T0 + timedelta(hours=1))),
        ("c", dict(site_id="s2", rule="parking", plate_text=None, start_time=T0 + timedelta(hours=2))),
        ("d", dict(site_id="s2", rule="helmet", plate_text="浙A11111", camera_id="cam-02", start_time=T0 + timedelta(days=1))),
    ]
    for key, kw in rows:
        store.add(new_record(key, **kw))
    store.set_status(store.get("b").id, "approved", "alice")
    store.set_status(store.get("c").id, "rejected", "bob", reason_code="not_a_vehicle")


QUERIES = [
    ("all", RecordQuery(), ["d", "c", "b", "a"]),
    ("site", RecordQuery(site_id="s1"), ["b", "a"]),
    ("rule", RecordQuery(rule="parking"), ["c", "a"]),
    ("plate", RecordQuery(plate="浙A11111"), ["d", "a"]),
    ("status", RecordQuery(status="pending_review"), ["d", "a"]),
    ("camera", RecordQuery(camera_id="cam-02"), ["d"]),
    ("time range", RecordQuery(since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=3)), ["c", "b"]),
    ("time in another zone", RecordQuery(since=(T0 + timedelta(hours=1)).astimezone(ZoneInfo("Asia/Shanghai"))), ["d", "c", "b"]),
    ("combined", RecordQuery(site_id="s2", rule="parking", status="rejected"), ["c"]),
    ("limit", RecordQuery(limit=2), ["d", "c"]),
    ("offset", RecordQuery(limit=2, offset=2), ["b", "a"]),
]


@pytest.mark.parametrize("label,query,expected", QUERIES, ids=[q[0] for q in QUERIES])
def test_queries(store: RecordStore, label, query, expected):
    _seed(store)
    assert [r.event_key for r in store.query(query)] == expected
    assert store.count(query.model_copy(update={"limit": None, "offset": 0})) >= len(expected)


def test_reviewed_plate_is_found_and_machine_reading_kept(store: RecordStore):
    rid = store.add(new_record("p", plate_text="浙A1234S")).id
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE violation_records SET plate_text_reviewed='浙A12345' WHERE id=:i"), {"i": rid})
    rec = store.query(RecordQuery(plate="浙A12345"))[0]
    assert rec.plate == "浙A12345" and rec.plate_text == "浙A1234S"


def test_indexes_on_every_query_column(store: RecordStore):
    indexed = {tuple(ix["column_names"]) for ix in sa.inspect(store.engine).get_indexes("violation_records")}
    for col in ("site_id", "start_time", "rule", "plate_text", "status", "camera_id"):
        assert (col,) in indexed, col
    uniques = sa.inspect(store.engine).get_unique_constraints("violation_records")
    assert any(u["column_names"] == ["event_key"] for u in uniques)


def test_times_round_trip_as_aware_utc(store: RecordStore):
    local = datetime(2024, 5, 1, 8, 30, 12, 345000, tzinfo=ZoneInfo("Asia/Shanghai"))
    rid = store.add(new_record("t", start_time=local, end_time=local + timedelta(seconds=1))).id
    rec = store.get(rid)
    assert rec.start_time == local and rec.start_time.tzinfo is not None
    assert rec.start_time.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="timezone-aware"):
        store.add(new_record("naive", start_time=datetime(2024, 5, 1)))


def test_status_transitions_and_decision_log(store: RecordStore):
    rid = store.add(new_record("s")).id
    rec = store.set_status(rid, "approved", "alice", reason_code="ok", expected_version=1)
    assert rec.status == "approved" and rec.row_version == 2 and rec.updated_at is not None
    with pytest.raises(StoreError, match="cannot become rejected"):
        store.set_status(rid, "rejected", "bob")
    with pytest.raises(StoreError, match="changed meanwhile"):
        store.set_status(rid, "exported", "carol", expected_version=1)
    with pytest.raises(StoreError, match="no record"):
        store.set_status(99999, "approved", "x")
    log = store.decisions(rid)
    assert [(d.actor, d.action, d.reason_code) for d in log] == [("alice", "approve", "ok")]
    assert log[0].before == {"status": "pending_review"} and log[0].after == {"status": "approved"}


def test_status_check_constraint_in_the_database(store: RecordStore):
    rid = store.add(new_record("c")).id
    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE violation_records SET status='bogus' WHERE id=:i"), {"i": rid})


def test_reopening_is_a_no_op_and_newer_schema_is_refused(store_url: str):
    with RecordStore(store_url) as s:
        s.add(new_record("x"))
    with RecordStore(store_url) as s:
        assert s.count() == 1 and s.schema_version() == head_revision()
        with s.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'future'"))
    with pytest.raises(SchemaTooNew, match="newer than this epolice"):
        RecordStore(store_url)


def test_sqlite_read_only_opener_does_not_create_a_file(tmp_path: Path):
    from evidence.store import StoreMissing

    with pytest.raises(StoreMissing, match="no record store"):
        RecordStore(f"sqlite:///{tmp_path / 'typo.db'}", must_exist=True)
    assert not (tmp_path / "typo.db").exists()


def test_store_config_says_where_the_batch_ledger_lives(tmp_path: Path, monkeypatch):
    from evidence.config import StoreConfig

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert StoreConfig(url=f"sqlite:///{tmp_path / 'records.db'}").resolved_ledger_path == tmp_path / "records.batch.db"
    assert StoreConfig().resolved_ledger_path == Path("records.batch.db")  # the default store, relative as given
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@db/epolice"):
        assert StoreConfig(url=url).resolved_ledger_path == tmp_path / "cache" / "epolice" / "batch.db"
    assert StoreConfig(url="postgresql+psycopg://u@db/e", ledger_path=tmp_path / "l.db").resolved_ledger_path == tmp_path / "l.db"


def test_sqlite_reads_do_not_take_the_write_lock(tmp_path: Path):
    """Issue 15 item 7: every SQLite transaction began IMMEDIATE, so a long read (the audit page
    walking its chain) held the write lock and every writer queued behind it."""
    import threading
    import time

    from evidence.store.schema import records

    with RecordStore(f"sqlite:///{tmp_path / 'r.db'}") as store:
        store.add(new_record("before"))
        with store.engine.connect() as reader:
            assert reader.execute(sa.select(records.c.id)).all()  # a read transaction stays open
            done: list[object] = []
            t0 = time.monotonic()
            writer = threading.Thread(target=lambda: done.append(store.add(new_record("meanwhile"))), daemon=True)
            writer.start()
            writer.join(5)
            assert done and time.monotonic() - t0 < 2, "the writer waited for the reader"
        assert store.count() == 2
