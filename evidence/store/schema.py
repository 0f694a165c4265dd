"""Every table in the record store's database, as it stands at the head revision (what queries are
written against): the records and their decisions log, and the reviewer app's own ``review_*``
tables (accounts, sessions, reason codes, audit chain, exports), and checkpoint mode's passes,
watchlist, alerts and alert deliveries, all on one ``metadata``.

The Alembic history in ``evidence/store/alembic/versions`` builds exactly this; a test compares the
two (``alembic.autogenerate.compare_metadata``). Change a table here and add a revision there.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

STATUSES = ("pending_review", "approved", "rejected", "exported")


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as UTC. SQLite keeps no zone, so we normalise on the way in and out."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: record times must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # defensive: raw SQLite text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def now_utc() -> datetime:
    """The time to store: aware, in UTC."""
    return datetime.now(timezone.utc)


def filters(table: sa.Table, time_column: str, since: datetime | None, until: datetime | None, **equal: object) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions of a listing: each given column equal to its value (None: any), the time
    column within [since, until)."""
    conds: list[sa.ColumnElement[bool]] = [table.c[name] == value for name, value in equal.items() if value is not None]
    if since is not None:
        conds.append(table.c[time_column] >= since)
    if until is not None:
        conds.append(table.c[time_column] < until)
    return conds


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

metadata = sa.MetaData()

records = sa.Table(
    "violation_records",
    metadata,
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
    # v2: room for human review
    sa.Column("plate_text_reviewed", sa.String(32), nullable=True),
    sa.Column("plate_color_reviewed", sa.String(16), nullable=True),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("claimed_until", UTCDateTime, nullable=True),
    sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.Column("exported_at", UTCDateTime, nullable=True),
    sa.Column("export_batch", sa.String(128), nullable=True),
    # 0003, double reading: how far the machine plate is to be trusted (records written before are
    # "legacy": one reader, never double-checked), and every candidate when the readers disagreed
    sa.Column("plate_status", sa.String(16), nullable=False, server_default="legacy"),
    sa.Column("plate_candidates", JSONType, nullable=True),
    sa.UniqueConstraint("event_key", name="uq_violation_records_event_key"),
    sa.CheckConstraint("status IN ('pending_review','approved','rejected','exported')", name="ck_violation_records_status"),
    sa.CheckConstraint("plate_status IN ('confirmed','unconfirmed','unreadable','legacy')", name="ck_violation_records_plate_status"),
    sa.Index("ix_violation_records_site_id", "site_id"),
    sa.Index("ix_violation_records_camera_id", "camera_id"),
    sa.Index("ix_violation_records_rule", "rule"),
    sa.Index("ix_violation_records_start_time", "start_time"),
    sa.Index("ix_violation_records_plate_text", "plate_text"),
    sa.Index("ix_violation_records_status", "status"),
    sa.Index("ix_violation_records_site_time", "site_id", "start_time"),
    sa.Index("ix_violation_records_plate_reviewed", "plate_text_reviewed"),
)

decisions = sa.Table(
    "review_decisions",
    metadata,
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
)

# 0004: every judged rider, not only violators: the helmet-wearing rate per camera and hour
rider_counts = sa.Table(
    "rider_counts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("hour", UTCDateTime, nullable=False),  # start of the UTC hour
    sa.Column("source", sa.String(200), nullable=False),  # who counted: a batch segment, a live worker run
    sa.Column("judged", sa.Integer, nullable=False),  # riders whose head could be judged
    sa.Column("helmeted", sa.Integer, nullable=False),  # of those, wearing a helmet
    sa.Column("unjudged", sa.Integer, nullable=False),  # riders seen whose head could not be judged
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("site_id", "camera_id", "hour", "source", name="uq_rider_counts_key"),
    sa.Index("ix_rider_counts_hour", "hour"),
)

# -- the reviewer app's tables (evidence.review); what review changes on a record stays above ------

users = sa.Table(
    "review_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),  # the record store's `actor`; users are disabled, never deleted
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # 0005: an account an admin creates in the app waits for a second admin (no one grants themselves a role)
    sa.Column("created_by", sa.String(64), nullable=True),  # NULL: made on the command line (server access)
    sa.Column("approved_by", sa.String(64), nullable=True),
)

