"""Every metric writer keeps one row per (run, key, scope, step): the worker's run context, the
importer, a lab copy, two processes racing on one point (SQLite and a real PostgreSQL), and a
write that meets a locked SQLite database (retried until it lands, once)."""
from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import wait_until
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from adlab.config.loader import build_run_specs
from adlab.db.engine import get_engine, reader
from adlab.db.metric_rows import record_metric, record_metrics
from adlab.db.models import Run
from adlab.errors import AdlabError
from adlab.queue import claim, enqueue

POINTS = (("value", "", None), ("value", "a", None), ("loss", "", 3))


def claimed_run(engine: Engine) -> Run:
    enqueue(engine, build_run_specs({"pipeline": "diag"}))
    run = claim(engine, worker="w", device="cpu")
    assert run is not None
    return run


def run_context(engine: Engine, run: Run, out: Path) -> Any:
    from adlab.pipelines.diag import DiagParams
    from adlab.worker.context import DbRunContext

    out.mkdir(parents=True, exist_ok=True)
    return DbRunContext(engine, run, DiagParams(), out, "cpu", "value")


def rows(engine: Engine, run_id: int) -> list[tuple[Any, ...]]:
    with reader(engine).connect() as conn:  # never waits for a writer (WAL)
        return [tuple(r) for r in conn.execute(text(
            "SELECT key, scope, step, value, note FROM metrics WHERE run_id = :r ORDER BY id"),
            {"r": run_id})]


def headline(engine: Engine, run_id: int) -> float | None:
    with reader(engine).connect() as conn:
        return conn.execute(text("SELECT headline_value FROM runs WHERE id = :r"),
                            {"r": run_id}).scalar()


def test_the_run_context_replaces_a_value_recorded_again(engine, tmp_path):
    run = claimed_run(engine)
    ctx = run_context(engine, run, tmp_path / "out")
    try:
        ctx.metric("value", 0.1)
        ctx.metric("loss", 0.9, step=0)
        ctx.metric("value", 0.2, scope="a")
        ctx.metric("value", float("nan"), note="undefined: one class")  # NaN: NULL with the note
        ctx.metric("loss", 0.8, step=0)
        ctx.metric("loss", 0.7, step=1)
        ctx.metric("value", 0.3)
    finally:
        ctx.close()
    assert rows(engine, run.id) == [("value", "", None, 0.3, None), ("loss", "", 0, 0.8, None),
                                    ("value", "a", None, 0.2, None), ("loss", "", 1, 0.7, None)]
    assert headline(engine, run.id) == 0.3


def test_one_batch_keeps_the_last_of_a_point_and_refuses_a_negative_step(engine):
    run = claimed_run(engine)
    with Session(engine) as s:
        n = record_metrics(s, [{"run_id": run.id, "key": "k", "value": 1.0},
                               {"run_id": run.id, "key": "k", "value": 2.0, "step": 0},
                               {"run_id": run.id, "key": "k", "value": 3.0}])
        s.commit()
    assert n == 2
    assert rows(engine, run.id) == [("k", "", 0, 2.0, None), ("k", "", None, 3.0, None)]
    with Session(engine) as s, pytest.raises(ValueError, match="step -1 is negative"):
        record_metric(s, run_id=run.id, key="k", value=4.0, step=-1)  # would be the NULL step
    assert rows(engine, run.id)[-1] == ("k", "", None, 3.0, None)


