"""Benchmark adlab's metrics against a plain NumPy/SciPy/scikit-learn implementation of the
official MVTec AD algorithm and against anomalib 2.7's AUPRO/AUROC, on the same synthetic data.

    .venv/bin/python benchmarks/bench_metrics.py                 # full MVTec-AD scale
    .venv/bin/python benchmarks/bench_metrics.py --images 300    # quicker
    .venv/bin/python benchmarks/bench_metrics.py --subset 400    # anomalib on 400 images only

Every contender runs in its own child process (``--worker NAME``) so that its peak RSS
(``os.wait4``) and its whole-process time are its own; each child also reports the time of the
computation alone, after the data is loaded. Data: 1,725 maps of 256x256 (MVTec AD's test-set
size, ~113 M pixels), 467 normal and 1,258 anomalous images with 1-3 irregular defects each
(blobs, ellipses, thin scratches, diagonal touches), smooth float32 maps upsampled from 64x64
noise with a partial response on the defects, written to an uncompressed .npz.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("image_auroc", "pixel_auroc", "aupro", "image_f1_max", "pixel_f1_max", "image_ap",
        "pixel_ap")


# ----------------------------------------------------------------------------- data
def _defect_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    yy, xx = np.mgrid[0:size, 0:size]
    mask = np.zeros((size, size), dtype=bool)
    for _ in range(rng.integers(1, 4)):
        kind = rng.choice(["ellipse", "blob", "scratch", "diagonal"], p=[0.35, 0.35, 0.2, 0.1])
        cy, cx = rng.integers(16, size - 16, 2)
        if kind == "ellipse":
            a, b = rng.uniform(2, 40, 2)
            theta = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
            v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
            mask |= (u / a) ** 2 + (v / b) ** 2 <= 1
        elif kind == "blob":
            r = int(rng.integers(8, 48))
            y0, y1 = max(cy - r, 0), min(cy + r, size)
            x0, x1 = max(cx - r, 0), min(cx + r, size)
            noise = gaussian_filter(rng.standard_normal((y1 - y0, x1 - x0)), r / 4)
            mask[y0:y1, x0:x1] |= noise > np.quantile(noise, rng.uniform(0.5, 0.85))
        elif kind == "scratch":
            length = rng.integers(20, 120)
            angle = rng.uniform(0, np.pi)
            t = np.linspace(-length / 2, length / 2, 4 * length)
            ys = np.clip(np.round(cy + t * np.sin(angle)).astype(int), 0, size - 1)
            xs = np.clip(np.round(cx + t * np.cos(angle)).astype(int), 0, size - 1)
            mask[ys, xs] = True
        else:  # staircase of pixels touching only at corners (8-connected, not 4-connected)
            steps = rng.integers(3, 15)
            idx = np.arange(steps)
            mask[np.clip(cy + idx, 0, size - 1), np.clip(cx + idx, 0, size - 1)] = True
    return mask


def generate(n_images: int = 1725, size: int = 256, n_good: int | None = None, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic (maps float32 (N,H,W), masks uint8 (N,H,W)) at MVTec AD test-set scale."""
    from scipy.ndimage import gaussian_filter

    from adlab.metrics.resize import resize_bilinear

    rng = np.random.default_rng(seed)
    n_good = round(n_images * 467 / 1725) if n_good is None else n_good
    masks = np.zeros((n_images, size, size), dtype=np.uint8)
    maps = np.empty((n_images, size, size), dtype=np.float32)
    low = size // 4
    for i in range(n_images):
        base = resize_bilinear(gaussian_filter(rng.standard_normal((low, low)), 1.5), (size, size))
        amap = 0.5 * base
        if i >= n_good:
            mask = _defect_mask(rng, size)
            masks[i] = mask
            response = gaussian_filter(mask.astype(np.float64), rng.uniform(1, 4))
            amap += rng.uniform(0.2, 3.0) * response
        maps[i] = amap
    return maps, masks


