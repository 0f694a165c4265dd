"""The violation records and their review decisions log.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

What the hand-written record-store runner left at its version 2 (``epolice_schema``); databases it
made are stamped here. ``violation_records`` is a frozen copy of its definition then (0003 altered
it); ``review_decisions`` is unchanged since, so schema.py still defines it.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from evidence.store import schema
from evidence.store.migrations import create_tables
from evidence.store.schema import UTCDateTime

revision = "0001"
down_revision = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "violation_records",
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
        sa.UniqueConstraint("event_key", name="uq_violation_records_event_key"),
        sa.CheckConstraint("status IN ('pending_review','approved','rejected','exported')", name="ck_violation_records_status"),
        sa.Index("ix_violation_records_site_id", "site_id"),
        sa.Index("ix_violation_records_camera_id", "camera_id"),
        sa.Index("ix_violation_records_rule", "rule"),
        sa.Index("ix_violation_records_start_time", "start_time"),
        sa.Index("ix_violation_records_plate_text", "plate_text"),
        sa.Index("ix_violation_records_status", "status"),
        sa.Index("ix_violation_records_site_time", "site_id", "start_time"),
        sa.Index("ix_violation_records_plate_reviewed", "plate_text_reviewed"),
    )
    create_tables(schema.decisions)
