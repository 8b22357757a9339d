"""Write runs in the layouts ``adlab import`` reads: MLflow runs CSV and adlab JSON.

CSV columns (MLflow's ``search_runs`` layout): ``run_id``, ``tags.mlflow.runName``, ``status``
(FINISHED/FAILED/KILLED/RUNNING/SCHEDULED), ``start_time``, ``end_time``, ``params.<key>``,
``metrics.<key>`` (run level) and ``metrics.<key>[<scope>]`` (per category / dataset), and
``tags.pipeline``, ``tags.study``, ``tags.group_keys``, ``tags.partition_keys``,
``tags.headline_metric`` so a re-import groups the runs exactly as here. Rows in run-id order,
columns sorted, numbers written with ``repr`` (exact round trip): same database, same bytes.

``adlab import`` takes only finished runs (a queued or running row would be claimed, or waited
on, in the importing lab), so ``adlab export`` writes only those unless statuses are asked for:
:func:`select_for_export` narrows the filter and counts what it leaves out, and counts the
unfinished runs an explicit ``--status`` asks for, so the command can say so in one line.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from adlab.pipelines.declared import partition_keys_of
from adlab.core.values import coerce_stringified
from adlab.db.run_filter import RunFilter, filter_clauses
from adlab.db.engine import reader
from adlab.db.models import FINISHED_STATUSES, Metric, Param, Run, RunStatus
from adlab.errors import AdlabError

STATUS_TO_MLFLOW = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED",
                    "running": "RUNNING", "queued": "SCHEDULED"}
FORMATS = ("csv", "json")
UNFINISHED_STATUSES = tuple(s.value for s in RunStatus if s.value not in FINISHED_STATUSES)


@dataclass(frozen=True)
class ExportSelection:
    """Which runs an export writes, and the unfinished runs (which import refuses) around it."""

    filters: RunFilter
    left_out: int = 0  # unfinished runs the default (finished only) left out
    unfinished: int = 0  # unfinished runs written because the given statuses asked for them


def _count(engine: Engine, filters: RunFilter) -> int:
    with reader(engine).connect() as conn:
        return int(conn.execute(select(func.count(Run.id)).where(*filter_clauses(filters))).scalar_one())


def select_for_export(engine: Engine, filters: RunFilter, *, statuses_given: bool) -> ExportSelection:
    """``filters`` as the export writes them: without given statuses, the finished runs only
    (what ``adlab import`` reads back), counting the unfinished ones that leaves out; with given
    statuses (``()`` = all), those, counting how many of them have not finished."""
    asked = filters.statuses or UNFINISHED_STATUSES
    unfinished = tuple(s for s in UNFINISHED_STATUSES if s in asked)
    n = _count(engine, replace(filters, statuses=unfinished)) if unfinished else 0
    if statuses_given:
        return ExportSelection(filters, unfinished=n)
    return ExportSelection(replace(filters, statuses=FINISHED_STATUSES), left_out=n)


def _stored_value(text: str) -> Any:
    """A stored parameter back as JSON: numbers, booleans, lists parsed; other text as is."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def collect_runs(engine: Engine, *, filters: RunFilter | None = None) -> list[dict[str, Any]]:
    """Every filtered run with its params and run-level metrics, ready to write."""
    q = (select(Run.id, Run.name, Run.study, Run.pipeline, Run.status, Run.seed,
                Run.group_keys_json, Run.info_json, Run.headline_metric, Run.started_at,
                Run.finished_at)
         .where(*filter_clauses(filters)).order_by(Run.id))
    runs: dict[int, dict[str, Any]] = {}
    with reader(engine).connect() as conn:
        for (rid, name, study, pipeline, status, seed, gk, info_json, headline, started,
             finished) in conn.execute(q):
            info = json.loads(info_json) if info_json else {}
            runs[rid] = {"id": rid, "name": name, "study": study, "pipeline": pipeline,
                         "status": status, "seed": seed, "group_keys": json.loads(gk or "[]"),
                         "partition_keys": partition_keys_of(pipeline, info_json),
                         "headline_metric": headline,
                         "started_at": started.isoformat() if started else None,
                         "finished_at": finished.isoformat() if finished else None,
                         "info": info, "params": {}, "metrics": []}
        ids = sorted(runs)
        for start in range(0, len(ids), 30000):
            chunk = ids[start:start + 30000]
            for rid, key, text in conn.execute(
                    select(Param.run_id, Param.key, Param.value_text)
                    .where(Param.run_id.in_(chunk)).order_by(Param.run_id, Param.key)):
                runs[rid]["params"][key] = _stored_value(text)
            for rid, key, scope, value in conn.execute(
                    select(Metric.run_id, Metric.key, Metric.scope, Metric.value)
                    .where(Metric.run_id.in_(chunk), Metric.step.is_(None))
                    .order_by(Metric.run_id, Metric.key, Metric.scope, Metric.id)):
                runs[rid]["metrics"].append({"key": key, "scope": scope, "value": value})
    return [runs[i] for i in ids]


