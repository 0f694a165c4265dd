"""Second admin for role grants, a keyed audit chain, unguessable export ids.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

- ``review_users.created_by`` / ``approved_by``: an account an admin makes in the app stays
  inactive until another admin approves it. Existing accounts (NULL) count as approved.
- ``review_audit_log.key_id``: entries are HMACs under a key kept outside the database; the
  entries already there stay plain SHA-256 (NULL key id) and verify as before.
- ``review_exports.token``: downloads are addressed by a random token; existing exports get one.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("review_users") as b:
        b.add_column(sa.Column("created_by", sa.String(64), nullable=True))
        b.add_column(sa.Column("approved_by", sa.String(64), nullable=True))
    with op.batch_alter_table("review_audit_log") as b:
        b.add_column(sa.Column("key_id", sa.String(16), nullable=True))
    with op.batch_alter_table("review_exports") as b:
        b.add_column(sa.Column("token", sa.String(64), nullable=True))
    bind = op.get_bind()
    for (export_id,) in bind.execute(sa.text("SELECT id FROM review_exports")).all():
        bind.execute(sa.text("UPDATE review_exports SET token = :t WHERE id = :i"), {"t": secrets.token_urlsafe(24), "i": export_id})
    op.create_index("ix_review_exports_token", "review_exports", ["token"], unique=True)
