"""`adlab submit --slurm`: the sbatch script, and real workers under a single-node Slurm."""
from __future__ import annotations

import time

import pytest

from adlab.config.loader import build_run_specs
from adlab.db.queries import list_runs
from adlab.errors import AdlabError
from adlab.queue import enqueue
from adlab.worker.slurm import SlurmJob, render_sbatch


def test_script_has_array_gpus_partition_time_and_worker_command(tmp_path):
    text = render_sbatch(SlurmJob(workers=4, gpus_per_worker=1, partition="gpu", time="12:00:00",
                                  mem="64G", extra=("--constraint=a100",)),
                         db_url="postgresql+psycopg://lab@db/lab", artifacts=tmp_path / "shared",
                         workdir=tmp_path, python="/opt/py", log_dir=tmp_path / "logs")
    for line in ("#SBATCH --array=0-3", "#SBATCH --gres=gpu:1", "#SBATCH --partition=gpu",
                 "#SBATCH --time=12:00:00", "#SBATCH --mem=64G", "#SBATCH --constraint=a100",
                 "export ADLAB_DB=postgresql+psycopg://lab@db/lab",
                 f"export ADLAB_ARTIFACTS={tmp_path / 'shared'}",
                 "exec /opt/py -m adlab worker --device cuda:0 --until-empty"):
        assert line in text, line
    with pytest.raises(AdlabError, match="--time 'soon'"):
        render_sbatch(SlurmJob(time="soon"), db_url="sqlite:///x", artifacts=tmp_path,
                      workdir=tmp_path, log_dir=tmp_path)


@pytest.fixture
def slurm():
    from testservers.slurm import SlurmUnavailable, start_temp_slurm

    try:
        cluster = start_temp_slurm()
    except SlurmUnavailable as exc:
        pytest.skip(f"no local Slurm could be started: {exc}")
    yield cluster
    cluster.stop()


@pytest.mark.slow
def test_submit_array_drains_queue_under_real_slurm(slurm, engine, cli, tmp_path):
    """One test (one local cluster at a time): sbatch --test-only, then a real array."""
    check = cli("submit", "--slurm", "--workers", "1", "--gpus", "0", "--cpus", "1", "--test-only",
                "--script", str(tmp_path / "t.sbatch"), env=slurm.env)
    assert check.returncode == 0, check.stderr
    assert "to start at" in check.stdout
    created = enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 2, "step_seconds": 0.1,
                                               "grid": {"value": [1, 2, 3, 4, 5, 6]}})).created
    proc = cli("submit", "--slurm", "--workers", "2", "--gpus", "0", "--cpus", "1",
               "--script", str(tmp_path / "w.sbatch"), "--json", env=slurm.env)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = list_runs(engine)
        if all(r.status == "succeeded" for r in runs):
            break
        time.sleep(0.5)
    runs = list_runs(engine)
    assert [r.status for r in runs] == ["succeeded"] * len(created), [(r.status, r.error) for r in runs]
    assert all(r.worker.startswith("slurm-") for r in runs)
    assert len({r.worker for r in runs}) >= 1
    logs = list((tmp_path / "logs").glob("adlab-worker-*.out"))
    assert len(logs) == 2

