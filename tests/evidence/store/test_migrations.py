"""Schema migrations (one Alembic history, run when a store opens) on SQLite and PostgreSQL, and the
adoption of databases made by the pre-Alembic code (fixtures made once with commit fb746a1, see
tests/data/legacy_fb746a1/make_legacy_db.py)."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from evidence.config import StoreConfig
from evidence.review import audit, auth
from evidence.store import RecordStore, SchemaTooNew, StoreError, head_revision
from evidence.store.schema import metadata
from tests.evidence.store.test_records import new_record
from tests.support.evidence import T0
from tests.support.paths import DATA
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401

LEGACY = DATA / "legacy_fb746a1"
PASSWORD = "correct horse battery"


def assert_schema_is_head(store: RecordStore) -> None:
    """At the head revision, no pre-Alembic bookkeeping left, and exactly the tables the code is written against."""
    assert store.schema_version() == head_revision()
    with store.engine.connect() as conn:
        insp = sa.inspect(conn)
        assert not insp.has_table("epolice_schema") and not insp.has_table("review_schema")
        for table in metadata.sorted_tables:
            assert {c["name"] for c in insp.get_columns(table.name)} == set(table.c.keys()), table.name
            assert {i["name"] for i in insp.get_indexes(table.name) if not i.get("duplicates_constraint")} == {
                i.name for i in table.indexes}, table.name
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []


def load_sqlite(sql: str, path: Path) -> str:
    con = sqlite3.connect(path)
    con.executescript(gzip.decompress((LEGACY / sql).read_bytes()).decode("utf-8"))
    con.close()
    return f"sqlite:///{path}"


def load_postgres(sql: str, url: str) -> str:
    import psycopg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((LEGACY / sql).read_text(encoding="utf-8"))  # no parameters: one simple-protocol script
    return url


def assert_records_intact(store: RecordStore) -> None:
    recs = {r.event_key: r for r in store.query()}
    assert sorted(recs) == ["legacy-1", "legacy-2", "legacy-3"]
    for i in (1, 2, 3):
        r = recs[f"legacy-{i}"]
        assert r.id == i and r.start_time == T0 + timedelta(minutes=i) and r.plate_text == f"浙A1234{i}"
        assert r.facts == {"dwell_s": 30.0, "plate_reads": 5} and r.evidence_files[0].sha256 == f"{i:064x}"
        assert r.code_name == "机动车违反规定停放、临时停车" and r.model_versions == {"detector": "yolov5n_coco@0123456789ab"}
        # read once, before double reading: legacy, offered to the reviewer as the one candidate
        assert r.plate_status == "legacy" and r.plate_candidates == [] and [c.text for c in r.plate_choices] == [r.plate_text]
    assert recs["legacy-3"].warnings == ["small panorama"]


def assert_review_intact(store: RecordStore) -> None:
    assert_records_intact(store)
    one, two, three = (store.get(i) for i in (1, 2, 3))
    assert (one.status, one.export_batch, one.exported_at, one.row_version) == ("exported", "batch-1", T0 + timedelta(days=1), 3)
    assert two.status == "rejected" and three.status == "pending_review"
    assert (three.plate, three.plate_text, three.plate_color_reviewed) == ("浙B54321", "浙A12343", "yellow")
    assert [(d.actor, d.action) for d in store.decisions(1)] == [("rita", "approve"), ("export", "export")]
    assert [(d.action, d.reason_code) for d in store.decisions(2)] == [("reject", "not_violation")]
    assert [u.name for u in auth.list_users(store.engine)] == ["ada", "rita", "sam"]
    assert auth.authenticate(store.engine, "rita", PASSWORD).role == "reviewer"
    report = audit.verify_chain(store.engine)
    assert report.ok and report.entries == 7


def assert_still_works(store: RecordStore) -> None:
    rid = store.add(new_record("after-migration")).id
    assert rid == 4  # the id sequence carries on past the old rows
    store.set_status(rid, "approved", "alice")
    audit.append_retrying(store.engine, "alice", "approve", str(rid))
    assert audit.verify_chain(store.engine).ok


def test_a_new_store_is_built_at_head_on_both_backends(store_url: str):
    with RecordStore.from_config(StoreConfig(url=store_url)) as s:
        assert_schema_is_head(s)
        assert s.count() == 0


def test_reviewed_sqlite_store_from_fb746a1_keeps_users_decisions_and_audit_chain(tmp_path: Path):
    url = load_sqlite("review.sql.gz", tmp_path / "records.db")
    with RecordStore.from_config(StoreConfig(url=url), must_exist=True) as s:
        assert_schema_is_head(s)
        assert_review_intact(s)
        assert_still_works(s)
    with RecordStore(url) as s:  # reopening is a no-op
        assert s.count() == 4 and s.schema_version() == head_revision()


def test_reviewed_sqlite_store_from_fb746a1_gets_export_tokens_and_keeps_its_accounts(tmp_path: Path):
    """Revision 0005 (issue 15): old exports get a random download token, accounts made before it
    count as approved, and the old unkeyed audit entries verify beside new keyed ones."""
    from evidence.review.audit_seal import AuditSeal
    from evidence.store.schema import exports

    url = load_sqlite("review.sql.gz", tmp_path / "records.db")
    with RecordStore.from_config(StoreConfig(url=url), must_exist=True) as s:
        with s.engine.connect() as conn:
            [token] = conn.execute(sa.select(exports.c.token)).scalars().all()
        assert token and len(token) >= 20 and not token.isdigit()
        assert all(not u.pending for u in auth.list_users(s.engine))
        assert auth.authenticate(s.engine, "ada", PASSWORD).role == "admin"
        seal = AuditSeal(b"k" * 32, tmp_path / "checkpoints.jsonl")
        audit.attach(s.engine, seal)
        audit.append_retrying(s.engine, "ada", "login")
        report = audit.verify_chain(s.engine)
        assert report.ok and report.entries == 8


def test_records_only_postgres_store_from_fb746a1_is_stamped_and_gets_the_review_tables(postgres_url: str):
    url = load_postgres("store.pg.sql", postgres_url)
    with RecordStore.from_config(StoreConfig(url=url)) as s:
        assert_schema_is_head(s)
        assert_records_intact(s)
        assert all(r.status == "pending_review" and r.row_version == 1 for r in s.query())
        auth.add_user(s.engine, "rita", PASSWORD, "reviewer")
        assert_still_works(s)


def test_concurrent_openers_of_a_new_store_migrate_once(store_url: str):
    def open_one(_: int) -> str | None:
        with RecordStore(store_url) as s:
            return s.schema_version()

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(open_one, range(4))) == {head_revision()}
    with RecordStore(store_url) as s:
        assert_schema_is_head(s)


def test_a_pre_alembic_store_with_an_unknown_version_is_refused(tmp_path: Path):
    url = load_sqlite("review.sql.gz", tmp_path / "records.db")
    con = sqlite3.connect(tmp_path / "records.db")
    con.execute("INSERT INTO epolice_schema VALUES (3, 'future', '2030-01-01 00:00:00')")
    con.commit()
    con.close()
    with pytest.raises(SchemaTooNew, match="newer than this epolice"):
        RecordStore(url)
    with sqlite3.connect(tmp_path / "records.db") as con:  # refused without a change
        assert con.execute("SELECT COUNT(*) FROM epolice_schema").fetchone() == (3,)


def test_an_opener_that_must_not_migrate_finds_an_old_schema_refused(tmp_path: Path):
    url = load_sqlite("review.sql.gz", tmp_path / "records.db")
    with pytest.raises(StoreError, match="expects"):
        RecordStore(url, migrate_schema=False)
    with RecordStore(url):
        pass
    with RecordStore(url, migrate_schema=False) as s:
        assert s.count() == 3


def test_a_batch_revision_can_rebuild_a_referenced_table_on_sqlite(tmp_path: Path, monkeypatch):
    """What the next revisions will do: SQLite rebuilds violation_records (referenced by the decisions
    log) in batch mode; foreign keys are off for the run, checked before commit, and on again after."""
    from evidence.store import migrations

    head = head_revision()
    following = f"{int(head) + 1:04d}"
    scripts = tmp_path / "alembic"
    shutil.copytree(migrations.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / f"{following}_rebuild.py").write_text(
        f'import sqlalchemy as sa\nfrom alembic import op\n\nrevision = "{following}"\ndown_revision = "{head}"\n\n\n'
        'def upgrade():\n    with op.batch_alter_table("violation_records", recreate="always") as b:\n'
        '        b.add_column(sa.Column("lane", sa.String(8), nullable=True))\n')
    monkeypatch.setattr(migrations, "SCRIPTS", scripts)
    migrations._scripts.cache_clear()
    try:
        url = load_sqlite("review.sql.gz", tmp_path / "records.db")
        with RecordStore(url) as s:
            assert s.schema_version() == following
            assert [d.action for d in s.decisions(1)] == ["approve", "export"]
            with s.engine.connect() as conn:
                assert "lane" in {c["name"] for c in sa.inspect(conn).get_columns("violation_records")}
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            with pytest.raises(sa.exc.IntegrityError):
                with s.engine.begin() as conn:
                    conn.exec_driver_sql("INSERT INTO review_decisions (record_id, actor, at, action) VALUES (99, 'x', '2024-05-01', 'y')")
    finally:
        migrations._scripts.cache_clear()


def test_records_from_before_double_reading_get_a_plate_status(store_url: str):
    """0003 on a store at 0002: a machine plate text becomes ``legacy`` (one reader: not the plate to
    act on until a reviewer settles it), no text ``unreadable``."""
    from alembic import command

    from evidence.store.migrations import alembic_config
    from evidence.store.schema import records

    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0002")
            for key, plate in (("old-read", "浙A12345"), ("old-unread", None)):
                values = new_record(key, plate_text=plate).model_dump(mode="python", exclude={"plate_status", "plate_candidates"})
                values["evidence_files"] = [f.model_dump(mode="json") for f in new_record(key).evidence_files]
                conn.execute(records.insert().values(**values, status="approved", created_at=T0))
    finally:
        engine.dispose()
    with RecordStore(store_url) as s:
        assert_schema_is_head(s)
        read, unread = s.get("old-read"), s.get("old-unread")
        assert (read.plate_status, read.plate_text, read.plate, read.plate_settled) == ("legacy", "浙A12345", None, False)
        assert [(c.text, c.color) for c in read.plate_choices] == [("浙A12345", "blue")]
        assert (unread.plate_status, unread.plate, unread.plate_settled, unread.plate_choices) == ("unreadable", None, True, [])
