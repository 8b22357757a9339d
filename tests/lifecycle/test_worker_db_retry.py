"""A worker rides out a database that is away for a few seconds (a PostgreSQL restart) and
stops loudly, exit non-zero with one sentence, when it stays away; real server, real worker."""
from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from lab_helpers import start_worker, wait_until
from sqlmodel import Session, select

from adlab.config.loader import build_run_specs
from adlab.db.engine import get_engine
from adlab.db.models import Metric
from adlab.db.queries import get_run, list_workers
from adlab.queue import enqueue


@pytest.fixture
def pg():
    from testservers.postgres import PostgresUnavailable, start_temp_postgres

    try:
        server = start_temp_postgres(max_connections=30)
    except PostgresUnavailable as exc:
        pytest.skip(f"needs a PostgreSQL server: {exc}")
    yield server
    server.stop()


def pg_ctl(pg, *args: str) -> None:  # noqa: ANN001
    proc = subprocess.run(pg._cmd(str(pg.bin_dir / "pg_ctl"), "-D", str(pg.root / "data"), *args),
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr


def test_a_worker_survives_a_postgresql_restart_and_its_run_completes_once(pg, isolated_lab):
    url = pg.create_database("retry_restart")
    engine = get_engine(url)
    [rid] = enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 10,
                                             "step_seconds": 0.2,
                                             "categories": ["a", "b"]})).created
    w = start_worker("--until-empty", "--cold", env={"ADLAB_DB": url, "ADLAB_LEASE_S": "10"})
    try:
        wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 3, timeout=90)
        pg_ctl(pg, "-m", "fast", "stop")
        time.sleep(3.0)
        pg_ctl(pg, "-w", "-t", "60", "-l", str(pg.root / "server.log"), "restart")
        out, err = w.communicate(timeout=120)
    finally:
        w.kill()
    assert w.returncode == 0, err[-2000:]
    run = get_run(engine, run_id=rid)
    assert run.status == "succeeded", (run.error, err[-2000:])
    # both the worker (heartbeats) and the run's process (metrics, progress) rode it out
    assert "unavailable while heartbeating run" in err and "is back after" in err, err[-2000:]
    run_log = (Path(run.output_dir) / "process.log").read_text(encoding="utf-8")
    assert "unavailable while" in run_log and "is back after" in run_log, run_log[-2000:]
    with Session(engine) as s:
        rows = s.exec(select(Metric.key, Metric.scope, Metric.step)
                      .where(Metric.run_id == rid)).all()
    counts = Counter(rows)
    assert set(counts) == {(k, sc, None) for k in ("value", "steps_run") for sc in ("a", "b", "")}
    assert max(counts.values()) == 1, counts


def test_a_database_that_stays_away_stops_the_worker_with_one_sentence(pg, isolated_lab):
    url = pg.create_database("retry_gone")
    engine = get_engine(url)
    w = start_worker(env={"ADLAB_DB": url, "ADLAB_DB_RETRY_S": "3"})  # polls an empty queue
    try:
        wait_until(lambda: list_workers(engine), timeout=60)
        engine.dispose()
        pg_ctl(pg, "-m", "fast", "stop")
        stopped = time.monotonic()
        _out, err = w.communicate(timeout=60)
        took = time.monotonic() - stopped
    finally:
        w.kill()
    assert w.returncode == 1, err[-2000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err[-2000:]
    assert "PostgreSQL database 'retry_gone'" in errors[0], errors
    assert "stayed unavailable for 3 s" in errors[0] and "start the worker again" in errors[0], errors
    assert "Traceback" not in err
    assert 3 <= took < 30, took
