"""Engines for SQLite (WAL, busy timeout) and PostgreSQL, migrated to head on open.

SQLite notes: the driver's own transaction handling is switched off and adlab emits ``BEGIN``
itself. Transactions default to ``BEGIN IMMEDIATE`` (take the write lock first, waiting on the
busy timeout): a deferred transaction that reads and then writes fails at once with
"database is locked" when another process wrote in between, and the busy timeout cannot help.
Read-only paths use :func:`reader`, whose transactions are deferred and never block writers.
A file this user cannot write is opened read-only (``mode=ro``), so a lab on a read-only share
can still be listed, compared and reported. Opening checks the database before touching it
(:func:`get_engine`): every failure is one sentence naming it (:mod:`adlab.db.failures`).
"""
from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import create_engine

from adlab.db.schema_scripts import scanned_head
from adlab.db.failures import FIX_URL, describe, first_line, where
from adlab.errors import AdlabError, DatabaseError
from adlab.settings import SQLITE_BUSY_TIMEOUT_ENV, sqlite_busy_timeout_seconds

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_busy_timeout_ms() -> int:
    """The SQLite busy timeout new engines use (``ADLAB_SQLITE_BUSY_TIMEOUT_S``, default 60 s)."""
    try:
        return int(sqlite_busy_timeout_seconds() * 1000)
    except ValueError:
        raise AdlabError(f"{SQLITE_BUSY_TIMEOUT_ENV}={os.environ.get(SQLITE_BUSY_TIMEOUT_ENV)!r} "
                         "is not a number of seconds >= 0; set it to e.g. 60, or unset it") from None


def _configure_sqlite(engine: Engine, busy_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # adlab emits BEGIN itself (see module doc)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        deferred = conn.get_execution_options().get("sqlite_deferred", False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` (no migration). Prefer :func:`get_engine`.

    An SQLite file this user cannot write (or one in a folder it cannot write) is opened
    read-only, so a lab on a read-only share can still be listed and compared."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise AdlabError(f"database URL {url!r} is not a valid URL ({exc}); use a file path "
                         "(SQLite) or postgresql+psycopg://user:pass@host:port/dbname") from None
    if parsed.get_backend_name() == "sqlite":
        busy_ms = sqlite_busy_timeout_ms()
        if parsed.database and parsed.database != ":memory:":
            engine = create_engine(url, creator=_file_connector(Path(parsed.database), busy_ms))
        else:
            engine = create_engine(url, connect_args={"timeout": busy_ms / 1000,
                                                      "check_same_thread": False})
        _configure_sqlite(engine, busy_ms)
        return _name_failures(engine, url)
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        # SQLAlchemy's default driver is psycopg2, and it does not know postgres:// (libpq does)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return _name_failures(create_engine(parsed, pool_pre_ping=True), url)
    raise AdlabError(
        f"unsupported database URL {url!r}; use a file path (SQLite) or "
        "postgresql+psycopg://user:pass@host/dbname"
    )


def _name_failures(engine: Engine, url: str) -> Engine:
    """Tag every error from ``engine`` with its URL (``exc.adlab_url``): the CLI, which turns a
    late driver error into one sentence (:func:`database_error`), can then name the database
    even when a command uses two (``adlab db copy``)."""
    @event.listens_for(engine, "handle_error")
    def _tag(context):  # type: ignore[no-untyped-def]
        context.sqlalchemy_exception.adlab_url = url

    return engine


