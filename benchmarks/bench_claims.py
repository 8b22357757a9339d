"""Claim throughput (claims/s) with 1, 4 and 8 workers on SQLite and PostgreSQL, and the latency
from `adlab queue` to a run starting on an idle worker.

    .venv/bin/python benchmarks/bench_claims.py [--runs 2000] [--skip-postgres]

Each worker process loops claim() -> finish() (the queue's own cost, no pipeline), so the
numbers are the lab's coordination ceiling. Ratios are printed against 1 worker on SQLite,
measured in the same run.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import adlab  # noqa: F401


def _claimer(url: str, name: str, start, out) -> None:  # noqa: ANN001
    from adlab.db.engine import get_engine
    from adlab.queue import claim, finish

    engine = get_engine(url)
    start.wait()
    n = 0
    while (run := claim(engine, worker=name, device="cpu")) is not None:
        finish(engine, run_id=run.id, worker=name, attempt=run.attempt, status="succeeded")
        n += 1
    out.put(n)


def _fill(url: str, n: int) -> None:
    from adlab.config.loader import build_run_specs
    from adlab.db.engine import get_engine
    from adlab.queue import enqueue

    enqueue(get_engine(url), build_run_specs({"pipeline": "diag", "grid": {"value": list(range(n))}}))


def measure(url: str, workers: int, runs: int) -> float:
    _fill(url, runs)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(url, f"w{i}", start, out)) for i in range(workers)]
    for p in procs:
        p.start()
    time.sleep(1.5)  # let every process import and connect before the clock starts
    t0 = time.perf_counter()
    start.set()
    total = sum(out.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    assert total == runs, (total, runs)
    return total / elapsed


def queue_to_start_latency(url: str, trials: int = 5) -> list[float]:
    """Seconds from invoking `adlab queue` to the run's started_at, idle worker polling at 0.2 s."""
    from adlab.db.engine import get_engine
    from adlab.db.queries import get_run

    env = {**os.environ, "ADLAB_DB": url}
    worker = subprocess.Popen([sys.executable, "-m", "adlab", "worker", "--poll", "0.2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)
    engine = get_engine(url)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(trials):
            cfg = Path(tmp) / f"q{i}.yaml"
            cfg.write_text(f"pipeline: diag\nvalue: {1000 + i}\n")
            t0 = time.time()
            proc = subprocess.run([sys.executable, "-m", "adlab", "queue", str(cfg), "--json"], env=env,
                                  capture_output=True, text=True, check=True)
            import json

            [rid] = json.loads(proc.stdout)["created"]
            while (run := get_run(engine, run_id=rid)).started_at is None:
                time.sleep(0.01)
            out.append(run.started_at.timestamp() - t0)
            time.sleep(0.5)
    worker.terminate()
    worker.wait()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    results: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for w in (1, 4, 8):
            url = f"sqlite:///{tmp}/claims{w}.db"
            results[("sqlite", w)] = measure(url, w, args.runs)
            print(f"sqlite      {w} worker(s): {results[('sqlite', w)]:8.1f} claims/s", flush=True)
        lat = queue_to_start_latency(f"sqlite:///{tmp}/latency.db")
        print(f"queue -> run started (SQLite, idle worker, poll 0.2 s): "
              f"median {sorted(lat)[len(lat) // 2]:.2f} s, max {max(lat):.2f} s "
              f"(includes `adlab queue` process start-up)")
    if not args.skip_postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from testservers.postgres import PostgresUnavailable, start_temp_postgres

        try:
            pg = start_temp_postgres()
        except PostgresUnavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
        else:
            try:
                for w in (1, 4, 8):
                    url = pg.create_database(f"claims{w}")
                    results[("postgresql", w)] = measure(url, w, args.runs)
                    print(f"postgresql  {w} worker(s): {results[('postgresql', w)]:8.1f} claims/s", flush=True)
            finally:
                pg.stop()
    base = results[("sqlite", 1)]
    print("\nratio vs SQLite 1 worker:")
    for (db, w), v in results.items():
        print(f"  {db:10} {w}: {v / base:5.2f}x")
    print(f"\nmachine: {os.cpu_count()} CPUs; every worker process shares them with the database")


if __name__ == "__main__":
    main()