# ----------------------------------------------------------------------------- contenders
def official_numpy(maps: np.ndarray, masks: np.ndarray, limit: float) -> dict[str, float]:
    """The official algorithm, plainly: scipy labelling, one argsort of all pixels for PRO,
    scikit-learn for AUROC, AP and the precision-recall curve (F1-max)."""
    from scipy.ndimage import label
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    structure = np.ones((3, 3), dtype=int)
    fp_change = np.zeros(maps.shape, dtype=np.uint32)
    pro_change = np.zeros(maps.shape, dtype=np.float64)
    n_ok = n_regions = 0
    for i, gt in enumerate(masks):
        labeled, n = label(gt, structure)
        n_regions += n
        ok = labeled == 0
        n_ok += int(ok.sum())
        fp_change[i][ok] = 1
        for k in range(n):
            region = labeled == k + 1
            pro_change[i][region] = 1.0 / region.sum()
    scores = maps.ravel().copy()
    order = np.argsort(scores)[::-1]
    scores = scores[order]
    fprs = np.cumsum(fp_change.ravel()[order]) / n_ok
    pros = np.cumsum(pro_change.ravel()[order]) / n_regions
    del order
    keep = np.append(np.diff(scores) != 0, True)
    fprs = np.concatenate(([0.0], np.minimum(fprs[keep], 1), [1.0]))
    pros = np.concatenate(([0.0], np.minimum(pros[keep], 1), [1.0]))
    if limit in fprs:
        cut = fprs <= limit
        area = np.trapezoid(pros[cut], fprs[cut])
    else:
        i = np.searchsorted(fprs, limit, side="right")
        y_at = pros[i - 1] + (pros[i] - pros[i - 1]) * (limit - fprs[i - 1]) / (fprs[i] - fprs[i - 1])
        area = np.trapezoid(pros[:i], fprs[:i]) + 0.5 * (y_at + pros[i - 1]) * (limit - fprs[i - 1])

    def f1max(y: np.ndarray, s: np.ndarray) -> float:
        p, r, _ = precision_recall_curve(y, s)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = 2 * p * r / (p + r)
        return float(np.max(f1[np.isfinite(f1)]))

    gt = (masks > 0).ravel()
    flat = maps.ravel()
    labels = masks.reshape(len(masks), -1).any(axis=1)
    img = maps.reshape(len(maps), -1).max(axis=1)
    return {
        "aupro": float(area / limit),
        "pixel_auroc": float(roc_auc_score(gt, flat)),
        "pixel_ap": float(average_precision_score(gt, flat)),
        "pixel_f1_max": f1max(gt, flat),
        "image_auroc": float(roc_auc_score(labels, img)),
        "image_ap": float(average_precision_score(labels, img)),
        "image_f1_max": f1max(labels, img),
    }


def _load(path: str, subset: int | None) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as data:
        maps, masks = data["anomaly_maps"], data["masks"]
    if subset and subset < len(maps):
        # keep the normal/anomalous mix: take evenly spaced images
        idx = np.linspace(0, len(maps) - 1, subset).round().astype(int)
        maps, masks = maps[idx], masks[idx]
    return maps, masks


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) and return the current RSS in MiB, so that
    the peak read after a computation is the computation's own, not the data loading's."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass
    return _status_mib("VmRSS")


