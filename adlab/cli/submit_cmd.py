"""``adlab submit --slurm``: start workers on a Slurm cluster against the shared database."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from adlab.cli._common import JsonOption, db_url, emit_json, info, out_console


def submit_command(
    slurm: bool = typer.Option(False, "--slurm", help="Submit an sbatch array of workers."),
    workers: int = typer.Option(1, "--workers", "-n", help="Array tasks (one worker each)."),
    gpus: int = typer.Option(1, "--gpus", help="GPUs per worker (0: CPU workers)."),
    partition: Optional[str] = typer.Option(None, "--partition"),
    time_limit: Optional[str] = typer.Option(None, "--time", help="e.g. 12:00:00"),
    cpus: int = typer.Option(8, "--cpus", help="CPUs per worker."),
    mem: Optional[str] = typer.Option(None, "--mem", help="Memory per worker, e.g. 64G."),
    account: Optional[str] = typer.Option(None, "--account"),
    sbatch_arg: List[str] = typer.Option([], "--sbatch-arg", help="Extra #SBATCH line, repeatable."),
    script: Path = typer.Option(Path("exports/slurm/adlab-worker.sbatch"), "--script"),
    write_only: bool = typer.Option(False, "--write-only", help="Write the script, do not submit."),
    test_only: bool = typer.Option(False, "--test-only", help="sbatch --test-only: validate, do not queue."),
    as_json: bool = JsonOption,
) -> None:
    """Write and submit an sbatch array whose tasks each run `adlab worker --until-empty`."""
    from adlab.errors import AdlabError
    from adlab.settings import artifacts_root
    from adlab.worker.slurm import SlurmJob, render_sbatch, submit

    if not slurm:
        raise AdlabError("choose a launcher: `adlab submit --slurm` (the only one so far)")
    job = SlurmJob(workers=workers, gpus_per_worker=gpus, partition=partition, time=time_limit,
                   cpus_per_worker=cpus, mem=mem, account=account, extra=tuple(sbatch_arg))
    script = script.resolve()
    log_dir = script.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    text = render_sbatch(job, db_url=db_url(), artifacts=artifacts_root(), workdir=Path.cwd(),
                         log_dir=log_dir)
    script.write_text(text)
    answer = None if write_only else submit(script, test_only=test_only)
    if as_json:
        emit_json({"script": str(script), "submitted": answer is not None and not test_only,
                   "sbatch": answer})
        return
    info(f"wrote {script}")
    if answer is not None:
        out_console.print(answer, markup=False)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit_command)
