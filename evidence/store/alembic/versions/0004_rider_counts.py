"""Rider counts per camera and hour: every judged rider, for the helmet-wearing rate.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from evidence.store import schema
from evidence.store.migrations import create_tables

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    create_tables(schema.rider_counts)
