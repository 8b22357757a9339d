"""SQLModel tables. One family per concern: runs and what hangs off them, workers, events.

Timestamps are timezone-aware UTC (SQLModel's UTCDateTime: timestamptz on PostgreSQL). Every child table references ``runs.id`` with ON DELETE CASCADE so
deleting a run removes its params, metrics, artifacts, items and events together.
"""
from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Optional

from sqlalchemy import Column, ForeignKey, Index, Integer, Text, UniqueConstraint, func, literal_column
from sqlmodel import Field, SQLModel, col


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class RunStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED_STATUSES = (RunStatus.succeeded.value, RunStatus.failed.value, RunStatus.cancelled.value)


def _run_fk() -> Column:
    return Column(Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True)


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_status_priority", "status", "priority", "id"),
        Index("ix_runs_group", "group_hash", "status"),
        # Ranking by the headline metric reads only these (adlab.db.headline_ranking).
        Index("ix_runs_status_headline", "status", "headline_metric"),
        Index("ix_runs_headline_group", "headline_metric", "group_hash", "headline_value", "status",
              "pipeline", "study"),
        Index("ix_runs_headline_partition", "headline_metric", "partition_hash", "headline_value",
              "status", "pipeline", "study"),
        # The monitor's incremental read asks for recent finishes (adlab.db.tui_queries).
        Index("ix_runs_finished_at", "finished_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    study: str = Field(default="", index=True)
    pipeline: str = Field(index=True)
    status: str = Field(default=RunStatus.queued.value, index=True)
    config_json: str = Field(sa_column=Column(Text, nullable=False))
    config_hash: str = Field(index=True, max_length=64)
    # Comparison: partition = dataset/categories/pipeline/protocol; group = partition + group keys.
    partition_hash: str = Field(index=True, max_length=64)
    group_hash: str = Field(index=True, max_length=64)
    group_keys_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    priority: int = Field(default=0)
    # attempt: the execution number, +1 on every claim (never reused, so a new attempt's
    # writes replace the previous one's). reclaims: how often the run was re-queued after its
    # worker's lease expired since it was queued or retried; only these count against
    # max_attempts (a graceful release or `adlab retry` is not a failure of the run).
    attempt: int = Field(default=0)
    max_attempts: int = Field(default=3)
    reclaims: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    depends_on: Optional[int] = Field(default=None, foreign_key="runs.id", index=True)
    cancel_requested: bool = Field(default=False)
    worker: Optional[str] = Field(default=None, index=True)
    device: Optional[str] = None
    created_at: dt.datetime = Field(default_factory=utcnow)
    started_at: Optional[dt.datetime] = None
    finished_at: Optional[dt.datetime] = None
    heartbeat_at: Optional[dt.datetime] = None
    error: Optional[str] = Field(default=None, sa_column=Column(Text))
    progress_done: int = 0
    progress_total: Optional[int] = None
    progress_message: Optional[str] = None
    output_dir: Optional[str] = None
    # Provenance, recorded when the run starts executing.
    git_commit: Optional[str] = None
    git_dirty: Optional[bool] = None
    versions_json: Optional[str] = Field(default=None, sa_column=Column(Text))
    info_json: Optional[str] = Field(default=None, sa_column=Column(Text))
    seed: Optional[int] = None
    # Headline metric copied here when recorded, so listings need no join.
    headline_metric: Optional[str] = None
    headline_value: Optional[float] = None


class Param(SQLModel, table=True):
    """One flattened parameter (``data.category``) of a run; ``value_num`` set when numeric."""

    __tablename__ = "params"
    __table_args__ = (
        UniqueConstraint("run_id", "key", name="uq_params_run_key"),
        Index("ix_params_key_num", "key", "value_num"),
        Index("ix_params_key_text", "key", "value_text"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: int = Field(sa_column=_run_fk())
    key: str
    value_text: str = Field(sa_column=Column(Text, nullable=False))
    value_num: Optional[float] = None


class Metric(SQLModel, table=True):
    """One value per (run, key, scope, step): :data:`METRIC_POINT` enforces it, and
    :func:`adlab.db.metric_rows.record_metrics` (every writer) replaces a value recorded again."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_key_scope", "key", "scope", "run_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: int = Field(sa_column=_run_fk())
    key: str
    value: Optional[float] = None  # NULL when the metric is undefined (see note)
    scope: str = ""  # e.g. a category name; "" for the run as a whole
    step: Optional[int] = None
    note: Optional[str] = None
    created_at: dt.datetime = Field(default_factory=utcnow)


# A unique index treats NULLs as distinct (SQLite, and PostgreSQL before NULLS NOT DISTINCT), so
# the run-level value (step NULL) is indexed as step -1; steps are counts, never negative. The
# same expressions are the upsert's conflict target (adlab.db.metric_rows): they must match
# the index exactly, hence -1 as literal SQL rather than a bound parameter. Migration 0005.
METRIC_POINT_NULL_STEP = -1
METRIC_POINT = Index(
    "uq_metrics_point", col(Metric.run_id), col(Metric.key), col(Metric.scope),
    func.coalesce(col(Metric.step), literal_column(str(METRIC_POINT_NULL_STEP))), unique=True)


class Artifact(SQLModel, table=True):
    __tablename__ = "artifacts"

    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: int = Field(sa_column=_run_fk())
    kind: str = Field(index=True)
    path: str  # relative to the artifacts root when inside it
    sha256: str = Field(max_length=64)
    bytes: int
    created_at: dt.datetime = Field(default_factory=utcnow)


class RunItem(SQLModel, table=True):
    """Partial results keyed per run (answers, per-image predictions) so resumed runs skip work."""

    __tablename__ = "run_items"
    __table_args__ = (UniqueConstraint("run_id", "key", name="uq_run_items_run_key"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: int = Field(sa_column=_run_fk())
    key: str
    value_json: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """The run log and lab events (claims, reaps, cancels), in order of ``id``."""

    __tablename__ = "events"

    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: Optional[int] = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("runs.id", ondelete="CASCADE"), index=True),
    )
    ts: dt.datetime = Field(default_factory=utcnow)
    level: str = "info"
    source: str = ""  # worker name, "queue", "pipeline"
    message: str = Field(sa_column=Column(Text, nullable=False))


class Worker(SQLModel, table=True):
    __tablename__ = "workers"

    name: str = Field(primary_key=True)
    host: str
    pid: int
    device: str
    status: str = "idle"  # idle | busy | stopped
    current_run_id: Optional[int] = None
    started_at: dt.datetime = Field(default_factory=utcnow)
    heartbeat_at: dt.datetime = Field(default_factory=utcnow)
    runs_done: int = 0
