"""Schema migrations: one Alembic history for every table in the store's database, run in code
whenever a ``RecordStore`` opens (the embedded SQLite default brings itself up to date; no tool).

The scripts live in the package (``evidence/store/alembic``: ``env.py``, ``versions/``). Opening a
store runs, in one transaction under a lock (PostgreSQL advisory lock; SQLite ``BEGIN IMMEDIATE``
from the store's engine), so concurrent openers migrate once:

1. adopt a pre-Alembic database: the hand-written runners kept their versions in ``epolice_schema``
   (records) and ``review_schema`` (reviewer app); the pair is stamped at the matching revision
   (``LEGACY_REVISIONS``) and those tables are dropped;
2. refuse a database stamped by a newer epolice (``SchemaTooNew``);
3. ``alembic upgrade head``.

Adding a revision (a table, a column, an index, a PostgreSQL partition scheme):

1. change the tables in ``evidence/store/schema.py`` (what queries are written against);
2. from the repository root (``[tool.alembic]`` in pyproject.toml points at the scripts)::

       python -c "from evidence.store import RecordStore; RecordStore('sqlite:///scratch.db')"  # at the old head
       python -m alembic -x url=sqlite:///scratch.db revision --autogenerate --rev-id 0003 -m "pass records"

   (the next number as ``--rev-id``; without ``--autogenerate`` and ``-x`` you get an empty one);
3. check and finish ``upgrade()``. A new table: ``create_tables(schema.passes)`` (below: schema.py
   stays its one definition until a later revision alters it). Anything else: ``op.*`` calls with
   frozen values (a revision is history: it must do what it did then). SQLite runs in batch mode
   (``render_as_batch``: ``op.batch_alter_table`` rebuilds a table where SQLite cannot ALTER, with
   foreign keys off for the run and checked before commit); dialect-only DDL (a day-partitioned
   table on PostgreSQL) branches on ``op.get_bind().dialect.name``;
4. tests/evidence/store/test_migrations.py opens stores on SQLite and PostgreSQL, new and from old
   fixtures, and compares the migrated schema with schema.py.

History is forward-only: never edit a released revision, add the next one.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from evidence.store.errors import SchemaTooNew, StoreError

SCRIPTS = Path(__file__).with_name("alembic")
ADVISORY_LOCK_ID = 0x6570_6F6C  # "epol"
# (epolice_schema, review_schema) versions the hand-written runners left -> the revision that built the same.
LEGACY_REVISIONS = {(2, 0): "0001", (2, 1): "0002"}
LEGACY_TABLES = ("epolice_schema", "review_schema")
WRITE = "epolice_write"  # execution option: this connection's transaction writes (SQLite: BEGIN IMMEDIATE)


def alembic_config(connection: Connection | None = None) -> Config:
    """The packaged scripts; ``connection`` (already in a transaction) is the one env.py migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None, f"no revisions in {SCRIPTS}"
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is stamped at (None: not stamped, e.g. empty or pre-Alembic)."""
    return MigrationContext.configure(conn).get_current_revision()


def _legacy_version(conn: Connection, table: str) -> int:
    if not sa.inspect(conn).has_table(table):
        return 0
    return int(conn.execute(sa.text(f"SELECT COALESCE(MAX(version), 0) FROM {table}")).scalar_one())


def _adopt_legacy(conn: Connection) -> None:
    """Stamp a database the hand-written runners made at the revision that matches it."""
    if current_revision(conn) is not None or not sa.inspect(conn).has_table(LEGACY_TABLES[0]):
        return
    versions = tuple(_legacy_version(conn, t) for t in LEGACY_TABLES)
    if versions[0] > 2 or versions[1] > 1:
        raise SchemaTooNew(f"record store schema is version {versions[0]} (review {versions[1]}), newer than this "
                           "epolice knows; upgrade epolice")
    revision = LEGACY_REVISIONS.get(versions)  # type: ignore[call-overload]
    if revision is None:
        raise StoreError(f"record store schema is version {versions[0]} (review {versions[1]}), from before any "
                         "release; no migration path (export its records and start a new store)")
    command.stamp(alembic_config(conn), revision)
    for table in LEGACY_TABLES:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))


def _check_known(conn: Connection) -> str | None:
    current = current_revision(conn)
    if current is not None and current not in {s.revision for s in _scripts().walk_revisions()}:
        raise SchemaTooNew(f"record store schema is at revision {current}, newer than this epolice knows "
                           f"(head {head_revision()}); upgrade epolice")
    return current


def _sqlite_foreign_keys(conn: Connection, on: bool) -> None:
    # On the DBAPI connection, outside any transaction: the only place SQLite lets this pragma change.
    conn.connection.driver_connection.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")  # type: ignore[union-attr]


def migrate(engine: sa.Engine) -> str:
    """Bring every table to the head revision; returns it.

    On SQLite, foreign keys are off while revisions run (batch mode rebuilds a table by dropping it,
    which a referencing table would refuse) and checked before the transaction commits."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(conn, False)
            conn.execution_options(**{WRITE: True})  # BEGIN IMMEDIATE: concurrent openers queue (store._SqliteEngine)
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_ID})
                _adopt_legacy(conn)
                if _check_known(conn) != head_revision():
                    command.upgrade(alembic_config(conn), "head")
                if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise StoreError(f"migration left rows without their referenced row: {broken[:5]}")
        finally:
            if sqlite:
                _sqlite_foreign_keys(conn, True)
    return head_revision()


def require_head(engine: sa.Engine) -> None:
    """For openers that must not migrate: the database is at the head revision or this raises."""
    with engine.connect() as conn:
        current = _check_known(conn)
    if current != head_revision():
        raise StoreError(f"record store schema is at revision {current}, this epolice expects {head_revision()}")


def create_tables(*tables: sa.Table) -> None:
    """In a revision: create ``tables`` (with their indexes) as schema.py defines them now.

    Right while a table is unchanged since the revision that created it, so schema.py stays the one
    definition. Before a later revision alters such a table, replace this call in the creating
    revision with a frozen ``op.create_table`` copy of its definition then: otherwise that
    revision would build the altered table and the altering one fail, which the tests catch (they
    build new stores and upgrade the old fixtures)."""
    bind = op.get_bind()
    for table in tables:
        table.create(bind)
