"""Alembic's environment for the record store (see ``evidence.store.migrations``).

In code, ``evidence.store.migrations`` hands over a connection already in a transaction (and under
its lock). From the ``alembic`` command line (writing a revision), pass the database with
``-x url=...``. SQLite runs in batch mode, so ALTERs it cannot do become table rebuilds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from evidence.store.schema import metadata


def run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def url() -> str:
    given = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not given:
        raise SystemExit("pass the database: alembic -x url=sqlite:///scratch.db ...")
    return given


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: revisions create tables on a live connection")
if (conn := context.config.attributes.get("connection")) is not None:
    run(conn)
else:
    with sa.create_engine(url()).begin() as conn:
        run(conn)
