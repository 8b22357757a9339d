"""The built wheel, installed alone (no source tree, not editable), is a working adlab.

Base install (no extras): a fresh database, runs/compare/report/export/import/TUI/metrics, a
worker that runs a diag run and refuses an anomalib run with the sentence naming the extra, and
the alembic command line over the packaged migrations. The all-extras install that runs the demo
is the second test (minutes of install and training); by hand:

    pip wheel --no-deps . -w /tmp/wheel && python3.11 -m venv /tmp/v-all
    /tmp/v-all/bin/pip install -c constraints.txt torch==2.14.1 torchvision==0.29.1
    /tmp/v-all/bin/pip install -c constraints.txt "/tmp/wheel/adlab-0.1.0-py3-none-any.whl[all]"
    cd /tmp && /tmp/v-all/bin/adlab --db /tmp/x.db runs && /tmp/v-all/bin/adlab --db /tmp/x.db demo
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.heavy


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(REPO), "-w", str(out)],
         cwd=out)
    (whl,) = out.glob("adlab-*.whl")
    return whl


def _venv(where: Path, wheel: Path, extras: str = "") -> Path:
    _run([sys.executable, "-m", "venv", str(where)], cwd=where.parent)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile",
           "-c", str(REPO / "constraints.txt")]
    if extras:
        _run([*pip, "torch==2.14.1", "torchvision==0.29.1"], cwd=where.parent, timeout=1800)
    _run([*pip, f"{wheel}{extras}"], cwd=where.parent, timeout=1800)
    return where / "bin"


def test_the_wheel_carries_the_migrations_and_no_test_servers(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "adlab/_migrations/env.py" in names and "adlab/_migrations/script.py.mako" in names
    scripts = sorted(p.name for p in (REPO / "migrations" / "versions").glob("0*.py"))
    assert scripts and all(f"adlab/_migrations/versions/{s}" in names for s in scripts)
    assert not [n for n in names if "pgtest" in n or "slurmtest" in n or n.startswith("tests/")]


def test_a_base_install_monitors_compares_reports_and_names_the_missing_extra(wheel, tmp_path):
    bin_ = _venv(tmp_path / "v-base", wheel)
    lab = tmp_path / "lab"
    lab.mkdir()
    env = {"ADLAB_DB": str(lab / "lab.db"), "ADLAB_ARTIFACTS": str(lab / "exports")}
    adlab = str(bin_ / "adlab")

    def cli(*args: str) -> str:
        return _run([adlab, *args], cwd=lab, env=env).stdout

    _run([str(bin_ / "python"), "-c", "import importlib.util as u, sys; sys.exit("
          "any(u.find_spec(m) for m in ('torch', 'anomalib', 'transformers', 'openai')))"], cwd=lab)
    cli("runs")  # a fresh database, migrated from the packaged scripts
    from adlab.db.migrate import head_revision

    assert json.loads(cli("db", "upgrade", "--json"))["revision"] == head_revision()
    _run([str(bin_ / "python"), "-c", "import sqlite3, sys; sys.exit(not sqlite3.connect("
          f"{str(lab / 'lab.db')!r}).execute(\"SELECT 1 FROM sqlite_master WHERE name = "
          "'uq_metrics_point'\").fetchone())"], cwd=lab)  # one row per metric point (0005)
    sys.path.insert(0, str(REPO / "tests" / "analysis"))
    from analysis_runsets import write_mlflow_csv

    csv = write_mlflow_csv(lab / "runs.csv")
    cli("import", str(csv), "--pipeline", "anomalib")
    cli("import", str(csv), "--pipeline", "mmad", "--study", "vlm")
    (lab / "diag.yaml").write_text("pipeline: diag\nsteps: 2\n")
    cli("queue", "diag.yaml")
    cli("data", "synth", str(lab / "data"))
    cli("queue", str(REPO / "examples" / "anomalib_patchcore_synthetic.yaml"),
        "--set", f"data.root={lab / 'data'}", "--set", "data.categories=[washer]")
    cli("worker", "--until-empty")
    runs = {r["name"]: r for r in json.loads(cli("runs", "--json"))}
    assert runs["diag_2x0s"]["status"] == "succeeded"
    refused = runs["patchcore_synthetic_washer"]
    assert refused["status"] == "failed"
    assert refused["error"].startswith(
        "pipeline 'anomalib' needs the 'anomalib' extra: pip install 'adlab[anomalib]'")

    assert "visa_base" in cli("compare")  # the imported runs, ranked inside their groups
    cli("compare", "--flat", "--study", "vlm")
    cli("report", "-o", str(lab / "report.md"))
    assert (lab / "report.md").stat().st_size > 0
    cli("export", "--format", "csv", "-o", str(lab / "out.csv"))
    cli("export", "--format", "json", "-o", str(lab / "out.json"))
    cli("tui", "--capture", str(lab / "tui.txt"))
    assert "diag_2x0s" in (lab / "tui.txt").read_text()
    _run([str(bin_ / "python"), "-c", "import numpy as np; m = np.zeros((4, 16, 16)); "
          "m[2:, 4:8, 4:8] = 1; np.savez('maps.npz', anomaly_maps=m + 0.1, masks=m)"], cwd=lab)
    assert json.loads(cli("metrics", "maps.npz", "--json"))["image_auroc"] == 1.0
    heads = _run([str(bin_ / "alembic"), "-c", str(REPO / "alembic.ini"), "heads"], cwd=lab, env=env)
    assert "(head)" in heads.stdout


def test_an_all_extras_install_runs_the_demo_from_a_fresh_database(wheel, tmp_path):
    bin_ = _venv(tmp_path / "v-all", wheel, extras="[all]")
    lab = tmp_path / "lab"
    lab.mkdir()
    db = str(lab / "x.db")
    _run([str(bin_ / "adlab"), "--db", db, "runs"], cwd=lab)
    demo = _run([str(bin_ / "adlab"), "--db", db, "demo"], cwd=lab, timeout=1800)
    assert "report:" in demo.stdout
