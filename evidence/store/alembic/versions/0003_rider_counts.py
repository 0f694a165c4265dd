"""Rider counts per camera and hour: every judged rider, for the helmet-wearing rate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from evidence.store import schema
from evidence.store.migrations import create_tables

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    create_tables(schema.rider_counts)
