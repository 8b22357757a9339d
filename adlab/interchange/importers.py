"""Bring results made elsewhere into the lab as real runs (status, params, metrics, groups).

Accepted files (``adlab import FILE``):
- **MLflow runs export CSV** (``mlflow.search_runs(...).to_csv``): one row per run; the name
  from ``tags.mlflow.runName`` or ``name``; ``params.<key>`` columns become parameters,
  ``metrics.<key>`` columns run-level metrics (``metrics.<key>[<scope>]``, as adlab exports
  them, per-scope metrics), ``tags.<key>`` columns provenance tags; ``status``
  (FINISHED/FAILED/KILLED, or adlab's succeeded/failed/cancelled; no column means FINISHED),
  ``start_time``/``end_time`` and MLflow's ``run_id`` are kept.
  Tags ``pipeline``, ``study``, ``group_keys`` and ``partition_keys`` (comma-separated) set
  those fields; a ``pipeline`` parameter works too.
- **adlab JSON** (``adlab export --format json``): ``{"adlab_export": 1, "runs": [...]}``.
- **The seed runner's ``answers_*.meta.json``** (one file or a folder of them): one MMAD run
  each (pipeline ``mmad``); when the answers file beside it exists, it is scored with MMAD's
  rules and the per-dataset x question-type accuracies are stored too.

MLflow writes every parameter as ``str(value)``, so its params are read back by
:func:`adlab.core.values.coerce_stringified` (``"2e-4"`` is 0.0002, ``"True"`` is true; the
spelling is kept for display); JSON and meta files carry typed values and are taken as they are.

Imported runs are identified and written like queued ones
(:func:`adlab.core.run_spec.make_run_spec`, :func:`adlab.db.runs.insert_run`). The evaluation
partition is the pipeline's partition keys when the run has them all, else the pipeline plus
the parameters whose last dotted part is in :data:`PARTITION_LEAVES` (dataset, categories,
few-shot count, sampled image set, leakage flag, ...), unless ``partition_keys`` are given
(option ``--partition-keys`` or the ``partition_keys`` tag). Without declared group keys the
group is every parameter except seed-like ones (:func:`adlab.core.grouping.is_seed_like`).
Each run records ``"imported from FILE"`` and an import key in ``info_json``; importing the
same file again skips runs already imported.

What is refused (one sentence naming the file, the line or run and the value; exit 1): a run
that has not finished (MLflow RUNNING/SCHEDULED, adlab queued/running) or an unknown status,
since an imported run is a result and a queued or running row would be claimed or waited on
by workers; a value that looks like a credential anywhere in a run (params, tags, info, name;
:func:`adlab.core.secrets.find_secret`); a file that is not UTF-8. A file is imported whole or
not at all: every run is read and checked before the first is written, and all are written in
one transaction; ``adlab import A B`` reads and checks every file before writing the first
(:func:`import_files`).

MMAD metrics convention (shared with the ``mmad`` pipeline and the report): key ``accuracy``,
scope ``"<dataset>/<question type>"`` for every cell of the MMAD table (including
``"<dataset>/Average"`` and ``"Average/<type>"``); scope ``""`` holds the overall average.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from adlab.config.yamlio import read_user_text
from adlab.core.grouping import names_param
from adlab.core.run_spec import make_run_spec
from adlab.core.secrets import find_secret, looks_like_secret, secret_refusal
from adlab.core.suggest import closest_first
from adlab.core.values import canonical, coerce_stringified, flatten, stable_hash
from adlab.db.models import FINISHED_STATUSES, Run, RunStatus
from adlab.db.runs import insert_run
from adlab.errors import AdlabError, NotFoundError

PARTITION_LEAVES = frozenset({
    "dataset", "datasets", "category", "categories", "category_set", "classes", "few_shot",
    "sample_per_folder", "sample_seed", "max_images", "image_set", "sampled_images",
    "test_limit", "image_size", "protocol", "eval_protocol", "split", "leakage",
    "similar_template", "scenario", "backbone_input",
})
MLFLOW_STATUS = {"FINISHED": "succeeded", "FAILED": "failed", "KILLED": "cancelled",
                 **{s.upper(): s for s in FINISHED_STATUSES}}
_UNFINISHED = {"RUNNING", "SCHEDULED", "QUEUED"}
META_RESULT_KEYS = ("accuracy", "processed", "errors", "elapsed_seconds")
META_INFO_KEYS = ("experiment_name", "timestamp")
_SCOPED = re.compile(r"^(?P<key>.+)\[(?P<scope>.*)\]$")


@dataclass
class ImportedRun:
    """One run as read from a file, before it is written."""

    name: str
    pipeline: str
    params: dict[str, Any]  # flat (dotted keys), typed values
    metrics: list[tuple[str, str, float | None]]  # (key, scope, value)
    status: str = RunStatus.succeeded.value
    study: str = ""
    group_keys: list[str] | None = None
    partition_keys: list[str] | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    headline_metric: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    import_key: str = ""
    # How a stringifying source (MLflow CSV) spelled each param; numbers keep it for display.
    param_texts: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    created: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # names already imported
    source: str = ""
    format: str = ""


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        return "meta"
    if name.endswith(".meta.json"):
        return "meta"
    if name.endswith(".csv"):
        return "mlflow_csv"
    if name.endswith(".json"):
        return "adlab_json"
    raise AdlabError(f"{path}: cannot tell the format from the name; use a .csv (MLflow runs "
                     "export), .json (adlab export) or answers_*.meta.json file, or pass --format")


def read_runs(path: Path, *, fmt: str | None = None, partition_keys: Sequence[str] | None = None,
              group_keys: Sequence[str] | None = None, study: str | None = None,
              pipeline: str | None = None) -> tuple[str, list[ImportedRun]]:
    """Parse ``path`` into runs (nothing written). Returns (format, runs)."""
    if not path.exists():
        raise NotFoundError(f"{path} does not exist; pass an MLflow runs CSV, an adlab JSON "
                            "export or an answers_*.meta.json file")
    fmt = fmt or detect_format(path)
    readers = {"mlflow_csv": _read_mlflow_csv, "adlab_json": _read_adlab_json, "meta": _read_meta}
    if fmt not in readers:
        raise AdlabError(f"unknown import format {fmt!r}; use one of: {', '.join(sorted(readers))}")
    runs = readers[fmt](path)
    if group_keys and runs:
        _check_group_keys(group_keys, runs, path)
    for run in runs:
        if pipeline:
            run.pipeline = pipeline
        if study is not None:
            run.study = study
        if group_keys:
            run.group_keys = list(group_keys)
        if partition_keys is not None:
            run.partition_keys = list(partition_keys)
    return fmt, runs


def _check_group_keys(group_keys: Sequence[str], runs: Sequence[ImportedRun], path: Path) -> None:
    """Refuse a --group-keys key that reads no parameter of the file's runs (every run would
    be grouped by None), naming their parameters, the closest first."""
    flat_keys = sorted(set().union(*(r.params for r in runs)))
    for key in group_keys:
        if not names_param(key, flat_keys):
            raise AdlabError(f"{path}: --group-keys {key!r} is not a parameter of its runs; "
                             f"their parameters{closest_first(key, flat_keys)}")


def import_file(engine: Engine, path: Path, *, fmt: str | None = None,
                partition_keys: Sequence[str] | None = None,
                group_keys: Sequence[str] | None = None, study: str | None = None,
                pipeline: str | None = None) -> ImportResult:
    """Read ``path`` and write its runs (skipping runs imported before)."""
    fmt, runs = read_runs(path, fmt=fmt, partition_keys=partition_keys, group_keys=group_keys,
                          study=study, pipeline=pipeline)
    result = write_runs(engine, runs, source=str(path))
    result.format = fmt
    return result


def import_files(engine: Engine, paths: Sequence[Path], **options: Any) -> list[ImportResult]:
    """:func:`import_file` for several files, reading and checking every file before the first
    is written: a refused file (a running run, a key-looking value, ...) leaves the lab as it
    was. ``options`` are :func:`read_runs`'s."""
    parsed = [(path, *read_runs(path, **options)) for path in paths]
    results = []
    for path, fmt, runs in parsed:
        result = write_runs(engine, runs, source=str(path))
        result.format = fmt
        results.append(result)
    return results


