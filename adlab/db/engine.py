"""Engines for SQLite (WAL, busy timeout) and PostgreSQL, migrated to head on open.

SQLite notes: the driver's own transaction handling is switched off and adlab emits ``BEGIN``
itself. Transactions default to ``BEGIN IMMEDIATE`` (take the write lock first, waiting on the
busy timeout): a deferred transaction that reads and then writes fails at once with
"database is locked" when another process wrote in between, and the busy timeout cannot help.
Read-only paths use :func:`reader`, whose transactions are deferred and never block writers.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

from adlab.db.schema_scripts import scanned_head
from adlab.errors import AdlabError, DatabaseError

SQLITE_BUSY_TIMEOUT_MS = 60_000
_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # adlab emits BEGIN itself (see module doc)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        deferred = conn.get_execution_options().get("sqlite_deferred", False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` (no migration). Prefer :func:`get_engine`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            parent = Path(parsed.database).parent
            if not parent.exists():
                raise AdlabError(
                    f"database folder {parent} does not exist; create it or point --db/ADLAB_DB "
                    "at a path in an existing folder"
                )
        if parsed.database and parsed.database != ":memory:":
            engine = create_engine(url, creator=_existing_file_connector(parsed.database))
        else:
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                      "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise AdlabError(
        f"unsupported database URL {url!r}; use a file path (SQLite) or "
        "postgresql+psycopg://user:pass@host/dbname"
    )


def _existing_file_connector(path: str) -> Any:
    """Connections that open the database file only if it exists (SQLite ``mode=rw``).

    The file is created once, when the engine is made; after that a deleted ``lab.db`` makes
    every new connection fail instead of silently creating a new, empty lab at the same path
    (a live worker would otherwise go on writing into a database nobody reads)."""
    if not Path(path).exists():
        sqlite3.connect(path).close()
    uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}?mode=rw"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)

    return connect


def sqlite_path(engine: Engine) -> Path | None:
    """The database file of an SQLite engine (None for PostgreSQL or in-memory SQLite)."""
    database = engine.url.database if is_sqlite(engine) else None
    return Path(database).resolve() if database and database != ":memory:" else None


def database_identity(engine: Engine) -> tuple[Any, ...]:
    """What makes this database this one: the SQLite file's (device, inode); PostgreSQL's
    database oid (a dropped and re-created database has a new one). Raises
    :class:`DatabaseError` when the database is gone."""
    path = sqlite_path(engine)
    if path is not None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DatabaseError(f"database {path} was deleted; restore the file or point "
                                "--db/ADLAB_DB at the lab's database") from None
        return ("sqlite", st.st_dev, st.st_ino)
    if is_sqlite(engine):
        return ("sqlite", ":memory:")
    with reader(engine).connect() as conn:
        oid = conn.execute(text(
            "SELECT oid FROM pg_database WHERE datname = current_database()")).scalar()
    return ("postgresql", int(oid))


def check_identity(engine: Engine, expected: tuple[Any, ...]) -> None:
    """Raise :class:`DatabaseError` if the database was deleted or replaced since ``expected``
    was taken (a worker must stop rather than write into another lab)."""
    now = database_identity(engine)
    if now != expected:
        where = sqlite_path(engine) or engine.url.render_as_string(hide_password=True)
        raise DatabaseError(f"database {where} was replaced by another file or database while "
                            "this process used it; restore the original or restart the worker "
                            "against the new one")


def get_engine(url: str, *, migrate: bool = True) -> Engine:
    """The process-wide engine for ``url``, created once and upgraded to the newest schema."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = make_engine(url)
            # A database at the scripts' head opens without importing Alembic (~0.1 s per
            # command); anything else, or scripts the text read is unsure of, asks Alembic.
            head = scanned_head() if migrate else None
            if migrate and (head is None or _stored_revision(engine) != head):
                from adlab.db.migrate import ensure_head

                ensure_head(engine)
            _ENGINES[url] = engine
        return engine


def forget_inherited_connections() -> None:
    """In a forked child: drop the parent's pooled connections without closing them (closing
    would close the parent's sockets/files too); the child then opens its own."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose(close=False)


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: SQLite transactions are deferred (WAL readers never
    wait for writers). Never write through it."""
    return engine.execution_options(sqlite_deferred=True) if is_sqlite(engine) else engine


def _stored_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, without Alembic (None if never migrated)."""
    from sqlalchemy.exc import DBAPIError

    try:
        with reader(engine).connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def dispose_all() -> None:
    """Close pooled connections (before fork, and in tests)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
