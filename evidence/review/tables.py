"""The reviewer app's own tables, on the same database as the records.

The record store already holds what review changes on a record (status, reviewed plate, claim,
row version) and its decisions log (``review_decisions``); those stay the store's. What only the app
needs lives here, on its own ``MetaData``, every table named ``review_*``, created and upgraded by
``evidence.review.migrations`` with a version table of its own (``review_schema``). Times use the
store's ``UTCDateTime`` so they come back zone-aware on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table, Text

from evidence.store.schema import UTCDateTime

metadata = MetaData()


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


users = Table(
    "review_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),  # the record store's `actor`; users are disabled, never deleted
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "review_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the cookie value: a DB copy gives no sessions
    Column("user_id", Integer, ForeignKey("review_users.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

login_attempts = Table(
    "review_login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_review_login_attempts_at", "at"),
)

reason_codes = Table(
    "review_reason_codes",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("zh", String(64), nullable=False),
    Column("en", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("position", Integer, nullable=False),
)

audit_log = Table(
    "review_audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),  # 1, 2, 3 ...: a gap is tampering
    Column("at", String(40), nullable=False),  # ISO text, hashed exactly as stored
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("record_id", String(64), nullable=True),
    Column("before", Text, nullable=True),  # canonical JSON
    Column("after", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_review_audit_log_record_id", "record_id"),
)

exports = Table(
    "review_exports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(8), nullable=False),  # zip | csv
    Column("file_name", String(128), nullable=False),  # inside ReviewConfig.export_dir; never from a client
    Column("count", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
)

schema_versions = Table(
    "review_schema",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)
