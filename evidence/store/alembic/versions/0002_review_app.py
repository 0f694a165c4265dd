"""The reviewer app's tables: users, sessions, login attempts, reason codes, audit chain, exports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

What the hand-written reviewer-app runner left at its version 1 (``review_schema``); databases it
made are stamped here. Stores only the pipelines had written are stamped at 0001 and get these now.

Users, the audit log and exports are frozen copies of their definitions at this revision (0005
alters them); the other tables are still as schema.py defines them.
"""

import sqlalchemy as sa
from alembic import op

from evidence.store import schema
from evidence.store.migrations import create_tables
from evidence.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"

_frozen = sa.MetaData()
_users = sa.Table(
    "review_users", _frozen,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
_audit_log = sa.Table(
    "review_audit_log", _frozen,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=True),
    sa.Column("before", sa.Text, nullable=True),
    sa.Column("after", sa.Text, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_review_audit_log_record_id", "record_id"),
)
_exports = sa.Table(
    "review_exports", _frozen,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("file_name", sa.String(128), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    _users.create(bind)
    create_tables(schema.sessions, schema.login_attempts, schema.reason_codes)
    _audit_log.create(bind)
    _exports.create(bind)
