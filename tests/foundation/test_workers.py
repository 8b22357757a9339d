"""Workers on one SQLite file: no double claims, crash recovery, cancel, clean shutdown."""
from __future__ import annotations

import multiprocessing as mp
import signal
import time

import pytest
from sqlmodel import Session, select

from adlab.config.loader import build_run_specs
from adlab.db.models import Event
from adlab.db.queries import get_run, list_runs, run_metrics
from adlab.queue import enqueue
from lab_helpers import start_worker, wait_until


def test_until_empty_waits_for_a_run_whose_worker_just_died(engine):
    """A run claimed a moment ago by a worker that is already gone has a fresh heartbeat; an
    --until-empty worker must not take that for a live worker and exit, but wait for the
    lease to run out, reclaim the run and finish it."""
    from adlab.queue import claim

    [rid] = enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 2})).created
    assert claim(engine, worker="ghost", device="cpu").id == rid  # heartbeat: now; never again
    w = start_worker("--until-empty", "--name", "rescuer", env={"ADLAB_LEASE_S": "3"})
    assert w.wait(timeout=120) == 0
    run = get_run(engine, run_id=rid)
    assert (run.status, run.attempt, run.worker) == ("succeeded", 2, "rescuer")


def _claimer(url: str, name: str, out: "mp.Queue") -> None:
    from adlab.db.engine import get_engine
    from adlab.queue import claim, finish

    engine = get_engine(url)
    got = []
    while True:
        run = claim(engine, worker=name, device="cpu")
        if run is None:
            break
        got.append(run.id)
        finish(engine, run_id=run.id, worker=name, attempt=run.attempt, status="succeeded")
    out.put((name, got))


@pytest.mark.parametrize("n_workers", [2, 4])
def test_concurrent_claims_never_duplicate_or_lose(engine, n_workers):
    from adlab.settings import database_url

    specs = build_run_specs({"pipeline": "diag", "grid": {"value": [i / 1000 for i in range(200)]}})
    created = enqueue(engine, specs).created
    assert len(created) == 200
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(database_url(), f"w{i}", out)) for i in range(n_workers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    claimed = [rid for _, got in results for rid in got]
    assert sorted(claimed) == sorted(created)  # each exactly once, none lost
    assert all(got for _, got in results) or n_workers > 2  # work was shared
    assert {r.status for r in list_runs(engine)} == {"succeeded"}


def test_real_workers_share_runs(engine):
    specs = build_run_specs({"pipeline": "diag", "steps": 1, "grid": {"value": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}})
    enqueue(engine, specs)
    workers = [start_worker("--until-empty", "--name", f"w{i}") for i in range(2)]
    for w in workers:
        w.wait(timeout=120)
        assert w.returncode == 0, w.stderr.read()
    runs = list_runs(engine)
    assert {r.status for r in runs} == {"succeeded"}
    with Session(engine) as s:
        claims = s.exec(select(Event.run_id).where(Event.message.startswith("claimed by"))).all()
    assert sorted(claims) == sorted(r.id for r in runs)


def test_sigkilled_worker_run_is_reclaimed_and_finishes_once(engine):
    [rid] = enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 30, "step_seconds": 0.1})).created
    env = {"ADLAB_LEASE_S": "2"}
    first = start_worker("--name", "victim", env=env)
    wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    time.sleep(0.5)
    progress_at_kill = get_run(engine, run_id=rid).progress_done
    assert get_run(engine, run_id=rid).status == "running"  # nobody finished it
    second = start_worker("--until-empty", "--name", "rescuer", env=env)
    second.wait(timeout=120)
    run = get_run(engine, run_id=rid)
    assert run.status == "succeeded" and run.attempt == 2 and run.worker == "rescuer"
    with Session(engine) as s:
        messages = s.exec(select(Event.message).where(Event.run_id == rid)).all()
    assert sum(m == "succeeded" for m in messages) == 1
    assert any(m.startswith("re-queued: worker victim") for m in messages)
    steps_run = {m["key"]: m["value"] for m in run_metrics(engine, run_id=rid)}["steps_run"]
    assert steps_run <= 30 - progress_at_kill + 1  # resumed from the partial store


def test_cancel_running_run(engine, cli):
    [rid] = enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 600, "step_seconds": 0.1})).created
    w = start_worker("--until-empty", env={"ADLAB_LEASE_S": "3"})
    wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 2)
    assert cli("cancel", str(rid)).returncode == 0
    w.wait(timeout=60)
    run = get_run(engine, run_id=rid)
    assert run.status == "cancelled" and run.progress_done < 600


def test_sigterm_releases_run(engine):
    [rid] = enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 600, "step_seconds": 0.1})).created
    w = start_worker(env={"ADLAB_LEASE_S": "3"})
    wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 2)
    w.send_signal(signal.SIGTERM)
    w.wait(timeout=60)
    assert w.returncode == 0
    run = get_run(engine, run_id=rid)
    # attempts are monotonic: the interrupted attempt keeps its number (the next claim is
    # attempt 2, which replaces its results), and a graceful stop uses no lease budget
    assert run.status == "queued" and run.attempt == 1 and run.worker is None
    assert run.reclaims == 0


def test_failing_and_crashing_runs_recorded_others_go_on(engine):
    enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 3, "fail_at": 1}))
    enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 3, "crash_at": 1, "max_attempts": 1}))
    enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 2}))
    w = start_worker("--until-empty")
    w.wait(timeout=120)
    runs = {r.id: r for r in list_runs(engine)}
    assert runs[1].status == "failed" and "failing on purpose at step 1" in runs[1].error
    assert runs[2].status == "failed" and "exit code 17" in runs[2].error
    assert runs[3].status == "succeeded"
