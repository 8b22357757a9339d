"""Read-side query functions shared by the CLI, the TUI and reports. Keyword-only arguments.

Listings are summary queries (one statement, no per-row queries) so they stay fast with
100k runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from adlab.db.engine import reader
from adlab.db.models import Artifact, Event, Metric, Param, Run, RunItem, Worker
from adlab.db.run_filter import RunFilter, filter_clauses
from adlab.errors import NotFoundError

RUN_SUMMARY_COLUMNS = (Run.id, Run.name, Run.study, Run.pipeline, Run.status, Run.attempt,
                       Run.max_attempts, Run.worker, Run.device, Run.created_at, Run.started_at,
                       Run.finished_at, Run.heartbeat_at, Run.progress_done, Run.progress_total,
                       Run.progress_message, Run.headline_metric, Run.headline_value,
                       Run.group_hash, Run.partition_hash, Run.error, Run.depends_on)


@dataclass
class RunSummary:
    id: int
    name: str
    study: str
    pipeline: str
    status: str
    attempt: int
    max_attempts: int
    worker: str | None
    device: str | None
    created_at: Any
    started_at: Any
    finished_at: Any
    heartbeat_at: Any
    progress_done: int
    progress_total: int | None
    progress_message: str | None
    headline_metric: str | None
    headline_value: float | None
    group_hash: str
    partition_hash: str
    error: str | None
    depends_on: int | None


def list_runs(engine: Engine, *, status: str | Sequence[str] | None = None,
              pipeline: str | None = None, study: str | None = None, group: str | None = None,
              name_like: str | None = None, ids: Sequence[int] | None = None,
              limit: int | None = None, newest_first: bool = False,
              filters: RunFilter | None = None) -> list[RunSummary]:
    """Run summaries; ``filters`` is the run filter of ``compare``/``report``/``export`` (its
    statuses included), the keyword filters narrow further."""
    q = select(*RUN_SUMMARY_COLUMNS)
    if filters is not None:
        q = q.where(*filter_clauses(filters))
    if status:
        q = q.where(Run.status.in_([status] if isinstance(status, str) else list(status)))
    if pipeline:
        q = q.where(Run.pipeline == pipeline)
    if study:
        q = q.where(Run.study == study)
    if group:
        q = q.where(Run.group_hash.startswith(group))
    if name_like:
        q = q.where(Run.name.contains(name_like, autoescape=True))
    if ids:
        q = q.where(Run.id.in_(list(ids)))
    q = q.order_by(Run.id.desc() if newest_first else Run.id)
    if limit:
        q = q.limit(limit)
    with Session(reader(engine)) as s:
        return [RunSummary(*row) for row in s.exec(q).all()]


def get_run(engine: Engine, *, run_id: int) -> Run:
    with Session(reader(engine)) as s:
        run = s.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id} does not exist; `adlab runs` lists the runs")
    return run


def run_params(engine: Engine, *, run_id: int) -> dict[str, str]:
    with Session(reader(engine)) as s:
        rows = s.exec(select(Param.key, Param.value_text).where(Param.run_id == run_id)
                      .order_by(Param.key)).all()
    return dict(rows)


def run_metrics(engine: Engine, *, run_id: int) -> list[dict[str, Any]]:
    with Session(reader(engine)) as s:
        rows = s.exec(select(Metric.key, Metric.value, Metric.scope, Metric.step, Metric.note)
                      .where(Metric.run_id == run_id).order_by(Metric.id)).all()
    return [{"key": k, "value": v, "scope": sc, "step": st, "note": n} for k, v, sc, st, n in rows]


def run_artifacts(engine: Engine, *, run_id: int) -> list[dict[str, Any]]:
    with Session(reader(engine)) as s:
        rows = s.exec(select(Artifact.kind, Artifact.path, Artifact.sha256, Artifact.bytes)
                      .where(Artifact.run_id == run_id).order_by(Artifact.id)).all()
    return [{"kind": k, "path": p, "sha256": h, "bytes": b} for k, p, h, b in rows]


def run_items(engine: Engine, *, run_id: int, prefix: str = "") -> dict[str, Any]:
    with Session(reader(engine)) as s:
        q = select(RunItem.key, RunItem.value_json).where(RunItem.run_id == run_id)
        if prefix:
            q = q.where(RunItem.key.startswith(prefix, autoescape=True))
        rows = s.exec(q.order_by(RunItem.id)).all()
    return {k: json.loads(v) for k, v in rows}


def run_events(engine: Engine, *, run_id: int | None, after_id: int = 0,
               limit: int | None = None) -> list[dict[str, Any]]:
    q = select(Event.id, Event.ts, Event.level, Event.source, Event.message).where(Event.id > after_id)
    if run_id is not None:
        q = q.where(Event.run_id == run_id)
    q = q.order_by(Event.id)
    if limit:
        q = q.limit(limit)
    with Session(reader(engine)) as s:
        rows = s.exec(q).all()
    return [{"id": i, "ts": t, "level": lv, "source": src, "message": m} for i, t, lv, src, m in rows]


def list_workers(engine: Engine) -> list[Worker]:
    with Session(reader(engine)) as s:
        return list(s.exec(select(Worker).order_by(Worker.name)).scalars().all())


def run_detail(engine: Engine, *, run_id: int) -> dict[str, Any]:
    """Everything about one run, JSON-ready (what ``adlab show`` prints)."""
    run = get_run(engine, run_id=run_id)
    data = run.model_dump(mode="json")
    data["config"] = json.loads(data.pop("config_json"))
    data["group_keys"] = json.loads(data.pop("group_keys_json") or "[]")
    data["versions"] = json.loads(data.pop("versions_json") or "{}")
    data["info"] = json.loads(data.pop("info_json") or "{}")
    data["params"] = run_params(engine, run_id=run_id)
    data["metrics"] = run_metrics(engine, run_id=run_id)
    data["artifacts"] = run_artifacts(engine, run_id=run_id)
    return data
