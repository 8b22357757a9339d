"""``adlab demo``: the whole lab on generated data, start to finish, in a couple of minutes."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import typer

from adlab.cli._common import db_url, err_console, info, out_console

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "demo.yaml"


def _watch_progress(engine, run_ids: list[int], done: Callable[[], bool]) -> None:  # noqa: ANN001
    """Progress bars on stderr from what the worker's runs write to the database, until
    ``done()``; the runs are read once more after that, so the bars end on their final states."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from adlab.db.queries import list_runs

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[state]}"),
                  TimeElapsedColumn(), console=err_console.get(), transient=False) as progress:
        tasks = {}
        while True:
            final = done()
            for r in list_runs(engine, ids=run_ids):
                if r.id not in tasks:
                    tasks[r.id] = progress.add_task(f"run {r.id} {r.name}", total=None, state=r.status)
                total = r.progress_total or None
                completed = r.progress_done if r.status != "succeeded" else (total or 1)
                progress.update(tasks[r.id], total=total or (1 if r.status == "succeeded" else None),
                                completed=completed, state=(r.progress_message or r.status)[:40]
                                if r.status == "running" else r.status)
            if final:
                break
            time.sleep(0.5)


def _start_worker(device: str, log_path: Path) -> subprocess.Popen:
    """The demo's worker, as its own process exactly as a user would start one. Not a thread
    of this process: the worker forks a child per run, and a fork while another thread holds
    an import lock (the progress display imports rich lazily) leaves the child hung forever."""
    cmd = [sys.executable, "-m", "adlab", "--db", db_url(), "worker", "--until-empty",
           "--device", device, "--poll", "0.5"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def demo_command(
    out: Path = typer.Option(Path("exports/demo"), "--out", help="Where the demo data and report go."),
    device: str = typer.Option("auto", "--device", help="cpu, auto or cuda:N for the demo worker."),
    repeat: bool = typer.Option(False, "--repeat", help="Run again even if the demo already ran in this lab."),
    report: Optional[Path] = typer.Option(None, "--report", help="Report path (default OUT/report.md)."),
) -> None:
    """Generate synthetic MVTec-style data, queue PatchCore and PaDiM on two categories, run them
    with a worker, and print the grouped comparison, the models ranked by their mean over the
    categories, and the report path."""
    from adlab.config.loader import load_run_specs
    from adlab.data.synth import generate_synthetic
    from adlab.db.engine import get_engine
    from adlab.queue import enqueue

    out = out.resolve()
    data_dir = out / "data"
    if not (data_dir / "adlab_synth.json").exists():
        summary = generate_synthetic(data_dir, categories=["woven", "washer"], seed=0, image_size=128)
        info(f"generated synthetic data in {summary.root} ({', '.join(summary.categories)})")
    os.environ["ADLAB_DEMO_DATA"] = str(data_dir)
    engine = get_engine(db_url())
    specs = load_run_specs(DEMO_CONFIG)
    result = enqueue(engine, specs, repeat=repeat)
    run_ids = list(result.created) + [s["existing_run"] for s in result.skipped]
    info(f"database {db_url()}: queued {len(result.created)} run(s)"
         + (f", {len(result.skipped)} already done (use --repeat to run again)" if result.skipped else ""))
    err_console.print("[yellow]note:[/] no pretrained weights are available offline, so the backbones "
                      "are randomly initialised: the numbers show the lab working, not model quality.")
    if result.created:
        log_path = out / "worker.log"
        worker = _start_worker(device, log_path)
        try:
            _watch_progress(engine, run_ids, lambda: worker.poll() is not None)
        finally:
            if worker.poll() is None:  # interrupted: the worker releases its run on SIGTERM
                worker.terminate()
                worker.wait()
        if worker.returncode != 0:
            err_console.print(f"the demo worker exited with {worker.returncode}; its log: {log_path}",
                              markup=False)
    _print_results(engine, run_ids, report or out / "report.md")


def _print_results(engine, run_ids: list[int], report_path: Path) -> None:  # noqa: ANN001
    """The grouped comparison (models ranked within each category), the benchmark table
    (categories x models, mean over seeds) with the models ranked by their category mean, and
    the markdown report."""
    from adlab.analysis.compare import RunFilter, compare
    from adlab.analysis.pivot import pivot_category
    from adlab.analysis.report import render_report
    from adlab.cli.compare_cmd import print_comparison, print_pivots
    from adlab.db.queries import list_runs

    runs = list_runs(engine, ids=run_ids)
    failed = [r for r in runs if r.status != "succeeded"]
    done = RunFilter(run_ids=tuple(run_ids))
    if len(failed) < len(runs):
        print_comparison(compare(engine, metrics=["image_auroc", "pixel_auroc", "aupro"], filters=done))
        print_pivots(pivot_category(engine, metrics=["image_auroc"], filters=done))
        path = render_report(engine, out=report_path, filters=done,
                             metrics=["image_auroc", "pixel_auroc", "aupro", "pixel_ap"],
                             title="adlab demo: PatchCore vs PaDiM on synthetic data (random-init backbones)")
        out_console.print(f"report: {path}")
    for r in failed:
        err_console.print(f"run {r.id} {r.name} {r.status}: {r.error}", markup=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