def worker(name: str, path: str, limit: float, subset: int | None) -> dict:
    maps, masks = _load(path, subset)
    base_rss = _reset_peak_rss()
    out: dict = {"n_images": int(len(maps)), "n_pixels": int(maps.size)}
    if name == "adlab":
        from adlab.metrics import evaluate

        times = []
        for _ in range(3):  # the first run also pays scipy's import and first-touch page faults
            t = time.perf_counter()
            report = evaluate(maps, masks, fpr_limit=limit, device="cpu")
            times.append(time.perf_counter() - t)
        out["first_s"], out["compute_s"] = times[0], min(times)
        out["values"] = report.values
    elif name == "adlab-aupro":
        from adlab.metrics import evaluate

        t = time.perf_counter()
        out["values"] = evaluate(maps, masks, fpr_limit=limit, metrics=("aupro",),
                                 device="cpu").values
        out["compute_s"] = time.perf_counter() - t
        t = time.perf_counter()
        out["values"].update(evaluate(maps, masks, metrics=("pixel_auroc",),
                                      device="cpu").values)
        out["auroc_s"] = time.perf_counter() - t
    elif name == "numpy-official":
        t = time.perf_counter()
        out["values"] = official_numpy(maps, masks, limit)
        out["compute_s"] = time.perf_counter() - t
    elif name == "anomalib":
        import torch
        from types import SimpleNamespace

        from anomalib.metrics import AUPRO, AUROC

        preds = torch.from_numpy(maps)
        target = torch.from_numpy(masks)  # uint8 0/1, as a dataloader would give it
        batch = SimpleNamespace(anomaly_map=preds, gt_mask=target)
        t = time.perf_counter()
        metric = AUPRO(fields=["anomaly_map", "gt_mask"], fpr_limit=limit)
        metric.update(batch)
        aupro = float(metric.compute())
        out["compute_s"] = time.perf_counter() - t
        t = time.perf_counter()
        metric = AUROC(fields=["anomaly_map", "gt_mask"])
        metric.update(batch)
        auroc = float(metric.compute())
        out["auroc_s"] = time.perf_counter() - t
        out["values"] = {"aupro": aupro, "pixel_auroc": auroc}
    else:
        raise SystemExit(f"unknown worker {name}")
    out["compute_rss_mib"] = _status_mib("VmHWM") - base_rss
    return out


