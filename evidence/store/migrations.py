"""Forward-only schema migrations, tracked in the ``epolice_schema`` table.

Why not Alembic: the embedded default (a SQLite file) must bring itself up to date when a worker
opens it, with no separate tool, scripts folder or env.py; the schema is two tables; and the same
few functions must run on SQLite and PostgreSQL. Each step is a plain function on a connection, run
in one transaction with its version row, under a lock (PostgreSQL advisory lock; SQLite BEGIN
IMMEDIATE), so concurrent openers migrate once. Steps are frozen history: never edit one, add the next.
Moving to Alembic later is a matter of ``alembic stamp`` at the latest version here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evidence.store.schema import BigId, JSONType, UTCDateTime, schema_versions

ADVISORY_LOCK_ID = 0x6570_6F6C  # "epol"


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer epolice than this one."""


def _add_column(conn: Connection, table: str, column: sa.Column) -> None:
    ddl = f"{column.name} {column.type.compile(dialect=conn.dialect)}"
    if column.server_default is not None:
        ddl += f" DEFAULT {column.server_default.arg}"
    if not column.nullable:
        ddl += " NOT NULL"
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {ddl}")


def _v1_records(conn: Connection) -> None:
    md = sa.MetaData()
    t = sa.Table(
        "violation_records",
        md,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_key", sa.String(64), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("code_name", sa.String(200), nullable=False),
        sa.Column("track_id", sa.BigInteger, nullable=False),
        sa.Column("start_time", UTCDateTime, nullable=False),
        sa.Column("end_time", UTCDateTime, nullable=False),
        sa.Column("plate_text", sa.String(32), nullable=True),
        sa.Column("plate_color", sa.String(16), nullable=False),
        sa.Column("plate_agreement", sa.Float, nullable=False),
        sa.Column("vehicle_class", sa.String(32), nullable=False),
        sa.Column("facts", JSONType, nullable=False),
        sa.Column("evidence_path", sa.String(1024), nullable=False),
        sa.Column("evidence_files", JSONType, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("model_versions", JSONType, nullable=False),
        sa.Column("warnings", JSONType, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("event_key", name="uq_violation_records_event_key"),
        sa.CheckConstraint("status IN ('pending_review','approved','rejected','exported')", name="ck_violation_records_status"),
        sa.Index("ix_violation_records_site_id", "site_id"),
        sa.Index("ix_violation_records_camera_id", "camera_id"),
        sa.Index("ix_violation_records_rule", "rule"),
        sa.Index("ix_violation_records_start_time", "start_time"),
        sa.Index("ix_violation_records_plate_text", "plate_text"),
        sa.Index("ix_violation_records_status", "status"),
        sa.Index("ix_violation_records_site_time", "site_id", "start_time"),
    )
    t.create(conn)


def _v2_review(conn: Connection) -> None:
    for col in (
        sa.Column("plate_text_reviewed", sa.String(32), nullable=True),
        sa.Column("plate_color_reviewed", sa.String(16), nullable=True),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_until", UTCDateTime, nullable=True),
        sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("updated_at", UTCDateTime, nullable=True),
        sa.Column("exported_at", UTCDateTime, nullable=True),
        sa.Column("export_batch", sa.String(128), nullable=True),
    ):
        _add_column(conn, "violation_records", col)
    conn.exec_driver_sql("CREATE INDEX ix_violation_records_plate_reviewed ON violation_records (plate_text_reviewed)")
    md = sa.MetaData()
    sa.Table("violation_records", md, sa.Column("id", BigId, primary_key=True))
    sa.Table(
        "review_decisions",
        md,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("record_id", BigId, sa.ForeignKey("violation_records.id", name="fk_review_decisions_record"), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("before", JSONType, nullable=True),
        sa.Column("after", JSONType, nullable=True),
        sa.Index("ix_review_decisions_record_id", "record_id"),
        sa.Index("ix_review_decisions_at", "at"),
    ).create(conn)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "violation records", _v1_records),
    (2, "review room: reviewed plate, claims, row version, export batch, decisions log", _v2_review),
]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(schema_versions.name):
        return 0
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(schema_versions.c.version), 0))).scalar_one())


def migrate(engine: sa.Engine, target: int | None = None) -> int:
    """Bring the database to ``target`` (default: latest); returns the version it ends at."""
    target = LATEST if target is None else target
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_ID})
        schema_versions.create(conn, checkfirst=True)
        version = current_version(conn)
        if version > LATEST:
            raise SchemaTooNew(
                f"record store schema is version {version}, newer than this epolice knows ({LATEST}); upgrade epolice"
            )
        for number, description, step in MIGRATIONS:
            if version < number <= target:
                step(conn)
                conn.execute(schema_versions.insert().values(version=number, description=description, applied_at=datetime.now(timezone.utc)))
                version = number
    return version
