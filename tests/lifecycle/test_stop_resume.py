"""Stopping, crashing, retrying and resuming real workers never loses or doubles a result.

Every run here is a diag run over categories a, b, c (each: steps, a per-category ``value`` and
``steps_run`` metric and a result file), stopped while it is inside category b.
"""
from __future__ import annotations

import signal
import time

import pytest

from adlab.config.loader import build_run_specs
from adlab.db.queries import get_run
from adlab.queue import enqueue
from lab_helpers import start_worker, wait_until
from lifecycle.lifecycle_checks import assert_complete_once, messages, metric_rows, utc_seconds

CATEGORIES = ["a", "b", "c"]
LEASE = {"ADLAB_LEASE_S": "2"}


def _queue(engine, **extra) -> int:  # noqa: ANN001
    raw = {"pipeline": "diag", "steps": 10, "step_seconds": 0.1, "categories": CATEGORIES, **extra}
    [rid] = enqueue(engine, build_run_specs(raw)).created
    return rid


def _inside_b(engine, rid: int, steps: int = 10) -> None:  # noqa: ANN001
    wait_until(lambda: get_run(engine, run_id=rid).progress_done >= steps + 3, timeout=120)


def _finish_with_new_worker(engine, rid: int) -> None:  # noqa: ANN001
    w = start_worker("--until-empty", "--name", "second", env=LEASE)
    assert w.wait(timeout=180) == 0, w.stderr.read()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_worker_releases_and_the_next_attempt_has_every_result_once(engine, sig):
    """The documented stop (and Slurm's preemption): the run goes back to the queue keeping
    its attempt number; the next claim is attempt 2, which starts from no results and
    replays category a; a graceful stop does not use up max_attempts (here 1)."""
    rid = _queue(engine, max_attempts=1)
    first = start_worker("--name", "first", env=LEASE)
    _inside_b(engine, rid)
    first.send_signal(sig)
    assert first.wait(timeout=60) == 0
    run = get_run(engine, run_id=rid)
    assert (run.status, run.attempt, run.reclaims, run.worker) == ("queued", 1, 0, None)
    assert metric_rows(engine, rid)[("value", "a", None)] == 1  # attempt 1 had recorded a
    _finish_with_new_worker(engine, rid)
    run = get_run(engine, run_id=rid)
    assert (run.status, run.attempt) == ("succeeded", 2)
    assert_complete_once(engine, rid, CATEGORIES)
    log = messages(engine, rid)
    assert any(m.startswith("released by first (attempt 1)") for m in log)
    assert any(m.startswith("a: already done in an earlier attempt") for m in log)


def test_retry_is_a_new_attempt_that_replaces_the_old_results(engine, cli):
    rid = _queue(engine, steps=40)
    w = start_worker("--until-empty", "--name", "first", env=LEASE)
    _inside_b(engine, rid, steps=40)
    assert cli("cancel", str(rid)).returncode == 0
    assert w.wait(timeout=60) == 0
    assert get_run(engine, run_id=rid).status == "cancelled"
    retried = cli("retry", str(rid))
    assert retried.returncode == 0, retried.stderr
    assert get_run(engine, run_id=rid).attempt == 1  # retry keeps the number; the claim adds 1
    _finish_with_new_worker(engine, rid)
    run = get_run(engine, run_id=rid)
    assert (run.status, run.attempt) == ("succeeded", 2)
    assert_complete_once(engine, rid, CATEGORIES)


def test_a_reclaimed_run_resumes_and_records_every_category_once(engine):
    rid = _queue(engine)
    victim = start_worker("--name", "victim", env=LEASE)
    _inside_b(engine, rid)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    _finish_with_new_worker(engine, rid)
    run = get_run(engine, run_id=rid)
    assert (run.status, run.attempt, run.reclaims) == ("succeeded", 2, 1)
    assert_complete_once(engine, rid, CATEGORIES)
    counts = {m["scope"]: m["value"] for m in _metrics(engine, rid, "steps_run")}
    assert counts["a"] == 10  # attempt 1's work, replayed; attempt 2 redid only part of b, and c
    assert counts[""] <= 20


