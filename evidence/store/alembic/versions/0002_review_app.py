"""The reviewer app's tables: users, sessions, login attempts, reason codes, audit chain, exports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

What the hand-written reviewer-app runner left at its version 1 (``review_schema``); databases it
made are stamped here. Stores only the pipelines had written are stamped at 0001 and get these now.
"""

from evidence.store import schema
from evidence.store.migrations import create_tables

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    create_tables(schema.users, schema.sessions, schema.login_attempts, schema.reason_codes, schema.audit_log, schema.exports)
