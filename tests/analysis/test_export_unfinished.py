"""``adlab export`` then ``adlab import`` round-trips on a lab with work in flight (issue 15):
import takes only finished runs, so export writes only those by default and says in one line
how many unfinished runs it left out and how to include them; asking for unfinished statuses
exports them with a warning that import will refuse the file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from adlab.config.loader import build_run_specs
from adlab.db.engine import get_engine
from adlab.db.models import Run
from adlab.queue import claim, enqueue

LEFT_OUT = ("left out 2 unfinished (queued or running) run(s), which `adlab import` refuses; "
            "add --status all to export them too")


@pytest.fixture
def busy_lab(isolated_lab: Path, engine, cli) -> Path:
    """A lab with one succeeded diag run (run by a real worker), one running and one queued."""
    enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 1}))
    cli("worker", "--until-empty", check=True, timeout=300)
    enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 2}))
    enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 3}))
    assert claim(engine, worker="w", device="cpu") is not None
    assert _statuses(engine) == {"diag_1x0s": "succeeded", "diag_2x0s": "running",
                                 "diag_3x0s": "queued"}
    return isolated_lab


def _statuses(engine) -> dict[str, str]:  # noqa: ANN001
    with Session(engine) as s:
        return {r.name: r.status for r in s.exec(select(Run)).all()}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_default_export_holds_the_finished_runs_and_imports_into_a_fresh_lab(busy_lab, cli, fmt):
    out = busy_lab / f"runs.{fmt}"
    proc = cli("export", "--format", fmt, "-o", str(out), check=True)
    assert proc.stderr.splitlines() == [LEFT_OUT, f"wrote 1 run(s) to {out}"]
    fresh = busy_lab / "fresh.db"
    proc = cli("--db", str(fresh), "import", str(out), check=True)
    assert f"{out}: imported 1 run(s)" in proc.stderr
    assert _statuses(get_engine(f"sqlite:///{fresh}")) == {"diag_1x0s": "succeeded"}

    proc = cli("export", "--format", fmt, check=True)  # to stdout: the note stays on stderr
    assert proc.stderr.strip() == LEFT_OUT and "unfinished" not in proc.stdout
    assert proc.stdout == out.read_text(encoding="utf-8")


def test_asking_for_unfinished_statuses_exports_them_with_a_warning(busy_lab, cli):
    out = busy_lab / "all.json"
    proc = cli("export", "--format", "json", "--status", "all", "-o", str(out), "--json",
               check=True)
    assert json.loads(proc.stdout) == {"file": str(out), "format": "json", "runs": 3,
                                       "unfinished_left_out": 0, "unfinished_written": 2}
    assert proc.stderr.strip() == (
        "warning: 2 of the exported runs have not finished (queued or running); `adlab import` "
        "refuses a file holding them, so export without --status (finished runs only) for a "
        "file to import")
    assert sorted(r["status"] for r in json.loads(out.read_text())["runs"]) == \
        ["queued", "running", "succeeded"]
    refused = cli("--db", str(busy_lab / "fresh.db"), "import", str(out))
    assert refused.returncode == 1 and "has not finished" in refused.stderr

    proc = cli("export", "--format", "csv", "--status", "succeeded,running", check=True)
    assert "warning: 1 of the exported runs have not finished" in proc.stderr
    assert [ln.split(",")[2] for ln in proc.stdout.splitlines()[1:]] == ["FINISHED", "RUNNING"]

    proc = cli("export", "--format", "csv", "--status", "succeeded", check=True)
    assert proc.stderr.strip() == ""  # asked for finished runs only: nothing to say
    assert len(proc.stdout.splitlines()) == 2
