"""`adlab demo`: data, queue, worker, comparison and report, as the README promises."""
from __future__ import annotations

import pytest

from adlab.db.queries import list_runs


@pytest.mark.heavy
def test_demo_runs_four_real_runs_and_writes_report(tmp_path, engine, cli):
    proc = cli("demo", "--out", str(tmp_path / "demo"), "--device", "cpu", timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "randomly initialised" in proc.stderr
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