def _writable(path: Path) -> bool:
    """Whether this process may change the SQLite file at ``path``: the file and its folder
    (WAL mode keeps ``-wal``/``-shm`` files beside it)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _file_connector(path: Path, busy_ms: int) -> Any:
    """Connections that open the database file only if it exists (SQLite ``mode=rw``).

    The file is created once, when the engine is made; after that a deleted ``lab.db`` makes
    every new connection fail instead of silently creating a new, empty lab at the same path
    (a live worker would otherwise go on writing into a database nobody reads).

    A file this user cannot write opens with ``mode=ro``; in a read-only folder with no
    ``-wal`` file beside it (no writer is active: every writer keeps one) also ``immutable=1``,
    since SQLite cannot create the ``-shm`` file a WAL reader otherwise needs."""
    path = path.resolve()
    if path.is_dir():
        raise DatabaseError(f"database path {path} is a directory; give a file path, "
                            f"e.g. --db {path / 'lab.db'}")
    if not path.parent.is_dir():
        raise DatabaseError(f"database folder {path.parent} does not exist; create it or point "
                            "--db/ADLAB_DB at a path in an existing folder")
    if not path.exists():
        if not os.access(path.parent, os.W_OK):
            raise DatabaseError(f"cannot create database {path}: its folder is not writable; "
                                "make the folder writable or point --db/ADLAB_DB at a path "
                                "in a writable folder")
        sqlite3.connect(path).close()
    mode = "rw"
    if not _writable(path):
        wal = path.with_name(path.name + "-wal")
        mode = "ro" if os.access(path.parent, os.W_OK) or wal.exists() else "ro&immutable=1"
    uri = f"file:{urllib.parse.quote(str(path))}?mode={mode}"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=busy_ms / 1000,
                               check_same_thread=False)

    connect.read_only = mode != "rw"  # type: ignore[attr-defined]
    return connect


def is_read_only(engine: Engine) -> bool:
    """Whether ``engine`` opened its SQLite file read-only (see :func:`_file_connector`)."""
    return bool(getattr(engine.pool._creator, "read_only", False))  # type: ignore[attr-defined]


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
                            "this process used it; restore the original, or restart the command "
                            "(the worker, the monitor) against the new one")


class DatabaseWatch:
    """The guard of a long-lived reader (``adlab tui``): every read first checks that the
    database is still the one the first read saw, and a driver failure comes out as one
    sentence (:class:`DatabaseError`) instead of SQLAlchemy's multi-line text.

    Without the check a deleted SQLite file goes on answering from the copy the open
    connections hold (the monitor shows a lab that no longer exists), and a file put in its
    place is another lab shown as this one. Reads retried after a failure recover by
    themselves when the database comes back (a restarted PostgreSQL server)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)
        self.identity: tuple[Any, ...] | None = None

    @contextmanager
    def reads(self) -> Iterator[None]:
        try:
            if self.identity is None:
                self.identity = database_identity(self.engine)
            else:
                check_identity(self.engine, self.identity)
            yield
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise database_error(exc, self.url) from None


def get_engine(url: str, *, migrate: bool = True) -> Engine:
    """The process-wide engine for ``url``, created once and upgraded to the newest schema.

    Raises :class:`DatabaseError` (one sentence naming the database and the fix) when the
    database cannot be used: unreachable, not a database, damaged, of another application or
    of a newer adlab, or read-only and in need of an upgrade."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            try:
                engine = make_engine(url)
            except sqlite3.Error as exc:  # creating the file
                raise database_error(exc, url) from None
            try:
                _open(engine, migrate=migrate)
            except (SQLAlchemyError, sqlite3.Error) as exc:
                engine.dispose()
                raise database_error(exc, url) from None
            except BaseException:
                engine.dispose()
                raise
            _ENGINES[url] = engine
        return engine


def database_error(exc: BaseException, url: str) -> DatabaseError:
    """``exc`` from the database at ``url`` as one sentence (the driver's first line when it is
    not a failure :func:`adlab.db.failures.describe` knows)."""
    return describe(exc, url) or DatabaseError(
        f"{where(url)} failed ({first_line(exc)}); check it, or {FIX_URL}")


def _open(engine: Engine, *, migrate: bool) -> None:
    """Read the stored revision (which proves the database answers) and upgrade if asked.

    A database at the scripts' head opens without importing Alembic (~0.1 s per command);
    anything else, or scripts the text read is unsure of, asks Alembic."""
    stored = _stored_revision(engine)
    if is_sqlite(engine) and not is_read_only(engine) and sqlite_path(engine) is not None:
        _use_wal(engine)
    if not migrate:
        return
    head = scanned_head()
    if head is not None and stored == head:
        return
    if is_read_only(engine):
        from adlab.db.migrate import head_revision

        if stored == head_revision():
            return
        have = f"schema revision {stored}" if stored else "no adlab schema"
        raise DatabaseError(f"database {sqlite_path(engine)} is read-only for this user and has {have} "
                            f"(this adlab needs {head_revision()}); open it once with write "
                            "access (`adlab db upgrade`) to upgrade it, or use the adlab "
                            "version that wrote it")
    from adlab.db.migrate import ensure_head

    ensure_head(engine)


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


def _use_wal(engine: Engine) -> None:
    """Put the lab in WAL mode (persistent: once per file, then a no-op). Done after
    :func:`_stored_revision` has made sure the file is a lab or empty, so that another
    application's database is not changed; outside a transaction, where SQLite allows it."""
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute("PRAGMA journal_mode=WAL")


def _stored_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, without Alembic (None if never migrated).

    Raises :class:`DatabaseError` for a database that holds tables but no adlab schema (another
    application's): adlab must not add its tables to it."""
    with reader(engine).connect() as conn:
        if is_sqlite(engine):
            tables = [t for (t,) in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        else:
            tables = [t for (t,) in conn.execute(text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY table_name"))]
        if "alembic_version" in tables:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if tables:
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        raise DatabaseError(f"{where(engine.url.render_as_string(hide_password=False))} holds "
                            f"tables of another application ({shown}) and no adlab schema; "
                            f"{FIX_URL}, or give a new file name to start a lab")
    return None


def dispose_all() -> None:
    """Close pooled connections (before fork, and in tests)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