def to_json(runs: list[dict[str, Any]]) -> str:
    return json.dumps({"adlab_export": 1, "runs": runs}, indent=2, sort_keys=True,
                      ensure_ascii=False, allow_nan=False) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _param_cell(value: Any) -> str:
    """A param as ``adlab import`` reads it back (coerce_stringified): a string that would read
    as a number, boolean or list (``"1.10"``) is written as a JSON string literal."""
    if isinstance(value, str) and coerce_stringified(value) != value:
        return json.dumps(value, ensure_ascii=False)
    return _cell(value)


def _metric_column(key: str, scope: str) -> str:
    return f"metrics.{key}" if not scope else f"metrics.{key}[{scope}]"


def to_csv(runs: list[dict[str, Any]]) -> str:
    param_cols = sorted({f"params.{k}" for r in runs for k in r["params"]})
    metric_cols = sorted({_metric_column(m["key"], m["scope"]) for r in runs for m in r["metrics"]})
    extra_tags = sorted({f"tags.{k}" for r in runs for k in (r["info"].get("tags") or {})}
                        - {"tags.pipeline", "tags.study", "tags.group_keys", "tags.partition_keys",
                           "tags.headline_metric", "tags.mlflow.runName"})
    header = (["run_id", "tags.mlflow.runName", "status", "start_time", "end_time"] + param_cols
              + metric_cols + ["tags.pipeline", "tags.study", "tags.group_keys",
                               "tags.partition_keys", "tags.headline_metric"] + extra_tags)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in runs:
        row: dict[str, str] = {
            "run_id": str(r["id"]), "tags.mlflow.runName": r["name"],
            "status": STATUS_TO_MLFLOW.get(r["status"], r["status"].upper()),
            "start_time": r["started_at"] or "", "end_time": r["finished_at"] or "",
            "tags.pipeline": r["pipeline"], "tags.study": r["study"],
            "tags.group_keys": ",".join(r["group_keys"]),
            "tags.partition_keys": ",".join(r["partition_keys"]),
            "tags.headline_metric": r["headline_metric"] or "",
        }
        for k, v in r["params"].items():
            row[f"params.{k}"] = _param_cell(v)
        for m in r["metrics"]:
            row[_metric_column(m["key"], m["scope"])] = "nan" if m["value"] is None else repr(m["value"])
        for k, v in (r["info"].get("tags") or {}).items():
            row.setdefault(f"tags.{k}", _cell(v))
        writer.writerow([row.get(c, "") for c in header])
    return buf.getvalue()


def export_runs(engine: Engine, *, out: Path | None, fmt: str = "csv",
                filters: RunFilter | None = None) -> tuple[str, int]:
    """Write the filtered runs as ``fmt`` to ``out`` (or return the text when ``out`` is None).
    Returns (text, number of runs)."""
    if fmt not in FORMATS:
        raise AdlabError(f"unknown export format {fmt!r}; use csv or json")
    runs = collect_runs(engine, filters=filters)
    text = to_csv(runs) if fmt == "csv" else to_json(runs)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return text, len(runs)
