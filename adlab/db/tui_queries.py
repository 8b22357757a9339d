"""Read queries for the live monitor (``adlab tui``): few statements, lean rows, no per-row queries.

The runs table is fed by one summary statement over ``runs`` alone. After the first full load
the monitor asks only for what can have changed: rows newer than the newest id it holds, rows
still queued or running, and rows that finished recently. A row count and the newest id, read
in the same transaction, tell it when something it holds was deleted, so it reloads in full.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from adlab.db.clock import db_now
from adlab.db.engine import reader
from adlab.db.models import Metric, Param, Run, RunItem, RunStatus, Worker

ACTIVE_STATUSES = (RunStatus.queued.value, RunStatus.running.value)


class RunRow(NamedTuple):
    """What one line of the runs table needs (and nothing else)."""

    id: int
    name: str
    study: str
    pipeline: str
    status: str
    group_hash: str
    worker: str | None
    device: str | None
    created_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    progress_done: int
    progress_total: int | None
    progress_message: str | None
    headline_metric: str | None
    headline_value: float | None
    cancel_requested: bool
    attempt: int
    error: str | None
    heartbeat_at: dt.datetime | None = None  # the monitor marks runs whose worker went quiet


RUN_ROW_COLUMNS = tuple(getattr(Run, name) for name in RunRow._fields)


@dataclass(frozen=True)
class RunRowsBatch:
    """Rows read in one transaction, with the table's size and newest id at that moment."""

    rows: list[RunRow]
    total: int
    max_id: int
    now: dt.datetime
    full: bool


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def fetch_run_rows(engine: Engine, *, after_id: int | None = None,
                   finished_since: dt.datetime | None = None,
                   watch_ids: Sequence[int] = ()) -> RunRowsBatch:
    """All runs (``after_id`` None), or only those that may have changed since a previous
    batch: id above ``after_id``, queued/running now, listed in ``watch_ids`` (the caller's
    queued/running rows, which may have finished since), or finished at/after
    ``finished_since``."""
    q = select(*RUN_ROW_COLUMNS)
    full = after_id is None
    if not full:
        changed = [Run.id > after_id, Run.status.in_(ACTIVE_STATUSES)]
        if watch_ids:
            changed.append(Run.id.in_(list(watch_ids)))
        if finished_since is not None:
            changed.append(Run.finished_at >= finished_since)
        q = q.where(or_(*changed))
    with Session(reader(engine)) as s:
        total, max_id = s.exec(select(func.count(Run.id), func.max(Run.id))).one()
        rows = [RunRow._make(r) for r in s.exec(q.order_by(Run.id)).all()]
        now = db_now(s)
    return RunRowsBatch(rows=rows, total=int(total or 0), max_id=int(max_id or 0), now=now,
                        full=full)


@dataclass(frozen=True)
class FirstRows:
    """What the runs table can show before the whole lab is read (see :func:`fetch_first_rows`)."""

    rows: list[RunRow]
    total: int
    counts: dict[str, int]


def fetch_first_rows(engine: Engine, *, newest: int, failed_since: dt.datetime) -> FirstRows:
    """Every queued or running run, the failures finished since ``failed_since``, and the
    ``newest`` most recent runs beyond those, with the lab's size and its runs per status: a
    superset of the first ``newest`` lines in the "needs attention" and newest-first orders,
    read with a few indexed statements instead of the whole table."""
    attention = or_(Run.status.in_(ACTIVE_STATUSES),
                    (Run.status == RunStatus.failed.value) & (Run.finished_at >= failed_since))
    with Session(reader(engine)) as s:
        urgent = [RunRow._make(r) for r in s.exec(select(*RUN_ROW_COLUMNS).where(attention))]
        recent = s.exec(select(*RUN_ROW_COLUMNS).order_by(Run.id.desc())
                        .limit(newest + len(urgent))).all()
        counts = {status: int(n) for status, n in
                  s.exec(select(Run.status, func.count(Run.id)).group_by(Run.status)).all()}
    rows = {r.id: r for r in urgent}
    for r in recent:
        rows.setdefault(r[0], RunRow._make(r))
    return FirstRows(rows=list(rows.values()), total=sum(counts.values()), counts=counts)


class WorkerRow(NamedTuple):
    name: str
    host: str
    device: str
    status: str
    current_run_id: int | None
    current_run_name: str | None
    heartbeat_at: dt.datetime | None
    runs_done: int


def fetch_workers(engine: Engine) -> list[WorkerRow]:
    """Every registered worker with the name of the run it holds (one joined statement)."""
    q = (select(Worker.name, Worker.host, Worker.device, Worker.status, Worker.current_run_id,
                Run.name, Worker.heartbeat_at, Worker.runs_done)
         .outerjoin(Run, Run.id == Worker.current_run_id)
         .order_by(Worker.name))
    with Session(reader(engine)) as s:
        rows = s.exec(q).all()
    return [WorkerRow(*r[:6], _aware(r[6]), r[7]) for r in rows]


def items_signature(engine: Engine, *, run_id: int, prefix: str) -> tuple[int, int, str]:
    """(count, newest id, newest update) of a run's partial-result items under ``prefix``:
    changes when one lands (a pipeline's detail tab refreshes then)."""
    q = (select(func.count(RunItem.id), func.max(RunItem.id), func.max(RunItem.updated_at))
         .where(RunItem.run_id == run_id, RunItem.key.startswith(prefix, autoescape=True)))
    with Session(reader(engine)) as s:
        n, newest, updated = s.exec(q).one()
    return int(n or 0), int(newest or 0), str(updated or "")


def run_items(engine: Engine, *, run_id: int, prefix: str) -> dict[str, Any]:
    """A run's partial-result items under ``prefix`` (key -> stored JSON value), in write order."""
    q = (select(RunItem.key, RunItem.value_json)
         .where(RunItem.run_id == run_id, RunItem.key.startswith(prefix, autoescape=True))
         .order_by(RunItem.id))
    with Session(reader(engine)) as s:
        rows = s.exec(q).all()
    return {key: json.loads(raw) for key, raw in rows}


def params_for_runs(engine: Engine, *, run_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """Flattened parameters of several runs in one statement (for differing-parameter views)."""
    if not run_ids:
        return {}
    q = (select(Param.run_id, Param.key, Param.value_text)
         .where(Param.run_id.in_(list(run_ids))).order_by(Param.run_id, Param.key))
    out: dict[int, dict[str, str]] = {int(r): {} for r in run_ids}
    with Session(reader(engine)) as s:
        for run_id, key, value in s.exec(q).all():
            out[int(run_id)][key] = value
    return out


def metric_keys_for_runs(engine: Engine, *, run_ids: Sequence[int]) -> list[str]:
    """Distinct run-level metric keys recorded by any of ``run_ids`` (what can be compared)."""
    if not run_ids:
        return []
    q = (select(Metric.key).where(Metric.run_id.in_(list(run_ids))).distinct()
         .order_by(Metric.key))
    with Session(reader(engine)) as s:
        return [k for (k,) in s.exec(q).all()]