def _default_partition_keys(params: dict[str, Any]) -> list[str]:
    return sorted(k for k in params if k.rsplit(".", 1)[-1] in PARTITION_LEAVES)


def _spec_for(pipeline: str) -> Any:
    try:
        from adlab.pipelines import get_pipeline

        return get_pipeline(pipeline)
    except AdlabError:
        return None


def write_runs(engine: Engine, runs: Iterable[ImportedRun], *, source: str) -> ImportResult:
    """Insert runs with the same grouping functions as queued runs, in one transaction."""
    result = ImportResult(source=source)
    runs = list(runs)
    for run in runs:  # the readers refuse first, naming the line; this guards direct callers
        run.status = _finished_status(run.status, f"{source}: run {run.name!r}", mlflow=False)
    with Session(engine) as session:
        known = _existing_import_keys(session)
        for run in runs:
            run.import_key = run.import_key or stable_hash({
                "name": run.name, "pipeline": run.pipeline, "params": run.params,
                "metrics": sorted((k, s, v if v is not None else "null") for k, s, v in run.metrics),
                "origin": run.info.get("origin_id")})
            if run.import_key in known:
                result.skipped.append(run.name)
                continue
            known.add(run.import_key)
            result.created.append(_insert(session, run, source))
        session.commit()
    return result


