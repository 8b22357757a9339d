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

from adlab.core.vocabulary import Direction, MetricInfo, Scale, fact
from adlab.pipelines.base import PipelineParams, PipelineSpec, RunContext


class DiagParams(PipelineParams):
    steps: int = Field(default=1, ge=0, le=1_000_000)
    step_seconds: float = Field(default=0.0, ge=0.0, le=3600.0)
    value: float = 0.5
    fail_at: int | None = Field(default=None, description="raise an error at this step")
    crash_at: int | None = Field(default=None, description="kill the process at this step")
    mode: Literal["ok", "flaky"] = "ok"
    seed: int | None = None
    label: str = ""


def run(ctx: RunContext) -> None:
    p: DiagParams = ctx.params  # type: ignore[assignment]
    done = ctx.state.get("done_steps", 0)
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
        ctx.state.put("done_steps", step + 1)
        ctx.progress(step + 1, p.steps)
    ctx.metric("value", p.value)
    ctx.metric("steps_run", float(p.steps - done))


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
