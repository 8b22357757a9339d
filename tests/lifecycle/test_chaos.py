"""SIGKILL/SIGTERM battery on SQLite (the PostgreSQL run is in tests/foundation/test_postgres.py),
and the two PostgreSQL races that once failed runs of that battery under load."""
from __future__ import annotations

import threading
import time

import pytest

from lifecycle.chaos import check_figures, run_chaos


@pytest.mark.slow
def test_four_workers_sigkill_and_sigterm_mixed_lose_and_double_nothing_on_sqlite(engine):
    from adlab.settings import database_url

    check_figures(run_chaos(database_url(), workers=4, runs=40, kills=12))


def _claimed(engine, worker: str = "w"):  # noqa: ANN001, ANN202
    from adlab.config.loader import build_run_specs
    from adlab.queue import claim, enqueue, register_worker

    enqueue(engine, build_run_specs({"pipeline": "diag"}))
    register_worker(engine, name=worker, host="h", pid=1, device="cpu")
    return claim(engine, worker=worker, device="cpu")


@pytest.mark.postgres
def test_the_heartbeat_thread_and_the_main_thread_never_deadlock_on_postgres(pg_url):
    """A busy worker's heartbeat thread (beat_worker) and main thread (heartbeat) write the
    same run and worker rows every beat; locked in opposite orders they deadlocked (17 times
    in 20 s of this loop), failing the worker's main thread."""
    from adlab.db.engine import get_engine
    from adlab.queue import beat_worker, heartbeat, reap

    engine = get_engine(pg_url)
    run = _claimed(engine)
    errors: list[str] = []
    stop = time.monotonic() + 6

    def loop(step) -> None:  # noqa: ANN001
        while time.monotonic() < stop:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - counted, then asserted on
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

    steps = [lambda: beat_worker(engine, name="w", run=(run.id, run.attempt)),
             lambda: heartbeat(engine, run_id=run.id, worker="w", attempt=run.attempt),
             lambda: reap(engine, lease_s=60)]
    threads = [threading.Thread(target=loop, args=(s,)) for s in steps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _stale_attempt_cannot_write_progress(engine) -> None:  # noqa: ANN001
    from adlab.queue import claim, reap
    from adlab.worker.context import DbStore, RunLost

    first = _claimed(engine)
    assert reap(engine, lease_s=0).requeued == [first.id]  # its worker looked dead: re-queued
    second = claim(engine, worker="w", device="cpu")
    assert (second.id, second.attempt) == (first.id, first.attempt + 1)
    stale, owner = DbStore(engine, first.id, first.attempt), DbStore(engine, first.id, second.attempt)
    with pytest.raises(RunLost):
        stale.put("category/a", {"done": 1})
    owner.put("category/a", {"done": 2})
    owner.put("category/a", {"done": 3})
    assert owner.get("category/a") == {"done": 3} and stale.get("category/a") == {"done": 3}
    # writers of one new key at once (update finds nothing, then insert): one after the other
    errors: list[str] = []

    def put(i: int) -> None:
        try:
            DbStore(engine, first.id, second.attempt).put(f"unit/{i // 4}", {"by": i})
        except Exception as exc:  # noqa: BLE001 - collected, then asserted on
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

    threads = [threading.Thread(target=put, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and all(owner.get(f"unit/{k}") is not None for k in range(6))


def test_a_stale_attempt_cannot_write_saved_progress(engine):
    """Saved progress is what a resumed attempt trusts: only the owning attempt writes it."""
    _stale_attempt_cannot_write_progress(engine)


@pytest.mark.postgres
def test_a_stale_attempt_cannot_write_saved_progress_on_postgres(pg_url):
    """On PostgreSQL two live attempts (a slow worker reaped) also raced the update-then-insert
    of the same key into a unique-key violation; the run-row lock serialises them."""
    from adlab.db.engine import get_engine

    _stale_attempt_cannot_write_progress(get_engine(pg_url))