def _metrics(engine, rid: int, key: str) -> list[dict]:  # noqa: ANN001
    from adlab.db.queries import run_metrics

    return [m for m in run_metrics(engine, run_id=rid) if m["key"] == key]


def test_cancel_of_a_dead_workers_run_is_final(engine, cli):
    """Inside the lease the worker might be alive: cancel asks; the reaper, finding the lease
    expired with the request pending, cancels instead of re-queueing. After the lease, cancel
    settles it at once."""
    rid = _queue(engine, steps=200)
    victim = start_worker("--name", "victim", env=LEASE)
    wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 2, timeout=120)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    # the CLI's lease is long, so it cannot tell the worker is dead: it only asks
    asked = cli("cancel", str(rid), env={"ADLAB_LEASE_S": "600"})
    assert asked.returncode == 0 and "cancelling" in asked.stdout
    rescuer = start_worker("--until-empty", "--name", "rescuer", env=LEASE)
    assert rescuer.wait(timeout=120) == 0
    run = get_run(engine, run_id=rid)
    assert run.status == "cancelled" and "victim sent no heartbeat" in run.error
    assert sum(m.startswith("claimed by") for m in messages(engine, rid)) == 1

    other = _queue(engine, steps=200, value=0.7)
    victim = start_worker("--name", "victim2", env=LEASE)
    wait_until(lambda: get_run(engine, run_id=other).progress_done >= 2, timeout=120)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    time.sleep(2.5)
    done = cli("cancel", str(other), env=LEASE)
    assert done.returncode == 0 and f"run {other}: cancelled" in done.stdout
    assert get_run(engine, run_id=other).status == "cancelled"


def test_reaping_is_bounded_by_the_lease_while_every_worker_is_busy(engine):
    from sqlmodel import Session, select

    from adlab.db.models import Event, Worker

    ids = [_queue(engine, steps=150, value=v) for v in (0.1, 0.2)]
    workers = {n: start_worker("--name", n, env=LEASE) for n in ("busy", "victim")}
    wait_until(lambda: all(get_run(engine, run_id=i).status == "running" for i in ids), timeout=120)
    held = next(i for i in ids if get_run(engine, run_id=i).worker == "victim")
    workers["victim"].send_signal(signal.SIGKILL)
    killed = time.time()
    workers["victim"].wait()

    def requeued():  # noqa: ANN202
        with Session(engine) as s:
            return s.exec(select(Event.ts).where(Event.run_id == held,
                                                 Event.message.startswith("re-queued"))).first()
    ts = wait_until(requeued, timeout=30)
    delay = utc_seconds(ts) - killed
    print(f"reclaim with every live worker busy: {delay:.2f} s for a 2 s lease")
    assert delay <= 1.5 * 2
    with Session(engine) as s:
        rows = {w.name: w for w in s.exec(select(Worker)).all()}
    assert rows["victim"].status == "dead" and rows["victim"].current_run_id is None
    workers["busy"].send_signal(signal.SIGTERM)
    assert workers["busy"].wait(timeout=60) == 0


def test_an_idle_worker_heartbeats(engine):
    from sqlmodel import Session, select

    from adlab.db.clock import db_now
    from adlab.db.models import Worker

    w = start_worker("--name", "idle", env={"ADLAB_LEASE_S": "1.2"})
    try:
        wait_until(lambda: _worker(engine, "idle") is not None, timeout=60)
        time.sleep(3)  # well past the lease
        with Session(engine) as s:
            row = s.exec(select(Worker).where(Worker.name == "idle")).one()
            age = (db_now(s) - row.heartbeat_at.replace(tzinfo=db_now(s).tzinfo)).total_seconds()
        assert row.status == "idle" and age < 1.2, age
    finally:
        w.send_signal(signal.SIGTERM)
        assert w.wait(timeout=60) == 0


def _worker(engine, name):  # noqa: ANN001, ANN202
    from sqlmodel import Session, select

    from adlab.db.models import Worker

    with Session(engine) as s:
        return s.exec(select(Worker).where(Worker.name == name)).first()
