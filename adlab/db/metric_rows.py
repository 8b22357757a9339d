"""The one writer of ``metrics`` rows: one value per (run, key, scope, step), recorded by upsert.

Every path that stores metric values goes through :func:`record_metrics`: a worker's run
recording results (:class:`adlab.worker.context.DbRunContext`), imported and queued runs
(:func:`adlab.db.runs.insert_run`) and a lab copied between databases (:mod:`adlab.db.copy`).
A value recorded again for the same point replaces the earlier one, with its note and time.

The rule is the database's, not only the writer's: the unique index
:data:`adlab.db.models.METRIC_POINT` (migration 0005) holds one row per point, and the write is
a single ``INSERT ... ON CONFLICT (<that index>) DO UPDATE`` (SQLite 3.24+ and PostgreSQL), so
two writers racing on one point (a write retried after a lost commit reply, a reaped attempt
still alive, two processes) end with one row whichever commits first. Delete-then-insert
cannot promise that: on PostgreSQL two transactions each delete nothing and both insert.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from adlab.db.models import METRIC_POINT, METRIC_POINT_NULL_STEP, Metric, utcnow

_TABLE = Metric.__table__  # type: ignore[attr-defined]
# What a value recorded again replaces; the row keeps its id (and its place in id order).
_REPLACED = ("value", "note", "created_at")


def point(row: Mapping[str, Any]) -> tuple[int, str, str, int | None]:
    """The (run_id, key, scope, step) a metric row is the one value of."""
    return (int(row["run_id"]), str(row["key"]), str(row.get("scope") or ""), row.get("step"))


def record_metric(target: Session | Connection, *, run_id: int, key: str,
                  value: float | None, scope: str = "", step: int | None = None,
                  note: str | None = None, at: dt.datetime | None = None) -> None:
    """Record one value of run ``run_id`` (see :func:`record_metrics`)."""
    record_metrics(target, [{"run_id": run_id, "key": key, "value": value, "scope": scope,
                             "step": step, "note": note, "created_at": at or utcnow()}])


def record_metrics(target: Session | Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert or replace metric rows (mappings of ``metrics`` columns: ``run_id``, ``key``,
    ``value``, optional ``scope`` "", ``step`` None, ``note`` None, ``created_at`` now, and
    ``id`` when copying a lab) in the caller's transaction; the caller commits. Of several rows
    for one point the last wins, as if recorded one after the other. Returns the number of
    points written. Raises ValueError for a negative step (-1 stands for "no step" in the
    index)."""
    latest: dict[tuple[int, str, str, int | None], dict[str, Any]] = {}
    now = utcnow()
    for row in rows:
        step = row.get("step")
        if step is not None and int(step) < 0:
            raise ValueError(f"metric {row['key']!r} of run {row['run_id']}: step {step} is "
                             "negative; steps count from 0")
        full = {"scope": "", "step": None, "note": None, "created_at": now, **row}
        key = point(full)
        latest.pop(key, None)  # re-inserted at the end: the batch keeps recording order
        latest[key] = full
    if not latest:
        return 0
    conn = target.connection() if isinstance(target, Session) else target
    conn.execute(_upsert(conn.dialect.name), list(latest.values()))
    return len(latest)


def _upsert(dialect: str) -> Any:
    if dialect == "sqlite":
        stmt: Any = sqlite.insert(_TABLE)
    elif dialect == "postgresql":
        stmt = postgresql.insert(_TABLE)
    else:  # adlab's engines are SQLite or PostgreSQL (adlab.db.engine.make_engine)
        raise ValueError(f"no metric upsert for database dialect {dialect!r}")
    return stmt.on_conflict_do_update(
        index_elements=list(METRIC_POINT.expressions),
        set_={name: stmt.excluded[name] for name in _REPLACED})


__all__ = ["METRIC_POINT_NULL_STEP", "point", "record_metric", "record_metrics"]
