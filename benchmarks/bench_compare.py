"""How fast is grouped comparison over a large lab? Builds N runs (default 100,000) in a temporary
SQLite database with bulk inserts, then times:

- ``compare --top 10`` by the headline metric with the stored group (``runs.group_hash``)
  over all runs (ranks, best, n/mean/std over every run; the 10 best runs per group listed):
  index-only, from ``runs.headline_value`` (adlab.db.headline_ranking),
- the same ranked by a metric that is not the headline (``pix_ap``): the SQL window over the
  ``metrics`` table, which is what every comparison cost before the headline path,
- ``compare --group lr`` (a key the stored groups pin: stored groups merged, no parameter read),
- ``compare --group lr,dia`` (``dia`` is not a group key: regrouping in SQL by canonical
  parameter values joined per run),
- ``compare`` restricted to one study (an everyday query),
- the whole process ``adlab compare --json --top 5`` (Python start, imports, query, JSON), and
  the same process for ``--help`` (start-up and imports of the CLI alone).

Ratios are printed against a baseline measured in the same run: a plain ``SELECT`` of every
run's metric value (the cost of touching the rows at all).

Usage: python benchmarks/bench_compare.py [--runs 100000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from adlab.core.grouping import group_hash, partition_hash
from adlab.core.values import coerce_stringified, numeric_value, stable_hash, value_text

DATASETS = ("mvtec_ad", "visa", "mpdd")
LRS = ("2e-4", "0.0002", "3e-4", "1e-4")  # two spellings of one value on purpose (MLflow text)
LOGDET = (1e-5, 1e-4)
SCALE_K = (3, 5)
DIA = (4, 5, 6, 7, 8)


def build(engine, n_runs: int, seed: int = 0) -> None:
    """Bulk-insert runs, params and metrics with executemany (one transaction)."""
    rng = random.Random(seed)
    partition_keys = ("dataset",)
    group_keys = ["lr", "lambda_logdet", "scale_ctx_k"]
    runs, params, metrics = [], [], []
    now = "2026-01-05 00:00:00.000000"
    for i in range(1, n_runs + 1):
        flat = {"dataset": DATASETS[i % 3], "lr": coerce_stringified(rng.choice(LRS)), "lambda_logdet": rng.choice(LOGDET),
                "scale_ctx_k": rng.choice(SCALE_K), "dia": rng.choice(DIA),
                "tail_w": rng.choice((0.5, 0.55, 0.65, 0.7)), "topk": rng.choice((3, 5, 7)),
                "use_router": rng.random() > 0.1, "epochs": 60, "coupling": 8, "lora_rank": 64,
                "seed": rng.randrange(5)}
        study = f"study{i % 100}"
        img_auc = round(0.97 + 0.002 * flat["dia"] / 8 + rng.random() * 0.01, 4)
        runs.append((i, f"run{i}", study, "bench", "succeeded", json.dumps(flat, sort_keys=True),
                     stable_hash(flat), partition_hash("bench", flat, partition_keys),
                     group_hash("bench", flat, group_keys=group_keys, partition_keys=partition_keys,
                                non_group_keys=()),
                     json.dumps(group_keys), 0, 1, 3, 0, now, json.dumps({"partition_keys": ["dataset"]}),
                     flat["seed"], "img_auc", img_auc))
        for k, v in flat.items():
            params.append((i, k, value_text(v), numeric_value(v)))
        metrics += [(i, "img_auc", img_auc, "", now), (i, "pix_ap", round(rng.random(), 4), "", now)]
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        cur = raw.cursor()
        cur.executemany(
            "INSERT INTO runs (id, name, study, pipeline, status, config_json, config_hash, "
            "partition_hash, group_hash, group_keys_json, priority, attempt, max_attempts, "
            "progress_done, created_at, info_json, seed, headline_metric, cancel_requested, "
            "headline_value) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)", runs)
        cur.executemany("INSERT INTO params (run_id, key, value_text, value_num) VALUES (?,?,?,?)", params)
        cur.executemany("INSERT INTO metrics (run_id, key, value, scope, created_at) VALUES (?,?,?,?,?)",
                        metrics)


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from sqlalchemy import text

    from adlab.analysis.compare import compare
    from adlab.db.compare_queries import RunFilter
    from adlab.db.engine import get_engine

    tmp = Path(tempfile.mkdtemp(prefix="adlab_bench_compare_"))
    url = f"sqlite:///{tmp / 'lab.db'}"
    engine = get_engine(url)
    t0 = time.perf_counter()
    build(engine, args.runs)
    print(f"built {args.runs} runs (12 params, 2 metrics each) in {time.perf_counter() - t0:.1f} s")

    def baseline() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT r.id, m.value FROM runs r JOIN metrics m ON m.run_id = r.id "
                              "WHERE m.key = 'img_auc' AND m.scope = '' AND r.status = 'succeeded'")).all()

    base = timed(baseline, args.repeat)
    stored = timed(lambda: compare(engine, metrics=["img_auc"], top=10), args.repeat)
    result = compare(engine, metrics=["img_auc"], top=10)
    regroup = timed(lambda: compare(engine, metrics=["img_auc"], group_keys=["lr", "dia"], top=10),
                    args.repeat)
    regrouped = compare(engine, metrics=["img_auc"], group_keys=["lr", "dia"], top=10)
    coarse = timed(lambda: compare(engine, metrics=["img_auc"], group_keys=["lr"], top=10),
                   args.repeat)
    two = timed(lambda: compare(engine, metrics=["img_auc", "pix_ap"], top=10), args.repeat)
    window = timed(lambda: compare(engine, metrics=["pix_ap"], top=10), args.repeat)
    study = timed(lambda: compare(engine, metrics=["img_auc"], filters=RunFilter(study="study7")),
                  args.repeat)
    env = {**os.environ, "ADLAB_DB": str(tmp / "lab.db")}
    cmd = [sys.executable, "-m", "adlab", "compare", "--metric", "img_auc", "--top", "5", "--json"]

    def whole() -> None:
        subprocess.run(cmd, env=env, check=True, capture_output=True)

    proc = timed(whole, args.repeat)
    proc_coarse = timed(lambda: subprocess.run(cmd + ["--group", "lr"], env=env, check=True,
                                               capture_output=True), args.repeat)
    proc_group = timed(lambda: subprocess.run(cmd + ["--group", "lr,dia"], env=env, check=True,
                                              capture_output=True), args.repeat)
    startup = timed(lambda: subprocess.run([sys.executable, "-m", "adlab", "--help"], env=env,
                                           check=True, capture_output=True), args.repeat)
    print(f"groups: stored {len(result.groups)}, --group lr,dia {len(regrouped.groups)} "
          f"(2e-4 and 0.0002 in one group)")
    print(f"baseline SELECT of every run's metric:      {base * 1000:8.1f} ms  (1.00x)")
    print(f"compare, stored group, 100k runs, --top 10:  {stored * 1000:8.1f} ms  ({stored / base:.2f}x)"
          f"  [{window / stored:.1f}x faster than the window]")
    print(f"compare, stored group, 2 metrics, --top 10:  {two * 1000:8.1f} ms  ({two / base:.2f}x)")
    print(f"compare by a non-headline metric, --top 10:  {window * 1000:8.1f} ms  ({window / base:.2f}x)")
    print(f"compare --group lr (merged stored groups):   {coarse * 1000:8.1f} ms  ({coarse / base:.2f}x)")
    print(f"compare --group lr,dia, 100k runs, --top 10: {regroup * 1000:8.1f} ms  ({regroup / base:.2f}x)")
    print(f"compare --study (1% of runs, full listing): {study * 1000:8.1f} ms  ({study / base:.2f}x)")
    print(f"whole process `adlab compare --json --top 5`: {proc * 1000:8.1f} ms  ({proc / base:.2f}x)")
    print(f"whole process, same with --group lr:         {proc_coarse * 1000:8.1f} ms")
    print(f"whole process, same with --group lr,dia:     {proc_group * 1000:8.1f} ms")
    print(f"  of which Python + CLI start (--help):     {startup * 1000:8.1f} ms")
    from adlab.db.engine import dispose_all

    dispose_all()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
