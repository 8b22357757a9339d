"""Per-run overhead of the cold worker (a run forked from the worker, importing torch and
anomalib itself) and of the warm worker (a run forked from the zygote, which imported them
once), measured on the same tiny PaDiM runs in the same invocation.

    .venv/bin/python benchmarks/bench_warm_worker.py [--runs 3] [--rounds 2]

A run's overhead is its wall time as the database has it (claimed -> finished) minus its own
fit, ONNX export and scoring time (the metrics ``fit_s``, ``export_s`` and ``infer_wall_s`` it
records per category): imports, data loading, model building, the parity check, metrics,
heatmaps, database writes. Each mode gets a fresh ``adlab worker --until-empty`` process on
the same lab; runs are identical but for the seed. Rounds alternate the order (cold, warm, then
warm, cold, ...) so a machine whose load changes weighs on both. Prints every run, the medians
(over all runs, and without each worker's first run, which waits for the zygote's imports),
their ratio and ``/proc/loadavg`` before and after each worker (the machine may be shared).
"""
from __future__ import annotations

import adlab  # noqa: F401  (mmap threshold before torch)

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OWN_TIME_KEYS = ("fit_s", "export_s", "infer_wall_s")
STUDY = {
    "pipeline": "anomalib",
    "data": {"dataset": "synthetic", "categories": ["woven"], "split_runs": "per_category"},
    "image_size": 64,
    "model": "padim",
    "model_params": {"backbone": "resnet18", "layers": ["layer1", "layer2"], "pre_trained": False},
    "train": {"max_epochs": 1, "batch_size": 4},
    "export": {"parity_samples": 2},
    "inference": {"batch_size": 4},
    "visuals": {"count": 1},
}


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def run_mode(mode: str, runs: int, root: Path, round_: int) -> dict:
    """Queue ``runs`` PaDiM runs in study ``bench-<mode>`` and drain them with one worker."""
    from adlab.config.loader import build_run_specs
    from adlab.db.engine import get_engine
    from adlab.queue import enqueue
    from adlab.settings import database_url

    engine = get_engine(database_url())
    raw = {**STUDY, "study": f"bench-{mode}", "data": {**STUDY["data"], "root": str(root)},
           "grid": {"seed": list(range(round_ * runs, (round_ + 1) * runs))}}
    created = enqueue(engine, build_run_specs(raw), repeat=True).created
    before = loadavg()
    start = time.monotonic()
    worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty", "--poll",
                             "0.2", f"--{mode}"], capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - start
    if worker.returncode != 0:
        raise SystemExit(f"{mode} worker failed ({worker.returncode}): {worker.stderr[-2000:]}")
    return {"mode": mode, "runs": [overhead(engine, rid) for rid in created],
            "load_before": before, "load_after": loadavg(), "worker_wall_s": round(wall, 1)}


def overhead(engine, run_id: int) -> dict:  # noqa: ANN001
    from sqlmodel import Session, select

    from adlab.db.models import Metric, Run

    with Session(engine) as s:
        run = s.get(Run, run_id)
        rows = s.exec(select(Metric.key, Metric.value).where(
            Metric.run_id == run_id, Metric.scope != "", Metric.key.in_(OWN_TIME_KEYS))).all()
    if run is None or run.status != "succeeded":
        raise SystemExit(f"run {run_id} did not succeed: {run.error if run else 'missing'}")
    wall = (run.finished_at - run.started_at).total_seconds()
    own = {k: 0.0 for k in OWN_TIME_KEYS}
    for key, value in rows:
        own[key] += float(value or 0.0)
    info = json.loads(run.info_json or "{}")
    return {"run": run_id, "wall_s": wall, **own, "overhead_s": wall - sum(own.values()),
            "worker_mode": info.get("worker_mode")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="PaDiM runs per worker")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of one cold and one warm worker")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="adlab-bench-warm-") as tmp:
        lab = Path(tmp)
        os.environ.update({"ADLAB_DB": str(lab / "lab.db"), "ADLAB_ARTIFACTS": str(lab / "exports"),
                           "HF_HUB_OFFLINE": "1"})
        os.environ.pop("ADLAB_WORKER_MODE", None)
        from adlab.data.synth import generate_synthetic

        root = lab / "synthetic"
        generate_synthetic(root, categories=["woven"], seed=1, image_size=64, n_train=8,
                           n_test_good=3, n_test_defect=3)
        workers = []
        for round_ in range(args.rounds):
            order = ("cold", "warm") if round_ % 2 == 0 else ("warm", "cold")
            workers += [run_mode(mode, args.runs, root, round_) for mode in order]
    print(f"machine: {os.cpu_count()} CPUs")
    print(f"{'mode':5} {'run':>4} {'wall s':>7} {'fit s':>6} {'export s':>8} {'score s':>7} "
          f"{'overhead s':>10}  recorded mode")
    for w in workers:
        for r in w["runs"]:
            print(f"{w['mode']:5} {r['run']:>4} {r['wall_s']:7.2f} {r['fit_s']:6.2f} "
                  f"{r['export_s']:8.2f} {r['infer_wall_s']:7.2f} {r['overhead_s']:10.2f}  "
                  f"{r['worker_mode']}")
        print(f"      worker {w['worker_wall_s']} s; loadavg before {w['load_before']}, "
              f"after {w['load_after']}")
    summary = {}
    for mode in ("cold", "warm"):
        mine = [w for w in workers if w["mode"] == mode]
        every = [r["overhead_s"] for w in mine for r in w["runs"]]
        later = [r["overhead_s"] for w in mine for r in w["runs"][1:]]
        summary[mode] = {"median_s": statistics.median(every), "runs": len(every),
                         "median_after_first_s": statistics.median(later) if later else None,
                         "first_runs_s": [round(w["runs"][0]["overhead_s"], 2) for w in mine]}
        s = summary[mode]
        after = f"{s['median_after_first_s']:.2f} s" if later else "n/a"
        print(f"{mode}: median overhead {s['median_s']:.2f} s over {s['runs']} runs; without each "
              f"worker's first run {after}; first runs {s['first_runs_s']} s")
    print(f"ratio cold/warm median overhead: "
          f"{summary['cold']['median_s'] / summary['warm']['median_s']:.2f}x")
    print("json: " + json.dumps({"summary": summary, "workers": workers}))


if __name__ == "__main__":
    main()
