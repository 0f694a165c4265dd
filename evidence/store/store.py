"""The violation record store: one class over SQLAlchemy Core, SQLite file or PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url

from evidence.config import StoreConfig, sqlite_file
from evidence.store.errors import StoreConflict, StoreError, StoreMissing
from evidence.store.migrations import WRITE, current_revision, migrate, require_head
from evidence.store.records import TRANSITIONS, AddResult, NewRecord, RecordQuery, ReviewDecision, Status, ViolationRecord
from evidence.store.schema import decisions, filters, now_utc, records, rider_counts


def change_record(
    conn: Connection,
    rec: ViolationRecord,
    values: dict[str, Any],
    *,
    actor: str,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    reason_code: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> None:
    """The one way a record changes: a version-checked update plus its decision-log row, inside the
    caller's transaction (so callers can add their own checks and audit entries atomically).

    The update matches the row as it was read (version, status, claim holder); if anyone changed it
    meanwhile nothing is written and StoreConflict is raised.
    """
    now = now or now_utc()
    done = conn.execute(
        records.update()
        .where(
            records.c.id == rec.id,
            records.c.row_version == rec.row_version,
            records.c.status == rec.status,
            records.c.claimed_by.is_(None) if rec.claimed_by is None else records.c.claimed_by == rec.claimed_by,
        )
        .values(row_version=rec.row_version + 1, updated_at=now, **values)
    ).rowcount
    if done != 1:
        raise StoreConflict(f"record {rec.id} changed meanwhile; reload and retry")
    conn.execute(
        decisions.insert().values(
            record_id=rec.id, actor=actor, at=now, action=action, reason_code=reason_code, note=note, before=before, after=after
        )
    )


class _SqliteEngine(sa.Engine):
    """``begin()`` writes: its transaction takes SQLite's write lock at once (BEGIN IMMEDIATE), so
    writers queue on busy_timeout instead of failing on a lock upgrade. ``connect()`` reads in a
    deferred transaction, which in WAL mode neither blocks a writer nor waits for one: a long read
    (the audit page, a big query) no longer holds every writer up."""

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn


def _engine(url: str, echo: bool) -> sa.Engine:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return sa.create_engine(u, echo=echo, pool_pre_ping=True, future=True)
    engine = sa.create_engine(u, echo=echo, connect_args={"timeout": 30})
    engine.__class__ = _SqliteEngine

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
        # pysqlite's own transaction handling defers BEGIN and commits DDL implicitly; take it over
        # so that writes begin IMMEDIATE and reads deferred (see _SqliteEngine).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine


class RecordStore:
    """Records keyed by event_key. Opening brings every table in the database (records and the
    reviewer app's) to the head revision (``migrate_schema=False``: only check it is there)."""

    def __init__(self, url: str, *, echo: bool = False, migrate_schema: bool = True, must_exist: bool = False) -> None:
        path = sqlite_file(url)
        if path is not None:
            if must_exist and not path.exists():
                raise StoreMissing(f"no record store at {path} (pass --db URL or --site with store.url)")
            path.parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = _engine(url, echo)
        try:
            if migrate_schema:
                migrate(self.engine)
            else:
                require_head(self.engine)
        except Exception:
            self.engine.dispose()
            raise

    @classmethod
    def from_config(cls, cfg: StoreConfig, *, must_exist: bool = False, migrate_schema: bool = True) -> "RecordStore":
        """THE way to open the store (pipelines, CLI, review app): every table up to date on return.
        ``must_exist``: a SQLite file that is not there raises StoreMissing instead of being created."""
        return cls(cfg.url, echo=cfg.echo, must_exist=must_exist, migrate_schema=migrate_schema)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "RecordStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def schema_version(self) -> str | None:
        """The Alembic revision the database is at (``evidence.store.migrations.head_revision()`` once open)."""
        with self.engine.connect() as conn:
            return current_revision(conn)

    # -- writes ---------------------------------------------------------------------------------
    def put_rider_counts(self, site_id: str, camera_id: str, source: str, counts: dict[datetime, tuple[int, int, int]]) -> None:
        """Set one source's rider counts per hour (judged, helmeted, unjudged), replacing what that
        source wrote before: a re-run segment or a live worker's growing totals never count twice."""
        now = now_utc()
        with self.engine.begin() as conn:
            for hour, (judged, helmeted, unjudged) in counts.items():
                key = (rider_counts.c.site_id == site_id, rider_counts.c.camera_id == camera_id,
                       rider_counts.c.hour == hour, rider_counts.c.source == source)
                conn.execute(rider_counts.delete().where(*key))
                conn.execute(rider_counts.insert().values(
                    site_id=site_id, camera_id=camera_id, hour=hour, source=source, judged=int(judged),
                    helmeted=int(helmeted), unjudged=int(unjudged), updated_at=now))

    def add(self, rec: NewRecord, *, same_violation: bool = False) -> AddResult:
        """Insert once per event_key; a duplicate (re-run, redelivery, concurrent writer) returns the existing id.

        ``same_violation`` (the live record writer): also return the existing id when a record of the
        same camera, rule and plate overlaps this one in time. One violation seen by two live workers
        (a split brain during a Redis partition) has two event keys, since those hold each process's
        track id. A record without a plate reading is never merged."""
        values = rec.model_dump(mode="python")
        values["evidence_files"] = [f.model_dump(mode="json") for f in rec.evidence_files]
        values["plate_candidates"] = [c.model_dump(mode="json") for c in rec.plate_candidates]
        values.update(status="pending_review", created_at=now_utc())
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(records)
        stmt = insert.values(**values).on_conflict_do_nothing(index_elements=["event_key"]).returning(records.c.id)
        with self.engine.begin() as conn:
            if same_violation and rec.plate_text:
                twin = self._same_violation(conn, rec)
                if twin is not None:
                    return AddResult(id=twin, created=False)
            new_id = conn.execute(stmt).scalar_one_or_none()
            if new_id is not None:
                return AddResult(id=int(new_id), created=True)
            existing = conn.execute(sa.select(records.c.id).where(records.c.event_key == rec.event_key)).scalar_one()
            return AddResult(id=int(existing), created=False)

    def _same_violation(self, conn: Connection, rec: NewRecord) -> int | None:
        """The oldest stored record of the same camera, rule and plate whose time overlaps ``rec``'s.
        Writers of one plate queue on a lock (PostgreSQL advisory lock; SQLite writes are IMMEDIATE),
        so two of them cannot both find nothing and both insert."""
        if self.dialect == "postgresql":
            digest = hashlib.sha256(f"{rec.camera_id}|{rec.rule}|{rec.plate_text}".encode()).digest()
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest[:8], "big", signed=True)})
        found = conn.execute(
            sa.select(records.c.id)
            .where(records.c.camera_id == rec.camera_id, records.c.rule == rec.rule, records.c.plate_text == rec.plate_text,
                   records.c.start_time <= rec.end_time, records.c.end_time >= rec.start_time)
            .order_by(records.c.id).limit(1)
        ).scalar_one_or_none()
        return None if found is None else int(found)

    def set_status(
        self,
        record_id: int,
        status: Status,
        actor: str,
        *,
        reason_code: str | None = None,
        note: str | None = None,
        expected_version: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ViolationRecord:
        """Move a record along TRANSITIONS and log the decision (who, when, why) in one transaction."""
        now = now_utc()
        with self.engine.begin() as conn:
            row = self._get(conn, record_id)
            if row is None:
                raise StoreError(f"no record {record_id}")
            if status not in TRANSITIONS[row.status]:
                raise StoreError(f"record {record_id} is {row.status}; cannot become {status}")
            if expected_version is not None and row.row_version != expected_version:
                raise StoreError(f"record {record_id} changed meanwhile (version {row.row_version}, expected {expected_version})")
            action = {"approved": "approve", "rejected": "reject", "exported": "export", "pending_review": "reopen"}[status]
            change_record(
                conn, row, {"status": status, **(extra or {})}, actor=actor, action=action, reason_code=reason_code, note=note,
                before={"status": row.status}, after={"status": status, **{k: str(v) for k, v in (extra or {}).items()}}, now=now,
            )
            updated = self._get(conn, record_id)
            assert updated is not None
            return updated

    # -- reads ----------------------------------------------------------------------------------
    @staticmethod
    def _to_record(row: sa.Row) -> ViolationRecord:
        return ViolationRecord.model_validate(dict(row._mapping))

    def _get(self, conn: Connection, record_id: int) -> ViolationRecord | None:
        row = conn.execute(sa.select(records).where(records.c.id == record_id)).first()
        return None if row is None else self._to_record(row)

    def get(self, ref: int | str) -> ViolationRecord | None:
        """By numeric id or by event_key."""
        col = records.c.id if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 18) else records.c.event_key
        value = int(ref) if col is records.c.id else ref
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(records).where(col == value)).first()
        return None if row is None else self._to_record(row)

    @staticmethod
    def record_filters(q: RecordQuery) -> list[sa.ColumnElement[bool]]:
        conds = filters(records, "start_time", q.since, q.until, site_id=q.site_id, camera_id=q.camera_id, rule=q.rule, status=q.status)
        if q.plate is not None:
            conds.append(sa.or_(records.c.plate_text == q.plate, records.c.plate_text_reviewed == q.plate))
        return conds

    def query(self, q: RecordQuery | None = None) -> list[ViolationRecord]:
        """Newest first."""
        q = q or RecordQuery()
        stmt = sa.select(records).where(*self.record_filters(q)).order_by(records.c.start_time.desc(), records.c.id.desc())
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        if q.offset:
            stmt = stmt.offset(q.offset)
        with self.engine.connect() as conn:
            return [self._to_record(r) for r in conn.execute(stmt)]

    def count(self, q: RecordQuery | None = None) -> int:
        q = q or RecordQuery()
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(records).where(*self.record_filters(q))).scalar_one())

    def decisions(self, record_id: int) -> list[ReviewDecision]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(decisions).where(decisions.c.record_id == record_id).order_by(decisions.c.id))
            return [ReviewDecision.model_validate(dict(r._mapping)) for r in rows]