def _existing_import_keys(session: Session) -> set[str]:
    keys: set[str] = set()
    rows = session.exec(select(Run.info_json).where(Run.info_json.contains('"import_key"'))).all()
    for (raw,) in rows:
        try:
            key = json.loads(raw).get("import_key")
        except (ValueError, AttributeError):
            continue
        if key:
            keys.add(key)
    return keys


def _insert(session: Session, run: ImportedRun, source: str) -> int:
    spec = _spec_for(run.pipeline)
    pkeys = run.partition_keys if run.partition_keys is not None else (
        list(spec.partition_keys) if spec is not None and all(k in run.params or any(
            p.startswith(k + ".") for p in run.params) for k in spec.partition_keys)
        else _default_partition_keys(run.params))
    non_group = tuple(spec.non_group_keys) if spec is not None else ()
    # The headline is a metric the run records (ranking reads runs.headline_value for it).
    recorded = {k for k, s, _ in run.metrics if s == ""}
    headline = run.headline_metric if run.headline_metric in recorded else None
    if headline is None and spec is not None and any(k == spec.headline_metric and s == ""
                                                      for k, s, _ in run.metrics):
        headline = spec.headline_metric
    if headline is None:
        headline = next((k for k, s, _ in run.metrics if s == ""), None)
    # a (key, scope) given twice: the last, as the metric writer keeps (adlab.db.metric_rows)
    headline_value = next((v for k, s, v in reversed(run.metrics) if k == headline and s == ""),
                          None)
    run_spec = make_run_spec(pipeline=run.pipeline, config=run.params, flat=run.params,
                             partition_keys=pkeys, non_group_keys=non_group,
                             group_keys=run.group_keys, name=run.name, study=run.study,
                             max_attempts=1, param_texts=run.param_texts)
    info = {**run.info, "imported_from": source, "provenance": f"imported from {source}",
            "import_key": run.import_key, "partition_keys": pkeys}
    return insert_run(session, run_spec, status=run.status, attempt=1, info=info,
                      headline_metric=headline, headline_value=headline_value,
                      started_at=run.started_at, finished_at=run.finished_at,
                      metrics=run.metrics, event=f"imported from {source}",
                      event_source="import")


# --- checks shared by the readers ------------------------------------------------------------

def _finished_status(value: Any, where: str, *, mlflow: bool) -> str:
    """The adlab status of a finished run, else one sentence refusing ``value``."""
    text = str(value).strip()
    status = MLFLOW_STATUS.get(text.upper()) if mlflow else (text if text in FINISHED_STATUSES
                                                              else None)
    if status is not None:
        return status
    allowed = ("FINISHED, FAILED, KILLED, succeeded, failed or cancelled" if mlflow
               else "succeeded, failed or cancelled")
    if text.upper() in _UNFINISHED:
        raise AdlabError(f"{where}: status {text!r} means the run has not finished, and a "
                         f"worker would claim or wait on it here; import only finished runs "
                         f"({allowed}), or remove it from the file")
    raise AdlabError(f"{where}: status {text!r} is not a run status; use {allowed}")


def _refuse_secret(value: Any, where: str, field: str = "field") -> None:
    found = find_secret(value)
    if found is not None:
        raise AdlabError(secret_refusal(f"{where}: {field} `{found}`"))


