"""A kill battery over real workers: SIGKILL and SIGTERM mixed, runs recording per-category
results. Shared by the SQLite test (tests/lifecycle/test_chaos.py) and the PostgreSQL one
(tests/foundation/test_postgres.py)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from adlab.config.loader import build_run_specs
from adlab.db.engine import get_engine
from adlab.db.models import Event, Run, Worker
from adlab.queue import enqueue
from lifecycle.lifecycle_checks import assert_complete_once, utc_seconds

CATEGORIES = ["a", "b"]
# The lease of the battery's workers. It must exceed the machine's scheduling delays: on two
# cores at a load of 17 (the full suite beside other work) threads woke up to ~1.2 s late, so a
# 2 s lease reaped live workers and one reclaim took 1.58 leases; 4 s keeps the bound honest.
LEASE_S = 4.0


@dataclass
class ChaosFigures:
    backend: str
    workers: int
    runs: int
    sigkills: int
    sigterms: int
    requeued: int
    released: int
    lost: int
    duplicated: int
    max_reclaim_s: float
    lease_s: float
    wall_s: float


def _start(url: str, name: str, lease_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "adlab", "--db", url, "worker", "--poll", "0.1", "--name", name],
        env={**os.environ, "ADLAB_LEASE_S": str(lease_s)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


def run_chaos(url: str, *, workers: int = 4, runs: int = 40, kills: int = 12,
              lease_s: float = LEASE_S, seed: int = 7, deadline_s: float = 600) -> ChaosFigures:
    """Kill random busy workers (alternately SIGKILL and SIGTERM) and
    start a fresh one each time, until every run has finished; then check each run finished
    once with every per-category result once, and time every reclaim from its kill."""
    engine = get_engine(url)
    raw = {"pipeline": "diag", "steps": 3, "step_seconds": 0.1, "categories": CATEGORIES,
           "max_attempts": 50, "grid": {"value": [i / 1000 for i in range(runs)]}}
    created = enqueue(engine, build_run_specs(raw)).created
    rng = random.Random(seed)
    kinds = [signal.SIGKILL, signal.SIGTERM] * (kills // 2 + 1)  # both kinds, even if few land
    procs = {f"w{i}": _start(url, f"w{i}", lease_s) for i in range(workers)}
    killed_at: dict[int, list[float]] = {}  # run -> wall times its worker was SIGKILLed
    sent = {signal.SIGKILL: 0, signal.SIGTERM: 0}
    serial, start = workers, time.monotonic()
    try:
        while time.monotonic() - start < deadline_s:
            time.sleep(rng.uniform(0.3, 0.8))
            with Session(engine) as s:
                left = s.exec(select(func.count()).where(Run.status.in_(("queued", "running")))).scalar()
                busy = dict(s.exec(select(Run.worker, Run.id).where(Run.status == "running")).all())
            if not left:
                break
            targets = sorted(set(busy) & set(procs))
            if sum(sent.values()) >= kills or not targets:
                continue
            victim = rng.choice(targets)
            # The bound on reclaim time holds while some worker lives to reap: kill only when
            # two others are up (registered; a fresh process takes seconds to start).
            with Session(engine) as s:
                up = set(s.exec(select(Worker.name).where(Worker.status.in_(("idle", "busy"))))
                         .scalars()) & set(procs)
            if len(up - {victim}) < 2:
                continue
            sig = kinds[sum(sent.values())]
            procs.pop(victim).send_signal(sig)
            at = time.time()
            sent[sig] += 1
            if sig == signal.SIGKILL:  # the run it held when it died (it may have moved on)
                with Session(engine) as s:
                    held = s.exec(select(Run.id).where(Run.worker == victim,
                                                       Run.status == "running")).scalars().all()
                for rid in held:
                    killed_at.setdefault(rid, []).append(at)
            procs[f"w{serial}"] = _start(url, f"w{serial}", lease_s)
            serial += 1
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            p.wait(timeout=60)
    wall = time.monotonic() - start
    with Session(engine) as s:
        statuses = dict(s.exec(select(Run.status, func.count()).group_by(Run.status)).all())
        finished = dict(s.exec(select(Event.run_id, func.count()).where(Event.message == "succeeded")
                               .group_by(Event.run_id)).all())
        requeues = s.exec(select(Event.run_id, Event.ts)
                          .where(Event.message.startswith("re-queued: worker"))).all()
        released = s.exec(select(func.count()).where(Event.message.startswith("released by"))).scalar()
        failures = s.exec(select(Run.id, Run.attempt, Run.error).where(Run.status != "succeeded")).all()
    assert statuses == {"succeeded": runs}, (statuses, failures)
    lost = sum(1 for rid in created if finished.get(rid, 0) == 0)
    duplicated = sum(1 for rid in created if finished.get(rid, 0) > 1)
    for rid in created:
        assert_complete_once(engine, rid, CATEGORIES)
    delays = []  # each SIGKILL of a run's worker -> the first re-queue of that run after it
    for rid, kills_of_run in killed_at.items():
        for k in kills_of_run:
            after = [utc_seconds(ts) for r, ts in requeues if r == rid and utc_seconds(ts) >= k]
            if after:
                delays.append(min(after) - k)
                if min(after) - k > 1.5 * lease_s:  # say what happened to a slow one
                    with Session(engine) as s:
                        log = s.exec(select(Event.ts, Event.source, Event.message)
                                     .where(Event.run_id == rid).order_by(Event.id)).all()
                    print(f"slow reclaim of run {rid}, killed at {k:.2f}:",
                          [(round(utc_seconds(t), 2), src, m[:60]) for t, src, m in log])
    figures = ChaosFigures(backend=engine.dialect.name, workers=workers, runs=runs,
                           sigkills=sent[signal.SIGKILL], sigterms=sent[signal.SIGTERM],
                           requeued=len(requeues), released=int(released), lost=lost,
                           duplicated=duplicated, max_reclaim_s=round(max(delays, default=0.0), 2),
                           lease_s=lease_s, wall_s=round(wall, 1))
    print(f"chaos figures: {asdict(figures)}")
    return figures


def check_figures(f: ChaosFigures) -> None:
    assert f.lost == 0 and f.duplicated == 0
    assert f.sigkills >= 1 and f.sigterms >= 1
    assert f.requeued >= 1 and f.released >= 1  # kills did interrupt work, both ways
    assert f.max_reclaim_s <= 1.5 * f.lease_s, f
