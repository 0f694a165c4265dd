"""Double reading: the plate's status and candidates on each record.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Records written before are given ``plate_status`` from what they hold: a machine plate text is
``legacy`` (one reader, never double-checked: a reviewer must settle it before export, like an
``unconfirmed`` plate), no text is ``unreadable``. Their ``plate_candidates`` stay NULL (read as
none); the review page offers a legacy plate text as the one candidate to pick.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("violation_records") as batch:
        batch.add_column(sa.Column("plate_status", sa.String(16), nullable=False, server_default="legacy"))
        batch.add_column(sa.Column("plate_candidates", JSONType, nullable=True))
        batch.create_check_constraint("ck_violation_records_plate_status",
                                      "plate_status IN ('confirmed','unconfirmed','unreadable','legacy')")
    op.execute("UPDATE violation_records SET plate_status = 'unreadable' WHERE plate_text IS NULL")
