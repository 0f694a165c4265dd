"""The violation records and their review decisions log.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

What the hand-written record-store runner left at its version 2 (``epolice_schema``); databases it
made are stamped here.
"""

from evidence.store import schema
from evidence.store.migrations import create_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_tables(schema.records, schema.decisions)
