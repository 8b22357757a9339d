"""What the monitor's actions do, as plain functions over an engine (called from worker
threads). They reuse the queue's own commands so the TUI and the CLI behave the same; each
returns one line for the user and raises :class:`AdlabError` with a clear sentence on bad input.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy.engine import Engine

from adlab.errors import AdlabError


@dataclass
class BulkResult:
    """Outcome of one action applied to several runs: what worked and why the rest did not."""

    verb: str
    done: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        if self.done:
            parts.append(f"{self.verb} {len(self.done)} run(s): {', '.join(map(str, self.done[:8]))}"
                         + (" …" if len(self.done) > 8 else ""))
        parts.extend(self.errors[:3])
        if len(self.errors) > 3:
            parts.append(f"… and {len(self.errors) - 3} more error(s)")
        return "; ".join(parts) or f"nothing to {self.verb}"


def _each(verb: str, run_ids: Sequence[int], fn: Callable[[int], object]) -> BulkResult:
    result = BulkResult(verb)
    for run_id in run_ids:
        try:
            fn(run_id)
            result.done.append(run_id)
        except AdlabError as exc:
            result.errors.append(str(exc))
    return result


def cancel_runs(engine: Engine, run_ids: Sequence[int]) -> BulkResult:
    from adlab.queue import cancel

    return _each("cancelled", run_ids, lambda rid: cancel(engine, rid))


def retry_runs(engine: Engine, run_ids: Sequence[int]) -> BulkResult:
    from adlab.queue import retry

    return _each("retried", run_ids, lambda rid: retry(engine, rid))


def delete_runs(engine: Engine, run_ids: Sequence[int]) -> BulkResult:
    from adlab.queue import delete_run

    return _each("deleted", run_ids, lambda rid: delete_run(engine, rid))


def requeue_runs(engine: Engine, run_ids: Sequence[int]) -> BulkResult:
    """Queue a fresh run with each run's exact config (like ``adlab queue --repeat``)."""
    result = BulkResult("re-queued")
    for run_id in run_ids:
        try:
            result.done.extend(requeue_run(engine, run_id))
        except AdlabError as exc:
            result.errors.append(str(exc))
    return result


def requeue_run(engine: Engine, run_id: int) -> list[int]:
    """New run(s) with the stored config, name, study and group keys of ``run_id``. The params
    and seed are built as for any queued run; the stored hashes are kept, so the new run is a
    duplicate of, and ranked with, exactly the runs the original is (even when it was stored
    under an earlier grouping rule or imported with its own partition keys)."""
    from dataclasses import replace

    from pydantic import ValidationError

    from adlab.config.loader import format_validation_error
    from adlab.core.run_spec import make_run_spec
    from adlab.db.queries import get_run
    from adlab.pipelines import get_pipeline
    from adlab.queue import enqueue

    run = get_run(engine, run_id=run_id)
    spec = get_pipeline(run.pipeline)
    config = json.loads(run.config_json)
    try:
        params = spec.params_model.model_validate(config)
    except ValidationError as exc:
        raise AdlabError(format_validation_error(
            exc, f"run {run_id} (stored config no longer valid for pipeline {run.pipeline})")) from None
    run_spec = make_run_spec(
        pipeline=run.pipeline, config=config, params=params,
        derived=spec.derived(params) if spec.derived else None,
        partition_keys=spec.partition_keys, non_group_keys=spec.non_group_keys,
        group_keys=json.loads(run.group_keys_json or "[]") or None, name=run.name,
        study=run.study, priority=run.priority, max_attempts=run.max_attempts,
        depends_on=run.depends_on)
    run_spec = replace(run_spec, config_hash=run.config_hash, partition_hash=run.partition_hash,
                       group_hash=run.group_hash, seed=run.seed)
    return enqueue(engine, [run_spec], repeat=True).created


def queue_config(engine: Engine, path: str) -> str:
    """Expand a study file and queue its runs (identical queued/succeeded configs skipped)."""
    from adlab.config.loader import load_run_specs
    from adlab.queue import enqueue

    file = Path(path).expanduser()
    if not file.is_file():
        raise AdlabError(f"config file {file} does not exist; give the path of a study YAML")
    specs = load_run_specs(file)
    result = enqueue(engine, specs)
    text = f"queued {len(result.created)} run(s) from {file.name}"
    if result.skipped:
        text += f"; skipped {len(result.skipped)} identical to existing runs"
    return text


def export_report(engine: Engine, run_ids: Sequence[int], out: str) -> str:
    """Write the markdown report (``adlab report``) of the succeeded runs among ``run_ids``."""
    from adlab.analysis.report import RunFilter, render_report

    if not run_ids:
        raise AdlabError("no runs selected; mark runs with space or narrow the filter first")
    path = render_report(engine, out=Path(out).expanduser(),
                         filters=RunFilter(run_ids=tuple(run_ids), statuses=("succeeded",)))
    return f"report written to {path}"
