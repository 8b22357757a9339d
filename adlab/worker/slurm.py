"""Launch workers on a Slurm cluster: one sbatch array, each task a worker on its own GPU.

Most AD labs share a Slurm cluster; adlab does not invent its own scheduler. Every array task
runs ``adlab worker --device cuda:0 --until-empty`` against the shared database (Slurm sets
CUDA_VISIBLE_DEVICES to the task's GPU, so cuda:0 is that GPU) and exits when no run is left.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from adlab.errors import AdlabError

_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")


@dataclass(frozen=True)
class SlurmJob:
    workers: int = 1            # array tasks = workers
    gpus_per_worker: int = 1    # 0 for CPU workers
    partition: str | None = None
    time: str | None = None     # Slurm time limit, e.g. 12:00:00 or 1-00:00:00
    cpus_per_worker: int = 8
    mem: str | None = None      # e.g. 64G
    job_name: str = "adlab-worker"
    account: str | None = None
    extra: tuple[str, ...] = ()  # more #SBATCH lines, e.g. "--constraint=a100"

    def validate(self) -> None:
        if self.workers < 1:
            raise AdlabError(f"--workers {self.workers}: need at least one worker")
        if self.gpus_per_worker < 0:
            raise AdlabError(f"--gpus {self.gpus_per_worker}: must be 0 or more")
        if self.time and not _TIME.match(self.time):
            raise AdlabError(f"--time {self.time!r}: use Slurm's format, e.g. 12:00:00 or 1-00:00:00")


def render_sbatch(job: SlurmJob, *, db_url: str, artifacts: Path, workdir: Path,
                  python: str = sys.executable, log_dir: Path) -> str:
    """The sbatch script text (deterministic; written to a file and submitted)."""
    job.validate()
    if db_url.startswith("sqlite"):
        note = ("# SQLite works only when every node sees the same file on a filesystem with working\n"
                "# locks; prefer PostgreSQL (ADLAB_DB=postgresql+psycopg://...) for a cluster.\n")
    else:
        note = ""
    lines = ["#!/bin/bash", f"#SBATCH --job-name={job.job_name}", f"#SBATCH --array=0-{job.workers - 1}",
             f"#SBATCH --cpus-per-task={job.cpus_per_worker}",
             f"#SBATCH --output={log_dir}/%x-%A_%a.out"]
    if job.gpus_per_worker:
        lines.append(f"#SBATCH --gres=gpu:{job.gpus_per_worker}")
    for flag, value in (("partition", job.partition), ("time", job.time), ("mem", job.mem),
                        ("account", job.account)):
        if value:
            lines.append(f"#SBATCH --{flag}={value}")
    lines += [f"#SBATCH {e}" for e in job.extra]
    device = "cuda:0" if job.gpus_per_worker else "cpu"
    body = f"""
{note}set -euo pipefail
cd {shlex.quote(str(workdir))}
export ADLAB_DB={shlex.quote(db_url)}
export ADLAB_ARTIFACTS={shlex.quote(str(artifacts))}
export MALLOC_MMAP_THRESHOLD_=131072
exec {shlex.quote(python)} -m adlab worker --device {device} --until-empty \\
    --name "slurm-${{SLURM_ARRAY_JOB_ID}}-${{SLURM_ARRAY_TASK_ID}}-$(hostname -s)"
"""
    return "\n".join(lines) + "\n" + body


def submit(script: Path, *, test_only: bool = False) -> str:
    """Submit with sbatch; returns sbatch's answer (the job id, or the --test-only estimate)."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise AdlabError("sbatch not found: run this on a Slurm login node, or use --write-only "
                         f"and submit {script} yourself")
    cmd = [sbatch, *(["--test-only"] if test_only else ["--parsable"]), str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AdlabError(f"sbatch refused {script}: {proc.stderr.strip() or proc.stdout.strip()}")
    return (proc.stdout + proc.stderr).strip()
