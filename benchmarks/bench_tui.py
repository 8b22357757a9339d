"""Benchmark: `adlab tui` with 10,000 runs in the database.

Builds a lab of N runs (bulk insert), then, headless at a fixed terminal size, measures:
- open: app start until the runs table is populated;
- refresh: one live refresh cycle (database read of what changed + filter/sort + table swap)
  while a writer updates running runs between refreshes, as workers do;
- filter: a filter change (no database read);
against baselines measured in the same run: a full read with `adlab.db.queries.list_runs` (what
a naive refresh would do each second) and filling Textual's DataTable with the same rows (what
a non-virtualised table would do).

Usage: python benchmarks/bench_tui.py [--runs 10000] [--refreshes 30]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def build_lab(url: str, n: int) -> None:
    from sqlalchemy import insert

    from adlab.db.engine import get_engine
    from adlab.db.models import Run, Worker

    rng = random.Random(0)
    now = dt.datetime.now(dt.timezone.utc)
    statuses = ["succeeded"] * 90 + ["failed"] * 5 + ["cancelled"] * 3 + ["queued"] * 1 + ["running"] * 1
    rows = []
    for i in range(n):
        status = rng.choice(statuses)
        started = now - dt.timedelta(seconds=rng.uniform(600, 86400 * 30))
        finished = started + dt.timedelta(seconds=rng.uniform(5, 3600))
        total = rng.choice([None, 15, 100, 480])
        done = total if status == "succeeded" and total else (rng.randint(0, total) if total else 0)
        rows.append(dict(
            name=f"{rng.choice(['patchcore', 'padim', 'efficientad', 'mmad_qwen'])}_{i:05d}",
            study=f"study{i % 17}", pipeline=rng.choice(["anomalib", "mmad", "read", "diag"]),
            status=status, config_json="{}", config_hash=f"{i:064d}",
            partition_hash=f"{i % 40:064d}", group_hash=f"{i % 120:064x}", group_keys_json="[]",
            created_at=started - dt.timedelta(seconds=30),
            started_at=None if status == "queued" else started,
            finished_at=finished if status in ("succeeded", "failed", "cancelled") else None,
            heartbeat_at=now if status == "running" else None,
            progress_done=done or 0, progress_total=total,
            headline_metric="image_auroc" if status == "succeeded" else None,
            headline_value=rng.random() if status == "succeeded" else None,
            worker=f"gpu-{i % 8}" if status != "queued" else None,
            device=f"cuda:{i % 8}" if status != "queued" else None,
            error="CUDA out of memory" if status == "failed" else None,
        ))
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Run), rows)
        conn.execute(insert(Worker), [dict(name=f"gpu-{k}", host="node", pid=k, device=f"cuda:{k}",
                                           status="busy", started_at=now, heartbeat_at=now)
                                      for k in range(8)])


def simulate_workers(url: str, step: int) -> None:
    """What workers write between two refreshes: progress of running runs, a finish."""
    from sqlalchemy import select, update
    from sqlmodel import Session

    from adlab.db.engine import get_engine
    from adlab.db.models import Run

    engine = get_engine(url)
    now = dt.datetime.now(dt.timezone.utc)
    with Session(engine) as s:
        running = s.exec(select(Run.id).where(Run.status == "running")).scalars().all()
        s.exec(update(Run).where(Run.id.in_(running)).values(progress_done=Run.progress_done + 1,
                                                               heartbeat_at=now))
        if running and step % 3 == 0:
            s.exec(update(Run).where(Run.id == running[0]).values(
                status="succeeded", finished_at=now, headline_metric="image_auroc",
                headline_value=0.9))
        s.commit()


def baselines(url: str, size: tuple[int, int]) -> dict[str, float]:
    from textual.app import App
    from textual.widgets import DataTable

    from adlab.db.engine import get_engine
    from adlab.db.queries import list_runs

    engine = get_engine(url)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        runs = list_runs(engine)
        times.append(time.perf_counter() - t0)
    out = {"list_runs_ms": statistics.median(times) * 1000}
    rows = [(str(r.id), r.status, r.name, r.pipeline, r.group_hash[:8],
             f"{r.progress_done}/{r.progress_total}", str(r.headline_value), r.worker or "")
            for r in runs]

    class Plain(App):
        def compose(self):  # noqa: ANN202
            yield DataTable()

    async def fill() -> float:
        app = Plain()
        async with app.run_test(size=size) as pilot:
            table = app.query_one(DataTable)
            table.add_columns("id", "status", "name", "pipeline", "group", "progress", "metric", "worker")
            t0 = time.perf_counter()
            table.add_rows(rows)
            await pilot.pause()
            return time.perf_counter() - t0

    out["datatable_fill_ms"] = asyncio.run(fill()) * 1000
    return out


async def measure_app(url: str, size: tuple[int, int], refreshes: int) -> dict[str, object]:
    from adlab.db.engine import get_engine
    from adlab.tui.app import LabApp
    from adlab.tui.runs_model import RunFilter
    from adlab.tui.screens.runs import RunsScreen

    t0 = time.perf_counter()
    app = LabApp(engine=get_engine(url), refresh_s=3600)  # refreshes are driven below
    async with app.run_test(size=size) as pilot:
        while not (isinstance(app.screen, RunsScreen) and app.screen.refreshes):
            await asyncio.sleep(0.005)
        open_s = time.perf_counter() - t0
        screen = app.screen
        rows_shown = len(screen.snapshot.view)

        async def one_refresh(fetch: bool = True) -> float:
            before = screen.refreshes
            screen.request_refresh(fetch)
            while screen.refreshes == before:  # the cycle time is taken inside the app
                await asyncio.sleep(0.01)
            return screen.last_cycle_ms

        cycles, reads, builds, applies = [], [], [], []
        for step in range(refreshes):
            await asyncio.to_thread(simulate_workers, url, step)
            cycles.append(await one_refresh())
            reads.append(screen.snapshot.read_ms)
            builds.append(screen.snapshot.build_ms)
            applies.append(screen.last_apply_ms)
        filters = []
        for f in (RunFilter(status="failed"), RunFilter(text="padim"), RunFilter()):
            screen.run_filter = f
            filters.append(await one_refresh(fetch=False))
        await pilot.pause()
    return {"open_s": open_s, "rows_shown": rows_shown, "cycles_ms": cycles, "reads_ms": reads,
            "builds_ms": builds, "applies_ms": applies, "filter_ms": filters}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--refreshes", type=int, default=30)
    parser.add_argument("--size", default="160x48")
    args = parser.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        os.environ["ADLAB_ARTIFACTS"] = str(Path(tmp) / "exports")
        t0 = time.perf_counter()
        build_lab(url, args.runs)
        print(f"built {args.runs} runs in {time.perf_counter() - t0:.1f} s (bulk insert)")
        base = baselines(url, size)
        result = asyncio.run(measure_app(url, size, args.refreshes))
        import subprocess

        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "adlab", "--db", str(Path(tmp) / "bench.db"), "tui",
                        "--capture", str(Path(tmp) / "cap.txt"), "--size", args.size],
                       check=True, capture_output=True)
        process_s = time.perf_counter() - t0
    cycles = sorted(result["cycles_ms"])
    p95 = cycles[min(len(cycles) - 1, int(0.95 * len(cycles)))]
    med = statistics.median(cycles)
    print(f"open to populated table : {result['open_s'] * 1000:7.0f} ms  "
          f"({result['rows_shown']} rows, terminal {args.size})")
    print(f"whole process           : {process_s * 1000:7.0f} ms  "
          "(`adlab tui --capture`: interpreter, imports, open, first table, exit)")
    print(f"refresh cycle           : median {med:5.1f} ms, p95 {p95:5.1f} ms, max {cycles[-1]:5.1f} ms "
          f"({len(cycles)} refreshes)")
    print(f"  of which (median)     : db read {statistics.median(result['reads_ms']):.1f} ms, "
          f"filter+sort {statistics.median(result['builds_ms']):.1f} ms, "
          f"table update {statistics.median(result['applies_ms']):.1f} ms")
    print(f"filter change           : median {statistics.median(result['filter_ms']):5.1f} ms")
    print(f"baseline list_runs (full read)      : {base['list_runs_ms']:7.1f} ms "
          f"-> refresh is {base['list_runs_ms'] / med:.1f}x faster")
    print(f"baseline DataTable fill ({args.runs} rows): {base['datatable_fill_ms']:7.1f} ms "
          f"-> open is {base['datatable_fill_ms'] / (result['open_s'] * 1000):.1f}x faster")
    ok = result["open_s"] < 2.0 and p95 < 100.0
    print("targets (open ~1 s, refresh < 100 ms):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