sessions = sa.Table(
    "review_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 of the cookie value: a DB copy gives no sessions
    sa.Column("user_id", sa.Integer, sa.ForeignKey("review_users.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

login_attempts = sa.Table(
    "review_login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Index("ix_review_login_attempts_at", "at"),
)

reason_codes = sa.Table(
    "review_reason_codes",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("zh", sa.String(64), nullable=False),
    sa.Column("en", sa.String(64), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
)

audit_log = sa.Table(
    "review_audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),  # 1, 2, 3 ...: a gap is tampering
    sa.Column("at", sa.String(40), nullable=False),  # ISO text, hashed exactly as stored
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=True),
    sa.Column("before", sa.Text, nullable=True),  # canonical JSON
    sa.Column("after", sa.Text, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),  # HMAC-SHA256 under the audit key; plain SHA-256 before v3
    sa.Column("key_id", sa.String(16), nullable=True),  # 0005: the audit key's id; NULL: an entry from before keys
    sa.Index("ix_review_audit_log_record_id", "record_id"),
)

exports = sa.Table(
    "review_exports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # zip | csv
    sa.Column("file_name", sa.String(128), nullable=False),  # inside ReviewConfig.export_dir; never from a client
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("token", sa.String(64), nullable=True),  # 0005: the download's id in URLs: random, never sequential
    sa.Index("ix_review_exports_token", "token", unique=True),
)

# -- checkpoint mode (卡口): every vehicle's pass, the watchlist, alerts and their deliveries ----------

# Passes are the volume table: on PostgreSQL it is partitioned by day (partitions are made as days
# arrive and dropped whole by the purge, see evidence.checkpoint.passes); on SQLite it is one table
# with the same indexes. The key includes the time because a partitioned table's must.
passes = sa.Table(
    "passes",
    metadata,
    sa.Column("pass_key", sa.String(32), primary_key=True),
    sa.Column("pass_time", UTCDateTime, primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("line_id", sa.String(64), nullable=False),
    sa.Column("lane", sa.String(32), nullable=False),
    sa.Column("direction", sa.String(64), nullable=False),
    sa.Column("track_id", sa.BigInteger, nullable=False),
    sa.Column("plate", sa.String(16), nullable=True),  # confirmed text, else the first candidate
    sa.Column("plate_status", sa.String(16), nullable=False),
    sa.Column("plate_color", sa.String(16), nullable=False),
    sa.Column("plate_candidates", JSONType, nullable=True),
    sa.Column("vehicle_class", sa.String(32), nullable=False),
    sa.Column("speed_kmh", sa.Float, nullable=True),
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    sa.Column("panorama", JSONType, nullable=True),  # {path, sha256, width, height}
    sa.Column("vehicle", JSONType, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("plate_status IN ('confirmed','unconfirmed','unreadable')", name="ck_passes_plate_status"),
    sa.Index("ix_passes_plate_time", "plate", "pass_time"),
    sa.Index("ix_passes_time", "pass_time"),
    sa.Index("ix_passes_camera_time", "camera_id", "pass_time"),
    sa.Index("ix_passes_site_time", "site_id", "pass_time"),
    postgresql_partition_by="RANGE (pass_time)",
)

watchlist = sa.Table(
    "watchlist",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plate", sa.String(16), nullable=False),  # a plate, or a pattern with * and ?
    sa.Column("is_pattern", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("valid_from", UTCDateTime, nullable=True),
    sa.Column("valid_until", UTCDateTime, nullable=True),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),  # removed entries stay (alerts point at them), inactive
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.Index("ix_watchlist_plate", "plate"),
    sa.Index("ix_watchlist_active", "active"),
)

alerts = sa.Table(
    "checkpoint_alerts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("alert_key", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("pass_key", sa.String(32), nullable=False),
    sa.Column("pass_time", UTCDateTime, nullable=False),
    sa.Column("other_pass_key", sa.String(32), nullable=True),
    sa.Column("other_pass_time", UTCDateTime, nullable=True),
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("watchlist.id", name="fk_checkpoint_alerts_entry"), nullable=True),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("plate", sa.String(16), nullable=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("match", sa.String(16), nullable=False),
    sa.Column("matched_text", sa.String(16), nullable=True),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("details", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.Column("updated_by", sa.String(64), nullable=True),
    sa.Column("row_version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("alert_key", name="uq_checkpoint_alerts_key"),
    sa.CheckConstraint("state IN ('open','acknowledged','dispatched','closed')", name="ck_checkpoint_alerts_state"),
    sa.Index("ix_checkpoint_alerts_state_time", "state", "created_at"),
    sa.Index("ix_checkpoint_alerts_plate", "plate"),
)

deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("alert_id", BigId, sa.ForeignKey("checkpoint_alerts.id", name="fk_alert_deliveries_alert"), nullable=False),
    sa.Column("target", sa.String(64), nullable=False),  # a webhook's name, or "redis"
    sa.Column("state", sa.String(16), nullable=False),  # pending | delivered | dead (the dead letters)
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_at", UTCDateTime, nullable=False),
    sa.Column("claimed_until", UTCDateTime, nullable=True),  # a dispatcher is sending it (several may run)
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("alert_id", "target", name="uq_alert_deliveries_alert_target"),
    sa.CheckConstraint("state IN ('pending','delivered','dead')", name="ck_alert_deliveries_state"),
    sa.Index("ix_alert_deliveries_due", "state", "next_at"),
)
