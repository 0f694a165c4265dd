"""Forward-only migrations for the reviewer app's tables, versioned in ``review_schema``.

The same approach as the record store's (``evidence.store.migrations``): plain functions on a
connection, each in one transaction with its version row, under a lock (a PostgreSQL advisory lock
of our own; SQLite's BEGIN IMMEDIATE from the store's engine). A separate version table keeps the
two sets independent: the store can add its steps without knowing the app exists. Steps are frozen
history: never edit one, add the next.
"""

from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evidence.review import tables as t
from evidence.store.migrations import SchemaTooNew

ADVISORY_LOCK_ID = 0x6570_7276  # "eprv"


def _v1_accounts_audit(conn: Connection) -> None:
    # v1 is the tables as tables.py first defined them. Before changing a table there, copy its
    # current definition in here, then add the change as a new step (ALTER), as the store does.
    md = sa.MetaData()
    for table in (t.users, t.sessions, t.login_attempts, t.reason_codes, t.audit_log, t.exports):
        table.to_metadata(md).create(conn)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "review app: users, sessions, login attempts, reason codes, audit chain, exports", _v1_accounts_audit),
]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(t.schema_versions.name):
        return 0
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.schema_versions.c.version), 0))).scalar_one())


def migrate(engine: sa.Engine) -> int:
    """Bring the app's tables to the latest version; returns it. Run after the store's migrate()."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_ID})
        t.schema_versions.create(conn, checkfirst=True)
        version = current_version(conn)
        if version > LATEST:
            raise SchemaTooNew(f"review schema is version {version}, newer than this epolice knows ({LATEST}); upgrade epolice")
        for number, description, step in MIGRATIONS:
            if version < number:
                step(conn)
                conn.execute(t.schema_versions.insert().values(version=number, description=description, applied_at=t.now_utc()))
                version = number
    return version
