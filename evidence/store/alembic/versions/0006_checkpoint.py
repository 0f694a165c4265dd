"""Checkpoint mode (卡口): passes (day-partitioned on PostgreSQL), watchlist, alerts, alert deliveries.

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10

New tables only, built from schema.py (``create_tables``). On PostgreSQL ``passes`` is declared
``PARTITION BY RANGE (pass_time)``; its day partitions are created when passes of a day first
arrive and dropped by the retention purge (``evidence.checkpoint.passes``), not here.
"""

from evidence.store import schema
from evidence.store.migrations import create_tables

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    create_tables(schema.passes, schema.watchlist, schema.alerts, schema.deliveries)
