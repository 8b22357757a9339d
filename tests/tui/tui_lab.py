"""Helpers for the monitor tests: a small, fixed lab: rows written straight into a real SQLite database
with fixed timestamps, so screens render the same on every run (snapshot tests)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable

from sqlmodel import Session

from adlab.core.phase import Phase, phase_message
from adlab.db.models import Artifact, Event, Metric, Param, Run, RunItem, Worker

NOW = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.timezone.utc)
SIZE = (120, 32)


def fixed_clock() -> dt.datetime:
    return NOW


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def add_run(session: Session, *, name: str, status: str, pipeline: str = "diag",
            study: str = "demo", group: str = "g" * 64, params: dict[str, Any] | None = None,
            started: float | None = None, finished: float | None = None,
            done: int = 0, total: int | None = None, headline: tuple[str, float] | None = None,
            worker: str | None = None, device: str | None = None, error: str | None = None,
            message: str | None = None, created: float = 3600.0) -> Run:
    """Insert one run (and its params) with timestamps given in seconds before NOW."""
    params = params or {"value": 0.5}
    run = Run(name=name, study=study, pipeline=pipeline, status=status,
              config_json=json.dumps(params, sort_keys=True), config_hash=name.ljust(64, "0"),
              partition_hash=group[:64], group_hash=group[:64],
              created_at=ago(created), started_at=ago(started) if started is not None else None,
              finished_at=ago(finished) if finished is not None else None,
              heartbeat_at=ago(1) if status == "running" else None,
              progress_done=done, progress_total=total, progress_message=message,
              headline_metric=headline[0] if headline else None,
              headline_value=headline[1] if headline else None,
              worker=worker, device=device, error=error, attempt=1 if started else 0,
              git_commit="0123abcd" if started else None, git_dirty=False if started else None,
              seed=7, output_dir=f"exports/runs/{name}" if started else None)
    session.add(run)
    session.flush()
    for key, value in params.items():
        session.add(Param(run_id=run.id, key=key, value_text=str(value),
                          value_num=float(value) if isinstance(value, (int, float)) else None))
    return run


def build_lab(engine, root: Path) -> dict[str, int]:
    """Seven runs over three groups, two workers (one stale), metrics, events, artifacts."""
    ids: dict[str, int] = {}
    g_a, g_b, g_c = "a1" * 32, "b2" * 32, "c3" * 32
    with Session(engine) as s:
        def put(key: str, run: Run) -> None:
            ids[key] = int(run.id)

        put("best", add_run(s, name="patchcore_wrn50_lr1e-3", status="succeeded", pipeline="anomalib",
                            group=g_a, params={"model": "patchcore", "lr": 0.001, "seed": 1},
                            started=3000, finished=2400, done=15, total=15,
                            headline=("image_auroc", 0.9731), worker="gpu-0", device="cuda:0"))
        put("second", add_run(s, name="patchcore_wrn50_lr1e-4", status="succeeded", pipeline="anomalib",
                              group=g_a, params={"model": "patchcore", "lr": 0.0001, "seed": 1},
                              started=2900, finished=2300, done=15, total=15,
                              headline=("image_auroc", 0.9412), worker="gpu-1", device="cuda:1"))
        put("padim", add_run(s, name="padim_r18", status="succeeded", pipeline="anomalib",
                             group=g_b, params={"model": "padim", "lr": 0.001, "seed": 1},
                             started=2000, finished=1900, done=15, total=15,
                             headline=("image_auroc", 0.9120), worker="gpu-0", device="cuda:0"))
        put("running", add_run(s, name="mmad_qwen_fewshot1", status="running", pipeline="mmad",
                               group=g_c, params={"llm": "qwen2.5-vl", "few_shot": 1},
                               started=600, done=120, total=480, worker="gpu-1", device="cuda:1",
                               message=phase_message(Phase.SCORE, "bottle", 0, 3,
                                                     detail="000.png")))
        put("failed", add_run(s, name="draem_tiny", status="failed", pipeline="anomalib",
                              group=g_b, params={"model": "draem", "lr": 0.0001, "seed": 1},
                              started=1500, finished=1450, done=2, total=15, worker="gpu-0",
                              device="cuda:0", error="dtd_dir is not set"))
        put("queued", add_run(s, name="diag_smoke", status="queued", group="d4" * 32,
                              params={"steps": 3, "value": 0.5}))
        put("cancelled", add_run(s, name="diag_long", status="cancelled", group="d4" * 32,
                                 params={"steps": 100, "value": 0.5}, started=900, finished=800,
                                 done=40, total=100, worker="gpu-0", device="cuda:0",
                                 error="cancelled by user"))
        best = ids["best"]
        for scope, auroc, aupro in (("", 0.9731, 0.9102), ("bottle", 0.9950, 0.9400),
                                    ("cable", 0.9512, 0.8804)):
            s.add(Metric(run_id=best, key="image_auroc", value=auroc, scope=scope, created_at=ago(2400)))
            s.add(Metric(run_id=best, key="aupro", value=aupro, scope=scope, created_at=ago(2400)))
        s.add(Metric(run_id=best, key="pixel_f1_max", value=None, scope="cable",
                     note="no defect pixels", created_at=ago(2400)))
        s.add(Metric(run_id=ids["second"], key="image_auroc", value=0.9412, created_at=ago(2300)))
        s.add(Metric(run_id=ids["padim"], key="image_auroc", value=0.9120, created_at=ago(1900)))
        for i, message in enumerate(("queued patchcore_wrn50_lr1e-3 (anomalib)",
                                     "claimed by gpu-0 on cuda:0 (attempt 1)",
                                     "fit: 209 images", "export: model.onnx (opset 18)",
                                     "succeeded")):
            s.add(Event(run_id=best, ts=ago(3000 - 100 * i), source="gpu-0" if i else "queue",
                        message=message))
        report = root / "exports" / "runs" / "best" / "report.md"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("# PatchCore report\n\nimage AUROC **0.9731**\n", encoding="utf-8")
        heatmap = report.parent / "heatmap_bottle.png"
        heatmap.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        s.add(Artifact(run_id=best, kind="report", path="runs/best/report.md", sha256="0" * 64,
                       bytes=report.stat().st_size, created_at=ago(2400)))
        s.add(Artifact(run_id=best, kind="heatmap", path="runs/best/heatmap_bottle.png", sha256="1" * 64,
                       bytes=heatmap.stat().st_size, created_at=ago(2400)))
        s.add(Worker(name="gpu-0", host="node1", pid=101, device="cuda:0", status="idle",
                     started_at=ago(4000), heartbeat_at=ago(3), runs_done=4))
        s.add(Worker(name="gpu-1", host="node1", pid=102, device="cuda:1", status="busy",
                     current_run_id=ids["running"], started_at=ago(4000), heartbeat_at=ago(2),
                     runs_done=1))
        s.add(Worker(name="gpu-2", host="node2", pid=103, device="cuda:0", status="busy",
                     started_at=ago(4000), heartbeat_at=ago(600), runs_done=0))
        s.commit()
    return ids


def add_answers(engine, run_id: int, answers: list[tuple[str, str, str, str | None]],
                start: int = 0) -> None:
    """MMAD answer items: (image, question_type, correct letter, parsed letter or None)."""
    with Session(engine) as s:
        for i, (image, qtype, correct, parsed) in enumerate(answers, start=start):
            s.add(RunItem(run_id=run_id, key=f"answer:{image}:{i}",
                          value_json=json.dumps({"image": image, "question_type": qtype,
                                                 "correct_answer": correct, "parsed": parsed}),
                          updated_at=ago(10)))
        s.commit()


async def wait_for(pilot, predicate: Callable[[], Any], timeout: float = 20.0,
                   what: str = "condition") -> Any:
    """Let the app run until ``predicate()`` is truthy (the app keeps refreshing meanwhile)."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def runs_loaded(pilot) -> Any:
    from adlab.tui.screens.runs import RunsScreen

    screen = await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen)
                            and pilot.app.screen.refreshes and pilot.app.screen, what="first refresh")
    return screen


