"""`adlab demo`: data, queue, worker, comparison and report, as the README promises."""
from __future__ import annotations

import pytest

from adlab.db.queries import list_runs


@pytest.mark.heavy
def test_demo_runs_four_real_runs_and_writes_report(tmp_path, engine, cli):
    proc = cli("demo", "--out", str(tmp_path / "demo"), "--device", "cpu", timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "randomly initialised" in proc.stderr and "Traceback" not in proc.stderr
    bars = [line for line in proc.stderr.splitlines() if line.startswith("run ")]
    assert len(bars) == 4 and all("succeeded" in line for line in bars), bars
    runs = list_runs(engine)
    assert len(runs) == 4 and {r.status for r in runs} == {"succeeded"}
    assert {r.name for r in runs} == {"patchcore_r18_woven", "patchcore_r18_washer",
                                      "padim_r18_woven", "padim_r18_washer"}
    report = tmp_path / "demo" / "report.md"
    assert f"report: {report}" in proc.stdout and report.exists()
    assert "4 run(s) in 2 group(s)" in proc.stdout + proc.stderr
    again = cli("demo", "--out", str(tmp_path / "demo"), "--device", "cpu", timeout=300)
    assert again.returncode == 0 and "already done" in again.stderr  # nothing re-run
    assert len(list_runs(engine)) == 4


def test_progress_bars_end_with_the_runs_final_states(engine, capsys):
    """The watcher reads the runs once more after the worker is done, so a run that finished
    between two polls is not left showing 'running'."""
    from sqlmodel import Session, update

    from adlab.cli.demo_cmd import _watch_progress
    from adlab.config.loader import build_run_specs
    from adlab.db.models import Run
    from adlab.queue import enqueue

    ids = enqueue(engine, build_run_specs({"pipeline": "diag", "grid": {"steps": [1, 2]}})).created
    with Session(engine) as s:
        s.exec(update(Run).values(status="running"))
        s.commit()
    polls = []

    def done() -> bool:  # the worker "finishes" the runs and exits on the third poll
        polls.append(1)
        if len(polls) == 3:
            with Session(engine) as s:
                s.exec(update(Run).values(status="succeeded"))
                s.commit()
        return len(polls) >= 3

    _watch_progress(engine, ids, done)
    bars = [line for line in capsys.readouterr().err.splitlines() if line.startswith("run ")]
    assert len(bars) == 2 and all("succeeded" in line for line in bars), bars
