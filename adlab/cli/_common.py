"""Conventions shared by every command: --json output, stderr logging, the database option.

Contract (design.md): with ``--json`` a command prints exactly one JSON document on stdout;
progress and logs go to stderr. Exit codes: 0 ok, 1 failure, 2 usage error.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import sys
from pathlib import Path
from typing import Any

import typer

from adlab.errors import AdlabError


class _LazyConsole:
    """A rich Console made on first use: commands that print JSON never import rich (~20 ms)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def get(self) -> Any:
        """The rich Console itself, for APIs that take one (``Progress(console=...)``)."""
        if self._console is None:
            from rich.console import Console

            options = {k: v() if callable(v) else v for k, v in self._options.items()}
            self._console = Console(**options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


err_console = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)
# Piped output keeps whole lines (rich would otherwise wrap at 80 columns).
out_console = _LazyConsole(highlight=False,
                           width=lambda: None if sys.stdout.isatty() else 200)

# Set by the root callback from ``--db``; read through :func:`db_url`.
_GLOBAL: dict[str, Any] = {"db": None}


def set_db_option(value: str | None) -> None:
    _GLOBAL["db"] = value


def db_url() -> str:
    """The database URL chosen by ``--db``, ``ADLAB_DB`` or the default ``./lab.db``."""
    from adlab.settings import database_url

    return database_url(_GLOBAL["db"])


def to_jsonable(obj: Any) -> Any:
    """Convert results to plain JSON: NaN/inf become null, paths and datetimes become strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump(mode="json"))
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return to_jsonable(obj.item())
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays
        return to_jsonable(obj.tolist())
    return obj


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout (the only thing a --json command prints there)."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def info(message: str) -> None:
    """A progress/log line for humans: always stderr, so stdout stays machine-readable."""
    err_console.print(message)


def database_failure(exc: BaseException) -> AdlabError | None:
    """A driver error that reached the command line (the database failed after it opened: a
    damaged page, a read-only file written to, a server gone) as one sentence naming the
    database; None when ``exc`` is not a database error."""
    if "sqlalchemy" not in sys.modules and "sqlite3" not in sys.modules:
        return None  # nothing opened a database
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    if not isinstance(exc, (SQLAlchemyError, sqlite3.Error)):
        return None
    from adlab.db.engine import database_error

    return database_error(exc, getattr(exc, "adlab_url", None) or db_url())


def fail(message: str) -> None:
    """Abort the command with one clear sentence and exit code 1."""
    raise AdlabError(message)


JsonOption = typer.Option(False, "--json", help="Print exactly one JSON document on stdout.")
