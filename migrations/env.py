"""Alembic environment: the URL comes from adlab's settings (or a connection handed in by adlab).

``adlab db upgrade`` and the automatic upgrade on open pass their connection through
``config.attributes["connection"]``; the ``alembic`` command line falls back to
``--db``-equivalent settings (``ADLAB_DB`` or ./lab.db).
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from adlab.db import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from adlab.settings import database_url
from sqlmodel import SQLModel

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config({"sqlalchemy.url": database_url()}, prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
