"""Pipeline-specific views in generic commands: plain run records in, the spec's hook out.

``adlab compare --flat`` and ``adlab report`` know no pipeline: they read the runs as
:class:`~adlab.pipelines.views.RunRecord` and call the hooks pipelines name on their specs
(``flat_table``, ``report_sections``). Listing the hooks imports spec modules only (pydantic),
never a runner.
"""
from __future__ import annotations

import json
from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine

from adlab.db import compare_queries as cq
from adlab.db.compare_queries import RunFilter
from adlab.db.engine import reader
from adlab.db.models import Metric, Run
from adlab.errors import AdlabError
from adlab.pipelines import PipelineSpec, get_pipeline, list_pipelines
from adlab.pipelines.base import load_ref
from adlab.pipelines.views import FlatTableView, RunRecord, SectionView


def run_records(engine: Engine, *, run_ids: Iterable[int] | None = None,
                filters: RunFilter | None = None) -> list[RunRecord]:
    """The given runs (or the runs ``filters`` selects) with params, run-level and scoped
    metrics, info and times, ordered by id."""
    q = select(Run.id, Run.name, Run.pipeline, Run.started_at, Run.finished_at, Run.info_json)
    if run_ids is not None:
        ids = sorted(set(run_ids))
        if not ids:
            return []
        q = q.where(Run.id.in_(ids))
    if filters is not None:
        q = q.where(*cq.filter_clauses(filters))
    with reader(engine).connect() as conn:
        runs = list(conn.execute(q.order_by(Run.id)))
    ids = [r[0] for r in runs]
    params = cq.param_values(engine, run_ids=ids)
    metrics: dict[int, dict[str, float | None]] = {}
    with reader(engine).connect() as conn:
        for chunk in cq.chunks(ids):
            mq = (select(Metric.run_id, Metric.key, Metric.value)
                  .where(Metric.run_id.in_(chunk), Metric.scope == "", Metric.step.is_(None))
                  .order_by(Metric.id))
            for run_id, key, value in conn.execute(mq):
                metrics.setdefault(run_id, {})[key] = value  # newest row per key wins
    scoped: dict[int, dict[tuple[str, str], float | None]] = {}
    for run_id, key, scope, value in cq.scoped_metrics(engine, run_ids=ids):
        scoped.setdefault(run_id, {})[(key, scope)] = value
    out = []
    for run_id, name, pipeline, started, finished, info_json in runs:
        info = json.loads(info_json) if info_json else {}
        out.append(RunRecord(id=run_id, name=name, pipeline=pipeline,
                             params=params.get(run_id, {}), metrics=metrics.get(run_id, {}),
                             scoped=scoped.get(run_id, {}),
                             info=info if isinstance(info, dict) else {},
                             started_at=started, finished_at=finished))
    return out


def flat_table_spec(pipeline: str | None) -> PipelineSpec:
    """The pipeline whose flat table to show: the one named, else the only one that has one."""
    if pipeline is not None:
        spec = get_pipeline(pipeline)
        if spec.flat_table is None:
            offering = ", ".join(s.name for s in list_pipelines() if s.flat_table) or "none"
            raise AdlabError(f"pipeline {pipeline!r} has no flat table; pipelines with one: "
                             f"{offering}")
        return spec
    offering_specs = [s for s in list_pipelines() if s.flat_table]
    if len(offering_specs) != 1:
        names = ", ".join(s.name for s in offering_specs) or "none"
        raise AdlabError(f"--flat needs --pipeline: pipelines with a flat table are {names}")
    return offering_specs[0]


def flat_table(engine: Engine, *, filters: RunFilter, sort: str | None = None) -> FlatTableView:
    """The flat table of ``filters.pipeline`` (or of the only pipeline that has one), one row
    per selected run, as the pipeline's ``flat_table`` hook lays it out."""
    import dataclasses

    spec = flat_table_spec(filters.pipeline)
    if filters.pipeline is None:
        filters = dataclasses.replace(filters, pipeline=spec.name)
    hook = load_ref(spec.flat_table or "")
    records = run_records(engine, filters=filters)
    return hook(records, sort) if sort is not None else hook(records)


def report_sections(records: Sequence[RunRecord]) -> list[SectionView]:
    """Every registered pipeline's report sections over the report's runs, by pipeline name."""
    out: list[SectionView] = []
    for spec in list_pipelines():
        if spec.report_sections:
            out.extend(load_ref(spec.report_sections)(records))
    return out
