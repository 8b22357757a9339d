"""``diag``: a diagnostic pipeline for checking the lab itself (queue, workers, resume).

It does no AD work: it walks ``steps`` units of work of ``step_seconds`` each, remembers
finished units in the partial-result store (so a re-claimed run resumes), and can fail or
crash on purpose. Claim-throughput benchmarks and worker tests use it; users can use it to
check a new worker host (`adlab queue` a diag grid, watch it in the TUI).
"""
from __future__ import annotations

import os
import time
from typing import Literal

from pydantic import Field

from adlab.core.phase import Phase, phase_message
from adlab.core.vocabulary import Direction, MetricInfo, Scale, fact
from adlab.core.vocabulary import ArtifactKind
from adlab.pipelines.base import PipelineParams, PipelineSpec, RunContext
from adlab.pipelines.resume import resumable


class DiagParams(PipelineParams):
    steps: int = Field(default=1, ge=0, le=1_000_000)
    step_seconds: float = Field(default=0.0, ge=0.0, le=3600.0)
    value: float = 0.5
    fail_at: int | None = Field(default=None, description="raise an error at this step")
    crash_at: int | None = Field(default=None, description="kill the process at this step")
    mode: Literal["ok", "flaky"] = "ok"
    seed: int | None = None
    label: str = ""
    categories: list[str] = Field(
        default_factory=list,
        description="walk the steps once per category, recording value/steps_run and a result "
                    "file per category (a resumed run replays the finished ones)")


def _walk(ctx: RunContext, p: DiagParams, key: str, offset: int = 0, total: int | None = None,
          phase: str | None = None) -> int:
    """Do the steps not yet done under ``key``; returns how many this attempt did. ``phase``:
    the progress message the walk starts with (the monitor's phase label)."""
    done = ctx.state.get(key, 0)
    if done:
        ctx.log(f"resuming at step {done} of {p.steps}")
    for step in range(done, p.steps):
        ctx.check_cancelled()
        if p.fail_at is not None and step == p.fail_at:
            from adlab.errors import PipelineError

            raise PipelineError(f"diag: failing on purpose at step {step} (fail_at={p.fail_at})")
        if p.crash_at is not None and step == p.crash_at:
            os._exit(17)
        if p.step_seconds:
            time.sleep(p.step_seconds)
        ctx.state.put(key, step + 1)
        # the message once, at the walk's first step (a message is written on every call)
        ctx.progress(offset + step + 1, total or p.steps, message=phase if step == done else None)
    return p.steps - done


def _category(ctx: RunContext, p: DiagParams, index: int, category: str) -> dict:
    ran = _walk(ctx, p, f"done_steps/{category}", index * p.steps, p.steps * len(p.categories),
                phase=phase_message(Phase.TRAIN, category, index, len(p.categories)))
    value = p.value + index / 100.0
    ctx.metric("value", value, scope=category)
    ctx.metric("steps_run", float(ran), scope=category)
    out = ctx.output_dir / category / "result.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{category} {value}\n", encoding="utf-8")
    ctx.artifact(out, ArtifactKind.METADATA)
    return {"value": value, "steps_run": ran}


def run(ctx: RunContext) -> None:
    p: DiagParams = ctx.params  # type: ignore[assignment]
    if not p.categories:
        ran = _walk(ctx, p, "done_steps")
        ctx.metric("value", p.value)
        ctx.metric("steps_run", float(ran))
        return
    ran_now = 0  # steps_run of the run: what this attempt did (replayed categories: 0)

    def compute(rec: RunContext, index: int, category: str) -> dict:
        nonlocal ran_now
        result = _category(rec, p, index, category)
        ran_now += result["steps_run"]
        return result

    results = [resumable(ctx, f"category/{c}", lambda rec, i=i, c=c: compute(rec, i, c), label=c)
               for i, c in enumerate(p.categories)]
    ctx.metric("value", sum(r["value"] for r in results) / len(results))
    ctx.metric("steps_run", float(ran_now))


SPEC = PipelineSpec(
    name="diag",
    params_model=DiagParams,
    runner="adlab.pipelines.diag:run",
    description="Diagnostic: timed steps, resumable, optional failure/crash (tests the lab itself).",
    partition_keys=("label",),
    headline_metric="value",
    metrics={"value": MetricInfo(Direction.HIGHER, Scale.RAW, "", "the value set in the params"),
             "steps_run": fact("steps", "steps done by this attempt")},
    name_template="diag_{steps}x{step_seconds}s",
)