async def open_compare(pilot) -> Any:
    """Press ``c`` and wait for the compare screen's first complete read."""
    from adlab.tui.screens.compare import CompareScreen

    await pilot.press("c")
    return await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen)
                          and pilot.app.screen.loads and pilot.app.screen, what="comparison")


async def settled(pilot) -> Any:
    """The runs screen after its second refresh: snapshots and layout checks read a steady view."""
    screen = await runs_loaded(pilot)
    await wait_for(pilot, lambda: screen.refreshes >= 2, what="second refresh")
    await pilot.pause(0.1)
    return screen


def burst(app, keys) -> None:
    """Hand ``keys`` to the app all at once, as a paste or `tmux send-keys` over a laggy link
    delivers them: every key is queued before the first is handled (``pilot.press`` waits for
    the app to go idle between keys, which hides ordering bugs)."""
    from textual import events

    for key in keys:
        char = {"slash": "/", "space": " ", "question_mark": "?"}.get(key, key if len(key) == 1 else None)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


def many_runs(engine, n: int, **kwargs: Any) -> list[int]:
    """``n`` succeeded diag runs named ``sweep_lr_<i>`` (oldest first)."""
    with Session(engine) as s:
        ids = [int(add_run(s, name=f"sweep_lr_{i:03d}", status="succeeded", started=900 + i,
                           finished=800 + i, done=10, total=10, headline=("value", i / n),
                           **kwargs).id) for i in range(n)]
        s.commit()
    return ids