def test_an_import_with_a_point_given_twice_stores_its_last_value(cli, tmp_path, engine):
    doc = {"adlab_export": 1, "runs": [{
        "name": "twice", "pipeline": "diag", "params": {"value": 0.5}, "status": "succeeded",
        "headline_metric": "value",
        "metrics": [{"key": "value", "scope": "", "value": 0.1},
                    {"key": "value", "scope": "a", "value": 0.2},
                    {"key": "value", "scope": "", "value": 0.4}]}]}
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    proc = cli("import", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    [imported] = json.loads(proc.stdout)["imports"]
    [rid] = imported["created"]
    shown = json.loads(cli("show", str(rid), "--json", check=True).stdout)
    assert [(m["key"], m["scope"], m["value"]) for m in shown["metrics"]] == [
        ("value", "a", 0.2), ("value", "", 0.4)]
    assert shown["headline_value"] == 0.4  # the value the lab holds, not the first one given


def test_a_copied_lab_keeps_its_metric_rows_and_ids(engine, tmp_path):
    from adlab.db.copy import copy_lab

    run = claimed_run(engine)
    ctx = run_context(engine, run, tmp_path / "out")
    try:
        for i in range(3):
            for key, scope, step in POINTS:
                ctx.metric(key, float(i), scope=scope, step=step)
    finally:
        ctx.close()
    target = get_engine(f"sqlite:///{tmp_path / 'copy.db'}")
    assert copy_lab(engine, target).rows["metrics"] == 3
    with engine.connect() as a, target.connect() as b:
        q = text("SELECT id, run_id, key, scope, step, value, note, created_at FROM metrics "
                 "ORDER BY id")
        assert a.execute(q).all() == b.execute(q).all()


# --- two processes recording the same points many times ------------------------------------

N_WRITES = 150


def _writer(url: str, run_id: int, who: int, via: str, out_dir: str, ready: Any, go: Any,
            done: Any) -> None:
    engine = get_engine(url)
    ctx = None
    if via == "context":  # the worker's path: the run row locked, then the upsert
        with Session(engine) as s:
            run = s.get(Run, run_id)
            assert run is not None
            s.expunge(run)
        ctx = run_context(engine, run, Path(out_dir) / f"w{who}")
    ready.put(who)
    go.wait(120)
    started = time.time()
    for i in range(N_WRITES):
        value = float(who * 1000 + i)
        if ctx is not None:
            for key, scope, step in POINTS:
                ctx.metric(key, value, scope=scope, step=step)
        else:  # a writer without the run lock (an import, a copy): the index alone holds
            with Session(engine) as s:
                record_metrics(s, [{"run_id": run_id, "key": k, "scope": sc, "step": st,
                                    "value": value} for k, sc, st in POINTS])
                s.commit()
    if ctx is not None:
        ctx.close()
    done.put((who, started, time.time()))


def race(url: str, via: str, tmp_path: Path) -> None:
    engine = get_engine(url)
    run = claimed_run(engine)
    spawn = mp.get_context("spawn")
    ready, go, done = spawn.Queue(), spawn.Event(), spawn.Queue()
    procs = [spawn.Process(target=_writer,
                           args=(url, run.id, who, via, str(tmp_path), ready, go, done))
             for who in (1, 2)]
    for p in procs:
        p.start()
    assert sorted(ready.get(timeout=120) for _ in procs) == [1, 2]  # both imported, connected
    go.set()
    (_, start1, end1), (_, start2, end2) = sorted(done.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert start1 < end2 and start2 < end1  # they did write at the same time
    got = rows(engine, run.id)
    assert Counter((k, sc, st) for k, sc, st, _, _ in got) == {p: 1 for p in POINTS}
    last = {float(1000 + N_WRITES - 1), float(2000 + N_WRITES - 1)}
    assert {v for *_, v, _ in got} <= last  # each point holds one writer's last value
    if via == "context":  # the headline was written with the run-level value, in one commit
        assert headline(engine, run.id) == next(v for k, sc, _, v, _ in got
                                                if (k, sc) == ("value", ""))


@pytest.mark.slow
@pytest.mark.parametrize("via", ["context", "direct"])
def test_two_processes_recording_one_point_leave_one_row_on_sqlite(via, tmp_path):
    race(f"sqlite:///{tmp_path / 'race.db'}", via, tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("via", ["context", "direct"])
def test_two_processes_recording_one_point_leave_one_row_on_postgresql(via, pg_url, tmp_path):
    race(pg_url, via, tmp_path)


# --- a locked SQLite database -------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def test_a_metric_write_that_meets_a_locked_sqlite_database_is_retried_and_lands_once(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADLAB_SQLITE_BUSY_TIMEOUT_S", "0.2")
    monkeypatch.setenv("ADLAB_DB_RETRY_S", "120")
    path = tmp_path / "locked.db"
    engine = get_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
    run = claimed_run(engine)
    ctx = run_context(engine, run, tmp_path / "out")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    writer: threading.Thread | None = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        failure: list[BaseException] = []

        def write() -> None:
            try:
                ctx.metric("value", 0.7)
            except BaseException as exc:  # noqa: BLE001  (shown by the assertion below)
                failure.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        said: list[str] = []

        def logged(words: str) -> bool:
            said.append(capsys.readouterr().err)
            return words in "".join(said)

        wait_until(lambda: logged("unavailable while recording metric value"), timeout=30)
        time.sleep(1.0)  # a few more tries against the held lock
        assert writer.is_alive()
        assert rows(engine, run.id) == []  # WAL readers are not blocked: nothing landed yet
    finally:
        if holder.stdin is not None:
            holder.stdin.write("\n")
            holder.stdin.close()
        holder.wait(30)
        if writer is not None:
            writer.join(60)
        ctx.close()
    assert not failure, failure
    assert rows(engine, run.id) == [("value", "", None, 0.7, None)]
    assert headline(engine, run.id) == 0.7
    log = "".join(said) + capsys.readouterr().err
    assert "database is locked" in log and "is back after" in log, log


def test_a_busy_timeout_that_is_not_a_number_is_refused_with_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("ADLAB_SQLITE_BUSY_TIMEOUT_S", "soon")
    with pytest.raises(AdlabError, match=r"ADLAB_SQLITE_BUSY_TIMEOUT_S='soon' is not a number "
                                          r"of seconds >= 0; set it to e.g. 60, or unset it"):
        get_engine(f"sqlite:///{tmp_path / 'x.db'}")