def run_child(argv: list[str]) -> tuple[float, float, str]:
    """Run a child process; return (wall seconds, its own peak RSS in MiB, its stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.read()}")
        return wall, usage.ru_maxrss / 1024, out.read()


def run_worker(name: str, data: Path, limit: float, subset: int | None) -> dict:
    argv = [sys.executable, __file__, "--worker", name, "--data", str(data),
            "--fpr-limit", str(limit), "--subset", str(subset or 0)]
    wall, rss, stdout = run_child(argv)
    result = json.loads(stdout)
    result.update(wall_s=wall, peak_rss_mib=rss)
    return result


def _row(name: str, wall: float | None, compute: float | None, rss: float) -> str:
    w = f"{wall:8.2f}" if wall is not None else "       -"
    c = f"{compute:8.2f}" if compute is not None else "       -"
    return f"{name:<44}{w}  {c}  {rss:9.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1725)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--subset", type=int, default=575,
                        help="run anomalib (and adlab's matching AUPRO run) on this many images "
                             "(0 = all; anomalib needs ~135 bytes per pixel, ~15 GB for all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the adlab CLI (best kept)")
    parser.add_argument("--fpr-limit", type=float, default=0.3)
    parser.add_argument("--data", type=Path, default=None, help="reuse/write this .npz")
    parser.add_argument("--skip-anomalib", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--json-out", type=Path, default=None, help="write raw results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, str(args.data), args.fpr_limit, args.subset)))
        return

    tmp = tempfile.TemporaryDirectory()
    data = args.data or Path(tmp.name) / "bench.npz"
    if not data.exists():
        t = time.perf_counter()
        maps, masks = generate(args.images, args.size)
        np.savez(data, anomaly_maps=maps, masks=masks)
        print(f"generated {len(maps)} maps of {args.size}x{args.size} "
              f"({maps.size / 1e6:.1f} M pixels, {100 * (masks > 0).mean():.2f} % defect pixels) "
              f"in {time.perf_counter() - t:.1f} s -> {data}")
        del maps, masks
    print(f"cores: {len(os.sched_getaffinity(0))}, numpy {np.__version__}\n")

    cli_runs = []
    for _ in range(args.repeat):
        wall, rss, stdout = run_child([sys.executable, "-m", "adlab", "metrics", str(data),
                                       "--json", "--fpr-limit", str(args.fpr_limit)])
        cli_runs.append((wall, rss))
    cli_values = json.loads(stdout)
    cli_wall = min(w for w, _ in cli_runs)
    cli_rss = max(r for _, r in cli_runs)
    adlab = run_worker("adlab", data, args.fpr_limit, None)
    results = {"adlab_cli": {"wall_s": cli_wall, "runs_s": [w for w, _ in cli_runs],
                             "peak_rss_mib": cli_rss, "values": cli_values},
               "adlab": adlab}

    print(f"{'contender':<44}{'wall s':>8}  {'compute':>8}  {'peak MiB':>9}")
    print(_row("adlab metrics FILE.npz (whole process, best)", cli_wall, None, cli_rss))
    print(_row("adlab evaluate() in-process (best of 3)", adlab["wall_s"], adlab["compute_s"],
               adlab["peak_rss_mib"]))
    print(_row("adlab evaluate() in-process (first run)", None, adlab["first_s"],
               adlab["peak_rss_mib"]))
    if not args.skip_baseline:
        base = run_worker("numpy-official", data, args.fpr_limit, None)
        results["numpy_official"] = base
        print(_row("NumPy/SciPy/sklearn official (whole process)", base["wall_s"],
                   base["compute_s"], base["peak_rss_mib"]))
    if not args.skip_anomalib:
        subset = args.subset if args.subset and args.subset < args.images else None
        anomalib = run_worker("anomalib", data, args.fpr_limit, subset)
        mine = run_worker("adlab-aupro", data, args.fpr_limit, subset)
        results.update(anomalib=anomalib, adlab_same_subset=mine)
        scope = f"{anomalib['n_images']} images"
        print(_row(f"anomalib 2.7 AUPRO ({scope})", anomalib["wall_s"], anomalib["compute_s"],
                   anomalib["peak_rss_mib"]))
        print(_row(f"anomalib 2.7 AUROC, pixel ({scope})", None, anomalib["auroc_s"],
                   anomalib["peak_rss_mib"]))
        print(_row(f"adlab AUPRO only ({scope})", mine["wall_s"], mine["compute_s"],
                   mine["peak_rss_mib"]))
        print(_row(f"adlab pixel AUROC only ({scope})", None, mine["auroc_s"],
                   mine["peak_rss_mib"]))

    print("\nratios (higher = adlab better)")
    if "numpy_official" in results:
        base = results["numpy_official"]
        print(f"  whole process, baseline / adlab metrics CLI: {base['wall_s'] / cli_wall:6.1f}x "
              f"time, {base['peak_rss_mib'] / cli_rss:5.1f}x peak memory")
        print(f"  computation,  baseline / adlab evaluate():  "
              f"{base['compute_s'] / adlab['compute_s']:6.1f}x time")
    if "anomalib" in results:
        a, m = results["anomalib"], results["adlab_same_subset"]
        note = f"  (both on the same {a['n_images']} images)"
        print(f"  anomalib AUPRO / adlab AUPRO:  {a['compute_s'] / m['compute_s']:6.1f}x time, "
              f"{a['compute_rss_mib'] / max(m['compute_rss_mib'], 1):5.1f}x added memory "
              f"({a['compute_rss_mib']:.0f} vs {m['compute_rss_mib']:.0f} MiB){note}")
        print(f"  anomalib AUROC / adlab pixel AUROC: {a['auroc_s'] / m['auroc_s']:6.1f}x time{note}")

    print("\nagreement")
    if "numpy_official" in results:
        base = results["numpy_official"]["values"]
        diffs = {k: abs(cli_values[k] - base[k]) for k in KEYS}
        worst = max(diffs, key=diffs.get)
        verdict = "OK" if diffs[worst] <= 1e-6 else "MISMATCH"
        print(f"  adlab vs official NumPy/sklearn, 7 metrics: max |diff| {diffs[worst]:.2e} "
              f"({worst}) -> {verdict} (tolerance 1e-6)")
        results["max_abs_diff_vs_official"] = diffs[worst]
    in_proc = max(abs(adlab["values"][k] - cli_values[k]) for k in KEYS)
    print(f"  adlab in-process vs CLI: max |diff| {in_proc:.2e}")
    if "anomalib" in results:
        a, m = results["anomalib"]["values"], results["adlab_same_subset"]["values"]
        for key in ("aupro", "pixel_auroc"):
            print(f"  anomalib {key} {a[key]:.7f} vs adlab {m[key]:.7f}: diff "
                  f"{a[key] - m[key]:+.2e} (anomalib's own definition)")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=float))
        print(f"\nraw results: {args.json_out}")

if __name__ == "__main__":
    main()
