"""The one writer of run rows: a :class:`~adlab.core.run_spec.RunSpec` becomes a ``runs`` row,
one ``params`` row per flat param and an event, whether the run is queued (:mod:`adlab.queue`)
or imported finished (:mod:`adlab.interchange.importers`).

Params are stored as :func:`adlab.core.values.value_text` and ``value_num``, which the
comparison queries read back by meaning; writing them anywhere else would let two writers
disagree on that form. Being the one writer, it is also the last check that no params or
info value looks like a credential (:func:`adlab.core.secrets.find_secret`): each source
refuses first with its own file and field, this catches any source that did not (a re-queued
config stored before the rule, a future writer).
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable, Mapping

from sqlmodel import Session

from adlab.core.run_spec import RunSpec
from adlab.core.secrets import find_secret, secret_refusal
from adlab.core.values import numeric_value, value_text
from adlab.db.metric_rows import record_metrics
from adlab.db.models import Event, Param, Run, RunStatus
from adlab.errors import ConfigError


def insert_run(session: Session, spec: RunSpec, *, status: str = RunStatus.queued.value,
               attempt: int = 0, info: Mapping[str, Any] | None = None,
               headline_metric: str | None = None, headline_value: float | None = None,
               started_at: dt.datetime | None = None, finished_at: dt.datetime | None = None,
               metrics: Iterable[tuple[str, str, float | None]] = (),
               event: str | None = None, event_source: str = "queue") -> int:
    """Add the run, its params, its run-level ``metrics`` (imported results) and one event;
    flushes (the caller commits). Returns the new run id."""
    for what, tree in (("param", spec.flat), ("info", info or {})):  # flat holds config's leaves
        found = find_secret(dict(tree))
        if found is not None:
            raise ConfigError(secret_refusal(f"run {spec.name!r} ({spec.pipeline}): {what} "
                                             f"`{found}`"))
    extra: dict[str, Any] = {}
    if started_at is not None:  # an imported run was made when it started, not when imported
        extra["created_at"] = started_at
    run = Run(
        name=spec.name, study=spec.study, pipeline=spec.pipeline, status=status,
        config_json=json.dumps(spec.config, sort_keys=True, default=str),
        config_hash=spec.config_hash, partition_hash=spec.partition_hash,
        group_hash=spec.group_hash, group_keys_json=json.dumps(spec.group_keys or []),
        priority=spec.priority, max_attempts=spec.max_attempts, attempt=attempt, seed=spec.seed,
        depends_on=spec.depends_on,
        info_json=json.dumps(dict(info), sort_keys=True, default=str) if info else None,
        headline_metric=headline_metric, headline_value=headline_value,
        started_at=started_at, finished_at=finished_at, **extra,
    )
    session.add(run)
    session.flush()
    run_id = int(run.id)
    for key, value in sorted(spec.flat.items()):
        session.add(Param(run_id=run_id, key=key,
                          value_text=value_text(value, spec.param_texts.get(key)),
                          value_num=numeric_value(value)))
    at = {"created_at": finished_at} if finished_at is not None else {}
    record_metrics(session, ({"run_id": run_id, "key": key, "scope": scope, "value": value, **at}
                             for key, scope, value in metrics))  # a repeated (key, scope): last
    if event is None:
        dep = f", waits for run {spec.depends_on}" if spec.depends_on else ""
        event = f"queued {spec.name} ({spec.pipeline}){dep}"
    session.add(Event(run_id=run_id, message=event, source=event_source))
    return run_id
