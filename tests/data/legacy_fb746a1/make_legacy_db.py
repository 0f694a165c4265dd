r"""How the legacy-store fixtures here were made (run once, with the code of commit fb746a1).

Before Alembic, two hand-written runners kept their versions in ``epolice_schema`` (records, at 2)
and ``review_schema`` (the reviewer app, at 1). ``review.sql.gz`` is a SQLite store the reviewer app
had used (records, users, reason codes, decisions, a plate correction, an export, the audit chain);
``store.pg.sql`` a PostgreSQL store only the pipelines had written (records, no reviewer tables).
Regenerate, with a checkout of fb746a1 and its venv, and an empty PostgreSQL database:

    python tests/data/legacy_fb746a1/make_legacy_db.py OUT_DIR POSTGRES_URL
    pg_dump --no-owner --no-privileges --inserts DB | grep -v '^\\\|^--' | cat -s > store.pg.sql

It writes OUT_DIR/review.sql (SQLite ``iterdump``; committed gzipped as review.sql.gz: it is data, not code) and fills the PostgreSQL database. Not collected
by pytest; it imports modules that no longer exist.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from evidence.review.tables import exports

from evidence.config import EvidenceConfig, StoreConfig
from evidence.manifest import FileEntry
from evidence.review import audit, auth, workflow
from evidence.review.app import create_app, open_store
from evidence.review.config import ReviewSettings
from evidence.signing import generate_keypair
from evidence.store import NewRecord, RecordStore

T0 = datetime(2024, 5, 1, 0, 30, 12, 345000, tzinfo=timezone.utc)


def record(i: int, rule: str) -> NewRecord:
    return NewRecord(
        event_key=f"legacy-{i}", site_id="site-001", camera_id=f"cam-0{i % 2 + 1}", rule=rule, code="1039",
        code_name="机动车违反规定停放、临时停车", track_id=100 + i, start_time=T0 + timedelta(minutes=i),
        end_time=T0 + timedelta(minutes=i, seconds=30), plate_text=f"浙A1234{i}", plate_color="blue",
        plate_agreement=0.9, vehicle_class="car", facts={"dwell_s": 30.0, "plate_reads": 5},
        evidence_path=f"/srv/evidence/site-001/2024-05-01/legacy-{i}",
        evidence_files=[FileEntry(name="composite.jpg", kind="composite", sha256=f"{i:064x}", size=1000 + i)],
        manifest_sha256=f"{i + 10:064x}", signature="c2lnbmF0dXJl", key_id="abcd1234",
        model_versions={"detector": "yolov5n_coco@0123456789ab"}, warnings=["small panorama"] if i == 3 else [],
    )


def records_only(url: str) -> None:
    with RecordStore(url) as store:
        for i, rule in enumerate(["parking", "parking", "helmet"], start=1):
            store.add(record(i, rule))


def with_review(url: str, tmp: Path) -> None:
    records_only(url)
    _, pub = generate_keypair(tmp / f"keys-{abs(hash(url))}")
    settings = ReviewSettings(store=StoreConfig(url=url), evidence=EvidenceConfig(verify_key=pub))
    store = open_store(settings)
    try:
        create_app(settings, store)  # seeds the reason codes
        users = {n: auth.add_user(store.engine, n, "correct horse battery", r)
                 for n, r in [("rita", "reviewer"), ("sam", "supervisor"), ("ada", "admin")]}
        for u in users.values():
            audit.append_retrying(store.engine, "cli", "user_add", after={"user": u.name, "role": u.role})
        auth.new_session(store.engine, users["rita"], 8)
        auth.record_login(store.engine, "rita", "127.0.0.1", True, 900)
        rita = users["rita"]
        assert workflow.claim(store, 1, rita, 300).ok
        workflow.decide(store, 1, rita, "approve", None, set())
        assert workflow.claim(store, 2, rita, 300).ok
        workflow.decide(store, 2, rita, "reject", "not_violation", set())
        assert workflow.claim(store, 3, rita, 300).ok
        workflow.correct_plate(store, 3, rita, "浙B54321", "yellow")
        store.set_status(1, "exported", "export", extra={"exported_at": T0 + timedelta(days=1), "export_batch": "batch-1"})
        with store.engine.begin() as conn:
            conn.execute(exports.insert().values(actor="sam", at=T0 + timedelta(days=1), kind="zip",
                                                 file_name="export-1.zip", count=1, sha256="e" * 64))
        audit.append_retrying(store.engine, "sam", "export", after={"exported": [1]})
    finally:
        store.close()


def dump(db: Path, out: Path) -> None:
    con = sqlite3.connect(db)
    out.write_text("\n".join(con.iterdump()) + "\n", encoding="utf-8")
    con.close()


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    with_review(f"sqlite:///{work / 'review.db'}", work)
    dump(work / "review.db", out / "review.sql")
    records_only(sys.argv[2])


if __name__ == "__main__":
    main()
