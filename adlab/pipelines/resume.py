"""Resumable units of work (a category, a matrix entry) whose results survive a re-claim.

A new attempt of a run starts with none of the previous attempt's metric and artifact rows
(the claim removes them, so nothing is counted twice), but with its saved progress
(``ctx.state``). A unit finished by an earlier attempt is therefore not redone but *replayed*:
while the unit runs, :class:`Recorder` remembers every metric and artifact it reports; the
unit's result and those records are saved together; a later attempt re-records them through
the context. Every per-category result is thus present exactly once, whichever attempt
computed it.

:func:`resumable` is the whole pattern for a unit whose result is plain JSON;
:func:`load_unit`, :func:`save_unit` and :func:`replay` are its parts, for a pipeline that
needs them apart (patchcore_study keeps a fitted memory bank in memory between units).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from adlab.core.vocabulary import ArtifactKind
from adlab.pipelines.base import RunContext, artifact_kind

T = TypeVar("T")
_FORMAT = "unit/v1"  # saved units of older adlab versions (no records) are redone


class Recorder:
    """A context that forwards everything to ``ctx`` and remembers what was recorded."""

    def __init__(self, ctx: RunContext):
        self._ctx = ctx
        self.records: list[dict[str, Any]] = []

    def metric(self, key: str, value: float | None, *, scope: str = "", step: int | None = None,
               note: str | None = None) -> None:
        self._ctx.metric(key, value, scope=scope, step=step, note=note)
        self.records.append({"metric": key, "value": None if value is None else float(value),
                             "scope": scope, "step": step, "note": note})

    def artifact(self, path: Path, kind: ArtifactKind | str) -> None:
        self._ctx.artifact(path, kind)
        self.records.append({"artifact": str(Path(path).resolve()), "kind": artifact_kind(kind)})

    def __getattr__(self, name: str) -> Any:  # params, state, progress, log, ... as they are
        return getattr(self._ctx, name)


@dataclass
class SavedUnit:
    result: Any
    records: list[dict[str, Any]] = field(default_factory=list)


def load_unit(ctx: RunContext, key: str) -> SavedUnit | None:
    """The unit saved under ``key`` by an earlier attempt, or None when it must be (re)done:
    never saved, saved in an older format, or one of its artifact files is gone."""
    saved = ctx.state.get(key)
    if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
        return None
    unit = SavedUnit(result=saved.get("result"), records=list(saved.get("records") or []))
    if any("artifact" in r and not Path(r["artifact"]).is_file() for r in unit.records):
        return None
    return unit


def save_unit(ctx: RunContext, key: str, result: Any, recorder: Recorder) -> None:
    ctx.state.put(key, {"format": _FORMAT, "result": result, "records": recorder.records})


def replay(ctx: RunContext, unit: SavedUnit, label: str, *, what: str = "already done") -> Any:
    """Re-record a finished unit's metrics and artifacts in this attempt; returns its result."""
    for r in unit.records:
        if "metric" in r:
            ctx.metric(r["metric"], r["value"], scope=r.get("scope", ""), step=r.get("step"),
                       note=r.get("note"))
        else:
            ctx.artifact(Path(r["artifact"]), r["kind"])
    ctx.log(f"{label}: {what} in an earlier attempt; its {len(unit.records)} result(s) are "
            "recorded again, not recomputed")
    return unit.result


def resumable(ctx: RunContext, key: str, compute: Callable[[RunContext], T], *,
              label: str | None = None, valid: Callable[[Any], bool] = lambda _result: True) -> T:
    """``compute(ctx)`` once per run: a later attempt replays what it recorded instead.
    ``compute`` gets a recording context and returns a JSON-serialisable result; ``valid``
    may refuse a saved result (e.g. a file it names is gone) so the unit is redone."""
    unit = load_unit(ctx, key)
    if unit is not None and valid(unit.result):
        return replay(ctx, unit, label or key)
    recorder = Recorder(ctx)
    result = compute(recorder)  # type: ignore[arg-type]
    save_unit(ctx, key, result, recorder)
    return result
