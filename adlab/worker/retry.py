"""Retry a worker's database call through a passing failure (SQLite locked beyond its busy
timeout, a PostgreSQL restart), for a bounded time, then stop loudly.

A worker is long-lived: a database that is away for a few seconds must not kill it (nor the
run it supervises), but one that stays away must stop it with one sentence instead of a worker
hanging on forever. Which failures pass by themselves is :func:`adlab.db.failures.transient`;
a database deleted or replaced (:class:`DatabaseError` from the identity check) is never
retried.
"""
from __future__ import annotations

import sqlite3
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from adlab.db.failures import first_line, transient, where
from adlab.errors import DatabaseError
from adlab.settings import db_retry_seconds

T = TypeVar("T")
FIRST_DELAY_S, MAX_DELAY_S = 0.25, 4.0


def retrying(call: Callable[[], T], *, url: str, what: str, log: Callable[[str], None],
             budget_s: float | None = None) -> T:
    """``call()``, retried with doubling delays while it fails transiently; one log line when
    the database goes away and one when it is back. Raises :class:`DatabaseError` (one
    sentence) once ``budget_s`` (default ``ADLAB_DB_RETRY_S``) has passed; any other failure
    is raised as it is."""
    budget_s = db_retry_seconds() if budget_s is None else budget_s
    start = time.monotonic()
    delay, tries = FIRST_DELAY_S, 0
    while True:
        try:
            result = call()
        except (SQLAlchemyError, sqlite3.Error) as exc:
            if not transient(exc, url):
                raise
            waited = time.monotonic() - start
            if waited >= budget_s:
                raise DatabaseError(
                    f"{where(url)} stayed unavailable for {waited:.0f} s while {what} "
                    f"({first_line(exc)}); check the database, then start the worker "
                    "again") from None
            if tries == 0:
                log(f"{where(url)} unavailable while {what} ({first_line(exc)}); retrying "
                    f"for up to {budget_s:g} s")
            tries += 1
            time.sleep(min(delay, max(budget_s - waited, 0.0)))
            delay = min(delay * 2, MAX_DELAY_S)
            continue
        if tries:
            log(f"{where(url)} is back after {time.monotonic() - start:.1f} s ({tries} "
                f"retr{'y' if tries == 1 else 'ies'}) while {what}")
        return result
