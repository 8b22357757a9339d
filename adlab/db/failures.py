"""Driver failures as one sentence naming the database and the fix.

SQLite and PostgreSQL report a lab that cannot be used in their own words: several lines, a
SQLAlchemy "background" link, sometimes every bound parameter of the statement. A user needs
which database it is and what to do, so :func:`describe` maps the failures that mean "this
database cannot be used" to a :class:`DatabaseError`; anything else (a constraint a caller
handles, a lock a caller retries) is left alone (None).
"""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from adlab.errors import DatabaseError

FIX_URL = "point --db/ADLAB_DB at the lab's database"

# SQLite primary result codes (https://sqlite.org/rescode.html).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_READONLY, _SQLITE_IOERR = 3, 5, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26
_SQLITE_READONLY_DBMOVED = 1032


def first_line(exc: BaseException) -> str:
    """The driver's own words, one line, without SQLAlchemy's parameter dump or link."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    line = text[0].strip() if text else type(orig).__name__
    line = re.sub(r"^connection failed:\s*", "", line)
    return line[:300]


def where(url: str) -> str:
    """How a message names the database: the SQLite file, or PostgreSQL's database, host,
    port and user (never the password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"database {sqlite_file(url)}"
    host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    user = f" as user {parsed.username!r}" if parsed.username else ""
    return f"PostgreSQL database {parsed.database!r} at {host}{user}"


def sqlite_file(url: str) -> Path | str:
    database = make_url(url).database
    return Path(database).resolve() if database and database != ":memory:" else ":memory:"


def describe(exc: BaseException, url: str) -> DatabaseError | None:
    """A :class:`DatabaseError` saying why the database at ``url`` cannot be used, or None when
    ``exc`` is not such a failure."""
    orig = getattr(exc, "orig", None) or exc
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite(orig, url) if isinstance(orig, sqlite3.Error) else None
    if type(orig).__module__.split(".")[0] == "psycopg":
        return _postgres(orig, url)
    return None


def _sqlite(orig: sqlite3.Error, url: str) -> DatabaseError | None:
    code = getattr(orig, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    path = sqlite_file(url)
    said = first_line(orig)
    if code == _SQLITE_READONLY_DBMOVED:
        return DatabaseError(f"database {path} was deleted or moved while this process used it "
                             f"({said}); restore the file or {FIX_URL}")
    if primary == _SQLITE_NOTADB:
        return DatabaseError(f"{path} is not an SQLite database ({said}); {FIX_URL}, or move "
                             "this file away to start a new lab at that path")
    if primary == _SQLITE_CORRUPT:
        return DatabaseError(f"database {path} is damaged ({said}); restore it from a backup, or "
                             f"salvage it with `sqlite3 {path} .recover | sqlite3 recovered.db`")
    if primary in (_SQLITE_READONLY, _SQLITE_PERM):
        return DatabaseError(f"database {path} is read-only for this user ({said}); listing and "
                             f"comparing work, but to change the lab make {path} and its folder "
                             f"writable (chmod u+w) or copy the lab somewhere writable")
    if primary == _SQLITE_CANTOPEN:
        if isinstance(path, Path) and path.is_dir():
            return DatabaseError(f"database path {path} is a directory; give a file path, "
                                 f"e.g. --db {path / 'lab.db'}")
        return DatabaseError(f"cannot open database {path} ({said}); check that the file and "
                             f"its folder exist and are readable, or {FIX_URL}")
    if primary == _SQLITE_FULL:
        return DatabaseError(f"database {path}: the disk is full ({said}); free space on its "
                             "disk and retry")
    if primary == _SQLITE_IOERR:
        return DatabaseError(f"database {path}: disk I/O error ({said}); check the disk or the "
                             "network mount it lives on and retry")
    if primary == _SQLITE_BUSY:
        return DatabaseError(f"database {path} stayed locked by another process ({said}); "
                             "retry when the other command finishes (a network file system "
                             "without working locks cannot host an SQLite lab: use PostgreSQL)")
    if isinstance(orig, sqlite3.DatabaseError) and not isinstance(
            orig, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
        if "no such table" in said or "no such column" in said:
            return DatabaseError(f"database {path} does not have the tables adlab expects "
                                 f"({said}); run `adlab db upgrade`, or {FIX_URL}")
    return None


def _postgres(orig: BaseException, url: str) -> DatabaseError | None:
    said = first_line(orig)
    low = said.lower()
    parsed = make_url(url)
    at = where(url)
    if "connection refused" in low or "no such file or directory" in low:
        return DatabaseError(f"cannot connect to {at}: nothing listens there ({said}); start the "
                             "server, or fix the host and port in --db/ADLAB_DB")
    if "resolve host" in low or "name or service not known" in low or "nodename" in low:
        return DatabaseError(f"cannot connect to {at}: host {parsed.host!r} is unknown "
                             f"({said}); fix the host in --db/ADLAB_DB")
    if "timeout" in low or "timed out" in low:
        return DatabaseError(f"cannot connect to {at}: no answer in time ({said}); check that "
                             "the host is reachable and the port is PostgreSQL's")
    if "password authentication failed" in low or ("role" in low and "does not exist" in low) \
            or "no password supplied" in low or "no pg_hba.conf entry" in low:
        return DatabaseError(f"{at} refused the login ({said}); fix the user and password in "
                             "--db/ADLAB_DB (postgresql+psycopg://user:password@host/dbname)")
    if "database" in low and "does not exist" in low:
        return DatabaseError(f"{at} does not exist ({said}); create it (createdb "
                             f"{parsed.database}) or fix the name in --db/ADLAB_DB")
    if "invalid port" in low:
        return DatabaseError(f"{at}: {parsed.port} is not a port number ({said}); fix the port "
                             "in --db/ADLAB_DB (1-65535; PostgreSQL listens on 5432 by default)")
    if "ssl negotiation" in low or "invalid response" in low or "expected authentication" in low \
            or "unsupported frontend protocol" in low:
        return DatabaseError(f"{at}: the server there does not speak PostgreSQL ({said}); fix "
                             "the port in --db/ADLAB_DB (PostgreSQL listens on 5432 by default)")
    sqlstate = getattr(orig, "sqlstate", None)
    if "server closed the connection" in low or "terminating connection" in low \
            or "consuming input failed" in low or str(sqlstate or "").startswith("57P"):
        return DatabaseError(f"lost the connection to {at} ({said}); check that the server is "
                             "up and retry")
    if sqlstate is None or str(sqlstate).startswith(("08", "28", "3D", "53", "57")):
        return DatabaseError(f"{at} cannot be used ({said}); check the server and --db/ADLAB_DB")
    return None


def transient(exc: BaseException, url: str) -> bool:
    """Whether ``exc`` may pass by itself, so a long-lived process (the worker) should retry:
    SQLite locked beyond its busy timeout, a PostgreSQL server unreachable, restarting or
    dropping the connection. A lab deleted, replaced, damaged or read-only is not."""
    orig = getattr(exc, "orig", None) or exc
    if make_url(url).get_backend_name() == "sqlite":
        code = getattr(orig, "sqlite_errorcode", None)
        return (isinstance(code, int) and code & 0xFF == _SQLITE_BUSY) \
            or "database is locked" in first_line(orig)
    if getattr(exc, "connection_invalidated", False):
        return True
    if type(orig).__module__.split(".")[0] != "psycopg":
        return False
    low = first_line(orig).lower()
    sqlstate = str(getattr(orig, "sqlstate", None) or "")
    return sqlstate.startswith(("08", "57P")) or any(words in low for words in (
        "connection refused", "server closed the connection", "terminating connection",
        "consuming input failed", "the database system is", "no such file or directory",
        "connection is closed", "connection is lost"))
