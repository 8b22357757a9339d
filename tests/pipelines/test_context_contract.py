"""One contract, two contexts: the worker's (database rows in a real SQLite lab) and the
in-memory one must record metrics, artifacts, progress, state, logs, info and cancellation
the same way, so a pipeline tested with ``LocalRunContext`` behaves the same in the worker."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from adlab.core.vocabulary import ArtifactKind
from adlab.errors import PipelineError
from adlab.pipelines.base import RunCancelled, RunContext
from adlab.pipelines.diag import DiagParams


@dataclass
class Probe:
    """Reads back what a context recorded, in one shape for both implementations."""

    ctx: RunContext[DiagParams]
    metrics: Callable[[], list[tuple[str, float | None, str, int | None]]]
    artifacts: Callable[[], list[tuple[str, str, int]]]  # (kind, sha256, bytes)
    logs: Callable[[], list[tuple[str, str]]]  # (level, message)
    info: Callable[[], dict[str, Any]]
    progress: Callable[[], tuple[int | None, int | None, str | None]]
    cancel: Callable[[], None]


def _local(tmp_path: Path) -> Iterator[Probe]:
    from adlab.pipelines.local import LocalRunContext

    ctx = LocalRunContext(params=DiagParams(steps=2), output_dir=tmp_path)

    def progress() -> tuple[int | None, int | None, str | None]:
        done, total = ctx.progress_log[-1] if ctx.progress_log else (None, None)
        return done, total, ctx.progress_message

    def cancel() -> None:
        ctx.cancelled = True

    yield Probe(ctx=ctx, metrics=lambda: list(ctx.metrics),
                artifacts=lambda: [(a["kind"], a["sha256"], a["bytes"]) for a in ctx.artifacts],
                logs=lambda: list(ctx.logs), info=lambda: dict(ctx.info), progress=progress,
                cancel=cancel)


def _worker(tmp_path: Path) -> Iterator[Probe]:
    from sqlmodel import Session, select

    from adlab.config.loader import build_run_specs
    from adlab.db.engine import get_engine
    from adlab.db.models import Artifact, Event, Metric, Run
    from adlab.queue import cancel, claim, enqueue
    from adlab.settings import database_url
    from adlab.worker.context import DbRunContext

    engine = get_engine(database_url())
    [rid] = enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 2})).created
    run = claim(engine, worker="contract", device="cpu")
    assert run is not None and run.id == rid
    ctx = DbRunContext(engine, run, params=DiagParams(steps=2), output_dir=tmp_path, device="cpu",
                       headline_metric=None)

    def rows(model: Any, *cols: Any) -> list[tuple]:
        with Session(engine) as s:
            return [tuple(r) for r in s.exec(select(*cols).where(model.run_id == rid)
                                              .order_by(model.id)).all()]

    def info() -> dict[str, Any]:
        with Session(engine) as s:
            raw = s.exec(select(Run.info_json).where(Run.id == rid)).one()
        return json.loads(raw) if raw else {}

    def progress() -> tuple[int | None, int | None, str | None]:
        with Session(engine) as s:
            return tuple(s.exec(select(Run.progress_done, Run.progress_total, Run.progress_message)
                                .where(Run.id == rid)).one())

    def cancel_run() -> None:
        cancel(engine, rid)
        ctx._last_cancel_check = 0.0  # the next check reads the flag, not the 1 s throttle

    yield Probe(ctx=ctx,
                metrics=lambda: rows(Metric, Metric.key, Metric.value, Metric.scope, Metric.step),
                artifacts=lambda: rows(Artifact, Artifact.kind, Artifact.sha256, Artifact.bytes),
                logs=lambda: [(lvl, msg) for lvl, msg, src in
                              rows(Event, Event.level, Event.message, Event.source)
                              if src == "pipeline"],
                info=info, progress=progress, cancel=cancel_run)
    ctx.close()


@pytest.fixture(params=["worker", "memory"])
def probe(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Probe]:
    yield from (_worker if request.param == "worker" else _local)(tmp_path)


def test_both_contexts_satisfy_the_protocol(probe: Probe) -> None:
    assert isinstance(probe.ctx, RunContext)
    assert isinstance(probe.ctx.params, DiagParams) and probe.ctx.params.steps == 2
    assert probe.ctx.device == "cpu" and probe.ctx.inputs == []


def test_metrics_keep_scope_step_and_undefined_values(probe: Probe) -> None:
    ctx = probe.ctx
    ctx.metric("image_auroc", 0.9)
    ctx.metric("image_auroc", 0.75, scope="bottle")
    ctx.metric("loss", 1, step=3)
    ctx.metric("pixel_aupro", float("nan"), note="no masks")
    ctx.metric("f1", None)
    assert probe.metrics() == [("image_auroc", 0.9, "", None), ("image_auroc", 0.75, "bottle", None),
                               ("loss", 1.0, "", 3), ("pixel_aupro", None, "", None),
                               ("f1", None, "", None)]


def test_a_metric_recorded_again_replaces_the_earlier_value(probe: Probe) -> None:
    ctx = probe.ctx
    ctx.metric("fit_s", 2.0, scope="woven")
    ctx.metric("loss", 0.5, step=1)
    ctx.metric("fit_s", 1.0)
    ctx.metric("fit_s", 3.0, scope="woven")  # e.g. a write retried after its commit landed
    ctx.metric("loss", 0.4, step=1)
    ctx.metric("loss", 0.3, step=2)
    # replaced in place: the row keeps its id, so its place among the others
    assert probe.metrics() == [("fit_s", 3.0, "woven", None), ("loss", 0.4, "", 1),
                               ("fit_s", 1.0, "", None), ("loss", 0.3, "", 2)]


def test_artifacts_take_the_enum_or_its_name_and_refuse_unknown_kinds(probe: Probe,
                                                                      tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "predictions.json"
    path.write_text("[]")
    probe.ctx.artifact(path, ArtifactKind.PREDICTIONS)
    probe.ctx.artifact(path, "heatmap")
    digest = hashlib.sha256(b"[]").hexdigest()
    assert probe.artifacts() == [("predictions", digest, 2), ("heatmap", digest, 2)]
    with pytest.raises(PipelineError, match=r"unknown artifact kind 'heatmaps'; known kinds: .*"
                                            r"heatmap.*ArtifactKind"):
        probe.ctx.artifact(path, "heatmaps")
    assert len(probe.artifacts()) == 2


def test_progress_keeps_the_latest_count_and_message(probe: Probe) -> None:
    probe.ctx.progress(0, 4, message="scoring")
    probe.ctx.progress(4, 4)
    assert probe.progress() == (4, 4, "scoring")
    assert probe.logs() == []  # a progress message is a status line, not a log line


def test_logs_keep_level_and_order(probe: Probe) -> None:
    probe.ctx.log("started")
    probe.ctx.log("slow disk", level="warning")
    assert probe.logs() == [("info", "started"), ("warning", "slow disk")]


def test_state_round_trips_json_values_by_prefix(probe: Probe) -> None:
    state = probe.ctx.state
    state.put("category:bottle", [{"score": 0.5}])
    state.put("category:cable", {"done": True})
    state.put("other", 3)
    state.put("other", 4)
    assert state.get("category:bottle") == [{"score": 0.5}]
    assert state.get("missing", "default") == "default"
    assert state.items("category:") == {"category:bottle": [{"score": 0.5}],
                                         "category:cable": {"done": True}}
    assert state.get("other") == 4
    with pytest.raises(TypeError):
        state.put("bad", object())


def test_set_info_merges_keys(probe: Probe) -> None:
    probe.ctx.set_info("weights", {"source": "random-init"})
    probe.ctx.set_info("parity", 0.001)
    probe.ctx.set_info("weights", {"source": "file"})
    assert probe.info() == {"weights": {"source": "file"}, "parity": 0.001}


def test_check_cancelled_raises_only_after_a_cancel(probe: Probe) -> None:
    probe.ctx.check_cancelled()
    probe.cancel()
    with pytest.raises(RunCancelled, match="cancelled"):
        probe.ctx.check_cancelled()
