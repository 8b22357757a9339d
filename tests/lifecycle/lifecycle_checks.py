"""Checks shared by the lifecycle tests: one row per result, every per-category result there."""
from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select
from sqlmodel import Session

from adlab.db.models import Artifact, Event, Metric


def metric_rows(engine, run_id: int) -> Counter:  # noqa: ANN001
    """How many rows each (key, scope, step) has for the run."""
    with Session(engine) as s:
        rows = s.exec(select(Metric.key, Metric.scope, Metric.step)
                      .where(Metric.run_id == run_id)).all()
    return Counter(tuple(r) for r in rows)


def assert_complete_once(engine, run_id: int, categories: list[str]) -> None:  # noqa: ANN001
    """Exactly one row per (run, key, scope, step) and per artifact file; every per-category
    metric and result file present; the run-level metrics once."""
    counts = metric_rows(engine, run_id)
    doubled = {k: n for k, n in counts.items() if n != 1}
    assert not doubled, f"run {run_id}: metrics recorded more than once: {doubled}"
    for category in categories:
        for key in ("value", "steps_run"):
            assert (key, category, None) in counts, f"run {run_id}: {key}[{category}] missing"
    assert ("value", "", None) in counts and ("steps_run", "", None) in counts
    with Session(engine) as s:
        paths = s.exec(select(Artifact.path).where(Artifact.run_id == run_id)).scalars().all()
    assert len(paths) == len(set(paths)) == len(categories), paths
    assert sorted(p.split("/")[-2] for p in paths) == sorted(categories)


def messages(engine, run_id: int) -> list[str]:  # noqa: ANN001
    with Session(engine) as s:
        return list(s.exec(select(Event.message).where(Event.run_id == run_id)
                           .order_by(Event.id)).scalars())


def utc_seconds(ts: dt.datetime) -> float:
    """A stored timestamp (naive UTC on SQLite, aware on PostgreSQL) as epoch seconds."""
    return (ts if ts.tzinfo else ts.replace(tzinfo=dt.timezone.utc)).timestamp()
