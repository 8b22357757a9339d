"""Realistic run sets for comparison tests: a MoLE-Flow-like study (two hyper-parameter groups,
DIA/TopK variants, ablations, repeated seeds, tied metrics, numbers spelled differently, three
datasets) written as an MLflow runs export, plus helpers that compute expectations
independently of adlab's code."""
from __future__ import annotations

import csv
import math
from pathlib import Path


# (name, dataset, lr, lambda_logdet, scale_ctx_k, dia, topk, use_router, seed, img_auc, pix_ap)
RUNS = [
    # group 1 (lr 2e-4, logdet 1e-5, k 3) on MVTec — spelled several ways
    ("baseline", "mvtec", "2e-4", "1e-5", "3", "4", "0", "true", "0", 0.9793, 0.4735),
    ("baseline_s1", "mvtec", "0.0002", "0.00001", "3.0", "4", "0", "True", "1", 0.9801, 0.4701),
    ("DIA6", "mvtec", "2E-4", "1e-05", "3", "6", "0", "true", "0", 0.9820, 0.4606),
    ("DIA7", "mvtec", "0.00020", "1e-5", "3", "7", "0", "true", "0", 0.9830, 0.4580),
    ("DIA7_s1", "mvtec", "2e-4", "1e-5", "3", "7", "0", "true", "1", 0.9820, 0.4590),
    ("DIA8", "mvtec", "2e-4", "1e-5", "3", "8", "0", "true", "0", 0.9825, 0.4546),
    ("TopK5", "mvtec", "2e-4", "1e-5", "3", "4", "5", "true", "0", 0.9820, 0.4866),
    ("wo_Router", "mvtec", "2e-4", "1e-5", "3", "4", "0", "false", "0", 0.9798, 0.4684),
    # group 2 (lr 3e-4, logdet 1e-4, k 5) on MVTec — a tie at the top
    ("MAIN", "mvtec", "3e-4", "1e-4", "5", "4", "3", "true", "0", 0.9829, 0.5420),
    ("FullBest", "mvtec", "0.0003", "0.0001", "5", "5", "3", "true", "0", 0.9829, 0.5242),
    ("TailW0.65", "mvtec", "3e-4", "1e-4", "5", "4", "5", "true", "0", 0.9828, 0.5430),
    # other datasets, group-1 hyper-parameters: never ranked with MVTec
    ("visa_base", "visa", "2e-4", "1e-5", "3", "4", "0", "true", "0", 0.8566, 0.2878),
    ("visa_dia6", "visa", "2e-4", "1e-5", "3", "6", "0", "true", "0", 0.8512, 0.2901),
    ("mpdd_base", "mpdd", "2e-4", "1e-5", "3", "4", "0", "true", "0", 0.9019, 0.2890),
]
GROUP_KEYS = ["lr", "lambda_logdet", "scale_ctx_k"]
COLUMNS = ["run_id", "tags.mlflow.runName", "status", "params.dataset", "params.lr",
           "params.lambda_logdet", "params.scale_ctx_k", "params.dia", "params.topk",
           "params.use_router", "params.seed", "params.backbone", "metrics.img_auc",
           "metrics.pix_ap", "tags.group_keys"]


def write_mlflow_csv(path: Path, runs=RUNS) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i, (name, ds, lr, ld, k, dia, topk, router, seed, auc, ap) in enumerate(runs):
            w.writerow([f"mlf{i:03d}", name, "FINISHED", ds, lr, ld, k, dia, topk, router, seed,
                        "wide_resnet50_2", auc, ap, ",".join(GROUP_KEYS)])
    return path


def expected_groups(runs=RUNS) -> dict[tuple, list[tuple]]:
    """Group by (dataset, float(lr), float(logdet), float(k)) — independent of adlab."""
    groups: dict[tuple, list[tuple]] = {}
    for r in runs:
        key = (r[1], float(r[2]), float(r[3]), float(r[4]))
        groups.setdefault(key, []).append(r)
    return groups


def competition_ranks(values: list[float]) -> list[int]:
    return [1 + sum(1 for w in values if w > v) for v in values]


def sample_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
