"""Time adlab's metrics on the CPU threads and on the CUDA device, on the same synthetic
MVTec-AD-like data (see bench_metrics.py), and check that both give the same values.

    python benchmarks/gpu_check.py                    # 64 images (~4 M pixels) and 1,725 (~113 M)
    python benchmarks/gpu_check.py --images 1725,6900 --json-out gpu_metrics.json

Prints, per data size, the best of ``--repeat`` runs of ``evaluate(device=...)`` for both
devices (the first CUDA call also pays CUDA's start-up, shown apart), the CPU/CUDA time ratio and
the largest difference between the two devices' metric values; then, on the largest size, the
whole ``adlab metrics FILE.npz`` process with ``--device cpu``, ``cuda`` and ``auto`` (a fresh
process pays for importing torch and starting CUDA).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_metrics import generate  # noqa: E402


def _timed(fn, repeat: int) -> tuple[float, float, dict]:  # noqa: ANN001
    """(first call s, best call s, values of the last call)."""
    times, values = [], {}
    for _ in range(repeat):
        start = time.perf_counter()
        values = fn()
        times.append(time.perf_counter() - start)
    return times[0], min(times), values


def _cli_times(maps, masks, repeat: int) -> dict[str, float]:  # noqa: ANN001
    """Best wall time of the whole ``adlab metrics FILE --json --device D`` process per device."""
    import numpy as np

    root = Path(__file__).resolve().parents[1]
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "maps.npz"
        np.savez(path, anomaly_maps=maps, masks=masks)
        for device in ("cpu", "cuda", "auto"):
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "adlab", "metrics", str(path), "--json",
                                "--device", device], check=True, capture_output=True, cwd=root)
                times.append(time.perf_counter() - start)
            best[device] = min(times)
    print(f"adlab metrics FILE.npz ({maps.size / 1e6:.0f} M pixels), whole process, best of {repeat}: "
          + ", ".join(f"--device {d} {t:.2f} s" for d, t in best.items()))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="64,1725", help="comma-separated data sizes")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from adlab.metrics import evaluate
    from adlab.metrics.gpu import GPU_MIN_PIXELS, choose_device, cuda_usable

    if not cuda_usable():
        raise SystemExit("no CUDA device visible to torch: nothing to compare")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, "
          f"{len(os.sched_getaffinity(0))} CPU cores; once CUDA is started, auto picks it from "
          f"{GPU_MIN_PIXELS:,} pixels")
    print(f"{'images':>7} {'Mpixels':>8} {'cpu s':>8} {'cuda s':>8} {'cuda 1st':>9} {'cpu/cuda':>9} "
          f"{'auto':>5} {'max |diff|':>11}")
    rows = []
    for n in [int(x) for x in args.images.split(",")]:
        maps, masks = generate(n, args.size)
        cpu_first, cpu_best, cpu = _timed(lambda m=maps, k=masks: evaluate(m, k, device="cpu").values,
                                          args.repeat)
        gpu_first, gpu_best, gpu = _timed(lambda m=maps, k=masks: evaluate(m, k, device="cuda").values,
                                          args.repeat)
        diff = max(abs(cpu[k] - gpu[k]) for k in cpu)
        auto = choose_device("auto", maps.size)
        row = {"images": n, "pixels": int(maps.size), "cpu_s": cpu_best, "cpu_first_s": cpu_first,
               "cuda_s": gpu_best, "cuda_first_s": gpu_first, "cpu_over_cuda": cpu_best / gpu_best,
               "auto": auto, "max_abs_diff": diff, "values_cpu": cpu, "values_cuda": gpu}
        rows.append(row)
        print(f"{n:>7} {maps.size / 1e6:>8.1f} {cpu_best:>8.3f} {gpu_best:>8.3f} {gpu_first:>9.3f} "
              f"{cpu_best / gpu_best:>8.2f}x {auto:>5} {diff:>11.2e}")
    cli = _cli_times(maps, masks, args.repeat)
    del maps, masks
    worst = max(r["max_abs_diff"] for r in rows)
    print(f"agreement: max |cpu - cuda| over all metrics and sizes {worst:.2e} -> "
          f"{'OK' if worst <= 1e-9 else 'MISMATCH'} (tolerance 1e-9)")
    if args.json_out:
        args.json_out.write_text(json.dumps({"in_process": rows, "cli": cli}, indent=2))
    if worst > 1e-9:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