# --- readers ---------------------------------------------------------------------------------

def _number(text: str) -> float | None:
    text = (text or "").strip()
    if text == "" or text.lower() in ("nan", "none", "null"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _time(text: Any) -> dt.datetime | None:
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):  # MLflow's epoch milliseconds
        return dt.datetime.fromtimestamp(float(text) / 1000.0, tz=dt.timezone.utc)
    s = str(text).strip()
    if re.fullmatch(r"\d{11,}", s):
        return dt.datetime.fromtimestamp(int(s) / 1000.0, tz=dt.timezone.utc)
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _csv_list(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [k.strip() for k in text.split(",") if k.strip()]


def _read_mlflow_csv(path: Path) -> list[ImportedRun]:
    with io.StringIO(read_user_text(path, "import file"), newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if not any(c.startswith(("params.", "metrics.")) for c in header):
            raise AdlabError(f"{path}: no params.<key> or metrics.<key> columns; this is not an "
                             "MLflow runs export (mlflow.search_runs(...).to_csv)")
        if "tags.mlflow.runName" not in header and "name" not in header:
            raise AdlabError(f"{path}: needs a run-name column, tags.mlflow.runName or name")
        runs = []
        for line, row in enumerate(reader, start=2):
            runs.append(_mlflow_row(path, line, row))
    return runs


def _mlflow_row(path: Path, line: int, row: dict[str, str]) -> ImportedRun:
    name = (row.get("tags.mlflow.runName") or row.get("name") or "").strip()
    if not name:
        raise AdlabError(f"{path}, line {line}: the run has no name (tags.mlflow.runName / name "
                         "is empty); fill it in so the run can be told apart")
    params: dict[str, Any] = {}
    texts: dict[str, str] = {}
    metrics: list[tuple[str, str, float | None]] = []
    tags: dict[str, str] = {}
    for col, raw in row.items():
        if col is None:
            raise AdlabError(f"{path}, line {line}: more cells than header columns")
        text = (raw or "").strip()
        if looks_like_secret(text) or looks_like_secret(col):
            raise AdlabError(secret_refusal(f"{path}, line {line} (run {name!r}): column {col}"))
        if col.startswith("params."):
            if text != "":  # MLflow logs str(value): read the value back
                key = col[len("params."):]
                params[key], texts[key] = coerce_stringified(text), text
        elif col.startswith("metrics."):
            if text == "":
                continue
            key = col[len("metrics."):]
            scoped = _SCOPED.match(key)
            scope = ""
            if scoped:
                key, scope = scoped["key"], scoped["scope"]
            value = _number(text)
            if value is None and text.lower() not in ("nan", "none", "null"):
                raise AdlabError(f"{path}, line {line}: column {col} holds {text!r}, not a number")
            metrics.append((key, scope, value))
        elif col.startswith("tags.") and text != "":
            tags[col[len("tags."):]] = text
    status = _finished_status(row.get("status") or "FINISHED",
                              f"{path}, line {line} (run {name!r})", mlflow=True)
    pipeline = tags.pop("pipeline", None) or str(params.pop("pipeline", "") or "") or "imported"
    texts.pop("pipeline", None)
    info: dict[str, Any] = {"tags": tags} if tags else {}
    if row.get("run_id"):
        info["origin_id"] = f"mlflow:{row['run_id']}"
    if row.get("experiment_id"):
        info["mlflow_experiment_id"] = row["experiment_id"]
    return ImportedRun(
        name=name, pipeline=pipeline, params=params, metrics=metrics, status=status,
        study=tags.pop("study", "") or "", group_keys=_csv_list(tags.pop("group_keys", None)),
        partition_keys=_csv_list(tags.pop("partition_keys", None)),
        started_at=_time(row.get("start_time")), finished_at=_time(row.get("end_time")),
        headline_metric=tags.pop("headline_metric", None), info=info, param_texts=texts)


def _read_adlab_json(path: Path) -> list[ImportedRun]:
    try:
        doc = json.loads(read_user_text(path, "import file"))
    except json.JSONDecodeError as exc:
        raise AdlabError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise AdlabError(f"{path}: expected an adlab export {{\"adlab_export\": 1, \"runs\": [...]}}")
    runs = []
    for i, r in enumerate(doc["runs"]):
        if not isinstance(r, dict) or not r.get("name"):
            raise AdlabError(f"{path}: runs[{i}] has no name")
        _refuse_secret(r, f"{path}: runs[{i}]")
        status = _finished_status(r.get("status") or RunStatus.succeeded.value,
                                  f"{path}: runs[{i}] ({r['name']!r})", mlflow=False)
        params = r.get("params") or {}
        if not isinstance(params, dict):
            raise AdlabError(f"{path}: runs[{i}].params must be an object")
        metrics = []
        for j, m in enumerate(r.get("metrics") or []):
            if not isinstance(m, dict) or "key" not in m:
                raise AdlabError(f"{path}: runs[{i}].metrics[{j}] needs a key")
            if m.get("step") is not None:
                continue
            v = m.get("value")
            metrics.append((str(m["key"]), str(m.get("scope") or ""), None if v is None else float(v)))
        info = dict(r.get("info") or {})
        info.setdefault("origin_id", f"adlab:{r.get('id')}" if r.get("id") is not None else None)
        runs.append(ImportedRun(
            name=str(r["name"]), pipeline=str(r.get("pipeline") or "imported"),
            params=flatten(params), metrics=metrics,
            status=status, study=str(r.get("study") or ""),
            group_keys=list(r["group_keys"]) if r.get("group_keys") else None,
            partition_keys=list(r["partition_keys"]) if r.get("partition_keys") is not None else None,
            started_at=_time(r.get("started_at")), finished_at=_time(r.get("finished_at")),
            headline_metric=r.get("headline_metric"), info=info))
    return runs


def _read_meta(path: Path) -> list[ImportedRun]:
    files = sorted(path.glob("*.meta.json")) if path.is_dir() else [path]
    if not files:
        raise AdlabError(f"{path}: no answers_*.meta.json files in this folder")
    return [_meta_run(f) for f in files]


def _meta_run(path: Path) -> ImportedRun:
    try:
        meta = json.loads(read_user_text(path, "import file"))
    except json.JSONDecodeError as exc:
        raise AdlabError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(meta, dict) or "accuracy" not in meta:
        raise AdlabError(f"{path}: not a seed runner meta file (no \"accuracy\" field)")
    _refuse_secret(meta, str(path))
    name = str(meta.get("experiment_name") or path.name[:-len(".meta.json")])
    params = {k: v for k, v in flatten({k: v for k, v in meta.items()
                                        if k not in META_RESULT_KEYS + META_INFO_KEYS}).items()
              if not isinstance(v, (dict,))}
    metrics: list[tuple[str, str, float | None]] = []
    for key in META_RESULT_KEYS:
        if meta.get(key) is not None:
            metrics.append((key, "", float(meta[key])))
    answers = path.with_name(path.name[:-len(".meta.json")] + ".json")
    info: dict[str, Any] = {"timestamp": meta.get("timestamp"), "origin_id": f"meta:{path.name}"}
    if answers.is_file():
        metrics += _mmad_cells(answers)
        info["answers_file"] = answers.name
    stamp = _time(meta.get("timestamp"))
    finished = stamp
    started = (stamp - dt.timedelta(seconds=float(meta["elapsed_seconds"]))
               if stamp and meta.get("elapsed_seconds") is not None else None)
    return ImportedRun(name=name, pipeline="mmad", params=params, metrics=metrics,
                       started_at=started, finished_at=finished, headline_metric="accuracy",
                       info=info)


def _mmad_cells(answers: Path) -> list[tuple[str, str, float | None]]:
    """Score an MMAD answers file into ``accuracy`` metrics scoped ``<dataset>/<type>``."""
    from adlab.metrics.mmad import SUMMARY, score_answers

    try:
        records = json.loads(read_user_text(answers, "answers file"))
    except json.JSONDecodeError as exc:
        raise AdlabError(f"{answers} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    table = score_answers(records)
    cells = []
    for dataset, row in table.items():
        if dataset == SUMMARY:
            continue
        for qtype, pct in row.items():
            cells.append(("accuracy", f"{dataset}/{qtype}", float(pct)))
    return cells


def canonical_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters by meaning (used by tests and the exporters' round-trip check)."""
    return {k: canonical(v) for k, v in params.items()}
