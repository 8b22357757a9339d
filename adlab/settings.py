"""Where things live: database URL, artifact root, data root. Read from flags and environment."""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB_FILE = "lab.db"


def database_url(db: str | None = None) -> str:
    """``--db PATH_OR_URL``, else ``ADLAB_DB``, else ``./lab.db`` (as an SQLAlchemy URL)."""
    value = db or os.environ.get("ADLAB_DB") or DEFAULT_DB_FILE
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def artifacts_root() -> Path:
    """Root under which run outputs are written; artifact paths are stored relative to it."""
    return Path(os.environ.get("ADLAB_ARTIFACTS", "exports")).expanduser().resolve()


def data_root(configured: str | None = None) -> Path | None:
    """The dataset root from config, else ``ADLAB_DATA_ROOT``; None when neither is set."""
    value = configured or os.environ.get("ADLAB_DATA_ROOT")
    return Path(value).expanduser() if value else None


def lease_seconds() -> float:
    """How long a running run may go without a heartbeat before it is reaped."""
    return float(os.environ.get("ADLAB_LEASE_S", "60"))


def db_retry_seconds() -> float:
    """How long a worker retries a database that is away (locked, restarting) before it stops
    (``ADLAB_DB_RETRY_S``, default 30)."""
    return float(os.environ.get("ADLAB_DB_RETRY_S", "30"))


SQLITE_BUSY_TIMEOUT_ENV = "ADLAB_SQLITE_BUSY_TIMEOUT_S"
DEFAULT_SQLITE_BUSY_TIMEOUT_S = 60.0


def sqlite_busy_timeout_seconds() -> float:
    """How long one SQLite statement waits for another process's write lock before it fails
    with "database is locked" (``ADLAB_SQLITE_BUSY_TIMEOUT_S``, default 60); a worker then
    retries the write for ``ADLAB_DB_RETRY_S``. Raises ValueError on a value that is not a
    number >= 0 (the engine words it)."""
    value = os.environ.get(SQLITE_BUSY_TIMEOUT_ENV, "").strip()
    seconds = float(value) if value else DEFAULT_SQLITE_BUSY_TIMEOUT_S
    if not seconds >= 0:  # also NaN
        raise ValueError(value)
    return seconds


MAX_RUNS_ENV = "ADLAB_MAX_RUNS"
DEFAULT_MAX_RUNS = 10_000


def max_runs() -> int:
    """The most runs one study may expand into (``ADLAB_MAX_RUNS``, default 10,000), so a grid
    typo is refused at once instead of taking minutes and gigabytes. Raises ValueError on a
    value that is not a whole number (the config loader words it)."""
    value = os.environ.get(MAX_RUNS_ENV, "").strip()
    return int(value) if value else DEFAULT_MAX_RUNS


WORKER_MODE_ENV = "ADLAB_WORKER_MODE"
WORKER_MODES = ("warm", "cold")


def worker_mode() -> str:
    """``ADLAB_WORKER_MODE``: ``warm`` (default: runs fork from a process that imported the
    pipeline's packages once) or ``cold`` (each run forks from the worker and imports them).
    Raises ValueError on another value (the worker words it)."""
    value = os.environ.get(WORKER_MODE_ENV, "").strip().lower() or "warm"
    if value not in WORKER_MODES:
        raise ValueError(value)
    return value


def debug() -> bool:
    return os.environ.get("ADLAB_DEBUG", "") not in ("", "0", "false")
