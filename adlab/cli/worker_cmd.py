"""``adlab worker``: claim and execute runs until stopped (or the queue is empty)."""
from __future__ import annotations

from typing import Optional

import typer

from adlab.cli._common import db_url, info


def worker_command(
    device: str = typer.Option("cpu", "--device", help="cpu, auto, or cuda:N (one worker per GPU)."),
    once: bool = typer.Option(False, "--once", help="Execute at most one run, then exit."),
    max_runs: Optional[int] = typer.Option(None, "--max-runs", help="Exit after N runs."),
    until_empty: bool = typer.Option(False, "--until-empty", help="Exit when no run is left to claim."),
    name: Optional[str] = typer.Option(None, "--name", help="Worker name (default host-pid-random)."),
    poll: float = typer.Option(1.0, "--poll", help="Seconds between polls of an empty queue."),
    lease: Optional[float] = typer.Option(None, "--lease", help="Heartbeat lease in seconds (default $ADLAB_LEASE_S or 60)."),
    warm: Optional[bool] = typer.Option(
        None, "--warm/--cold",
        help="Warm: fork each run from a process that imported its pipeline's packages once "
             "(torch, anomalib: seconds saved per run). Cold: fork it from the worker; it "
             "imports them itself. Default $ADLAB_WORKER_MODE, else warm."),
) -> None:
    """Claim queued runs and execute each in its own process, with heartbeats."""
    from adlab.worker.loop import Worker, WorkerOptions

    opts = WorkerOptions(device=device, name=name, once=once, max_runs=max_runs,
                         until_empty=until_empty, poll_s=poll, lease_s=lease, warm=warm)
    worker = Worker(db_url(), opts, log=info)
    worker.run()
    info(f"worker {worker.name} stopped after {worker.runs_done} run(s)")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
