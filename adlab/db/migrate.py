"""Schema migrations through Alembic: upgrade on open, explicit upgrade, drift check.

Upgrades are serialised across processes: SQLite takes its write lock (BEGIN IMMEDIATE) and
PostgreSQL an advisory lock, then the revision is re-read, so several workers opening a fresh
database at once run the migrations exactly once. The scripts are found as the package
``adlab._migrations`` (:mod:`adlab.db.schema_scripts`), so a wheel install migrates like a checkout.
"""
from __future__ import annotations

import functools
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from adlab.db.engine import is_sqlite, reader
from adlab.db.schema_scripts import MIGRATIONS_PACKAGE, migrations_dir
from adlab.errors import AdlabError, DatabaseError

_PG_LOCK_KEY = 0x61646C6162  # "adlab"


def alembic_config() -> Config:
    """adlab's Alembic configuration (the same scripts the ``alembic`` command line uses)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest schema revision, as Alembic reads it from the scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise AdlabError(f"no migration scripts in {migrations_dir()} ({MIGRATIONS_PACKAGE}); "
                         "reinstall adlab")
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade_locked(conn: Connection, target: str) -> None:
    if not is_sqlite(conn.engine):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    if current_revision(conn) == head_revision() and target == "head":
        return
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, target)


def upgrade(engine: Engine, target: str = "head") -> str | None:
    """Upgrade to ``target``; returns the revision afterwards."""
    with reader(engine).connect() as conn:
        current = current_revision(conn)
    if current is not None:
        refuse_unknown(engine, current)
    with engine.begin() as conn:
        _upgrade_locked(conn, target)
    with engine.connect() as conn:
        return current_revision(conn)


def ensure_head(engine: Engine) -> None:
    """Cheap check on open; upgrade only when the database is behind. A revision these scripts
    do not know was written by a newer adlab: refused (Alembic would fail with a traceback)."""
    with reader(engine).connect() as conn:
        current = current_revision(conn)
    if current != head_revision():
        if current is not None:
            refuse_unknown(engine, current)
        upgrade(engine)


def known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def refuse_unknown(engine: Engine, revision: str) -> None:
    """Raise :class:`DatabaseError` when ``revision`` is not one of adlab's scripts."""
    if revision in known_revisions():
        return
    from adlab.db.failures import where

    version = _adlab_version()
    raise DatabaseError(
        f"{where(engine.url.render_as_string(hide_password=False))} has schema revision "
        f"{revision!r}, which this adlab{version} does not know (its newest is "
        f"{head_revision()!r}): a newer adlab wrote it; upgrade adlab (pip install -U adlab) "
        "to use this lab")


def _adlab_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f" {version('adlab')}"
    except PackageNotFoundError:
        return ""


def schema_drift(engine: Engine) -> list:
    """Differences between the SQLModel tables and the migrated database (empty = in sync).

    SQLAlchemy cannot reflect SQLite's expression indexes (``uq_metrics_point``), so Alembic
    skips them there with a warning; they are compared here by their ``CREATE INDEX`` text."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from sqlmodel import SQLModel

    from adlab.db import models  # noqa: F401

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*expression-based index")
            diffs = list(compare_metadata(ctx, SQLModel.metadata))
        if is_sqlite(engine):
            diffs += _sqlite_expression_index_drift(conn, SQLModel.metadata)
        return diffs


def _sqlite_expression_index_drift(conn: Connection, metadata: Any) -> list:
    from sqlalchemy import Column
    from sqlalchemy.schema import CreateIndex

    def norm(sql: str | None) -> str:
        return "".join((sql or "").lower().replace('"', "").replace("`", "").split())

    stored = dict(conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").all())
    diffs: list = []
    for table in metadata.tables.values():
        for index in table.indexes:
            if all(isinstance(e, Column) for e in index.expressions):
                continue  # Alembic compares these
            want = str(CreateIndex(index).compile(dialect=conn.dialect))
            if index.name not in stored:
                diffs.append(("add_index", index))
            elif norm(stored[index.name]) != norm(want):
                diffs.append(("modify_index", index.name, stored[index.name], want))
    return diffs
