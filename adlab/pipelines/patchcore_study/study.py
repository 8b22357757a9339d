"""Study-level results of a sweep: every child appends its row to the ``study_rows`` artifact it
received from its predecessor; the last child draws the comparison plots and the cross-domain
matrix and records the matrix means (scope ``matrix`` or ``matrix/<config>``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from adlab.core.vocabulary import ArtifactKind
from adlab.pipelines.base import RunContext
from adlab.pipelines.patchcore_study.params import PatchCoreStudyParams
from adlab.pipelines.patchcore_study.sweep import TRAIN_AXIS, axes_of, config_label, get_path, position

ROWS_KIND = ArtifactKind.STUDY_ROWS
MATRIX_KIND = ArtifactKind.CROSS_DOMAIN_MATRIX
ENTRY_KEYS = ("image_auroc", "pixel_auroc", "aupro", "mmd", "wasserstein", "mean_cosine", "feature_drift")


def _previous_rows(ctx: RunContext) -> list[dict[str, Any]] | None:
    for item in ctx.inputs or []:
        path = item.artifact(ROWS_KIND)
        if path is not None and Path(path).is_file():
            return json.loads(Path(path).read_text())["rows"]
    return None


def record_study_row(ctx: RunContext, params: PatchCoreStudyParams, entries: list[dict],
                     unit_stats: list[dict], summary: dict[str, float]) -> None:
    if not params.sweep_child:
        return
    index, total = position(params)
    config = params.model_dump(mode="json")
    values = {k: get_path(config, k) for k in axes_of(params)}
    row = {"index": index, "run_id": ctx.run_id, "run_name": ctx.name, "values": values,
           "label": config_label(values), "mode": params.mode, "train": params.cross_domain.train,
           "feature_dim": unit_stats[0]["feature_dim"] if unit_stats else None,
           "bank_size": _mean([s["bank_size"] for s in unit_stats]),
           "bank_build_s": _mean([s["bank_build_s"] for s in unit_stats]),
           "summary": summary, "tests": [e["test"] for e in entries],
           "entries": {e["test"]: {k: e["metrics"].get(k) for k in ENTRY_KEYS} for e in entries}}
    previous = _previous_rows(ctx) if index > 0 else []
    if previous is None:
        ctx.log(f"sweep child {index + 1}/{total}: the previous child's {ROWS_KIND} artifact is "
                f"missing, so the study plots cover this run only", level="warning")
        previous = []
    rows = [r for r in previous if r["index"] != index] + [row]
    rows.sort(key=lambda r: r["index"])
    path = ctx.output_dir / "study_rows.json"
    path.write_text(json.dumps({"total": total, "rows": rows}, indent=1, sort_keys=True))
    ctx.artifact(path, ROWS_KIND)
    if index == total - 1:
        draw_study(ctx, params, rows)


def _mean(values: list[float]) -> float | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _num(value: Any) -> float:
    return float(value) if value is not None and np.isfinite(value) else float("nan")


def matrices(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Per configuration: train domains (rows), test domains (columns), one array per key."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["mode"] != "cross_domain":
            continue
        m = out.setdefault(row["label"], {"train": [], "test": [], "cells": {}})
        m["train"].append(row["train"])
        for test in row["tests"]:  # the config's order (the JSON file sorts the entry keys)
            if test not in m["test"]:
                m["test"].append(test)
            m["cells"][(row["train"], test)] = row["entries"][test]
    for m in out.values():
        for key in ENTRY_KEYS:
            m[key] = np.asarray([[_num(m["cells"].get((a, b), {}).get(key)) for b in m["test"]]
                                 for a in m["train"]])
    return out


def draw_study(ctx: RunContext, params: PatchCoreStudyParams, rows: list[dict]) -> None:
    from adlab.pipelines.patchcore_study import plots

    out = ctx.output_dir / "study"
    configs: dict[str, list[dict]] = {}
    for row in rows:
        configs.setdefault(row["label"], []).append(row)
    swept = [k for k in axes_of(params) if k != TRAIN_AXIS]
    if params.mode == "cross_domain":
        found = matrices(rows)
        doc: dict[str, Any] = {}
        for n, (label, m) in enumerate(found.items()):
            scope = "matrix" if len(found) == 1 else f"matrix/{label}"
            auroc = m["image_auroc"]
            diag = [auroc[i, m["test"].index(t)] for i, t in enumerate(m["train"]) if t in m["test"]]
            off = [auroc[i, j] for i, a in enumerate(m["train"]) for j, b in enumerate(m["test"]) if a != b]
            stats = {"in_domain_image_auroc": _mean(diag), "cross_domain_image_auroc": _mean(off)}
            if stats["in_domain_image_auroc"] is not None and stats["cross_domain_image_auroc"] is not None:
                stats["domain_gap_image_auroc"] = stats["in_domain_image_auroc"] - stats["cross_domain_image_auroc"]
            for key, value in stats.items():
                if value is not None:
                    ctx.metric(key, value, scope=scope)
            png = plots.matrix_plot(out / f"matrix_{n:02d}.png", m["train"], m["test"], auroc,
                                    title=f"image AUROC, train x test: {label}")
            ctx.artifact(png, ArtifactKind.PLOT_MATRIX)
            doc[label] = {"train": m["train"], "test": m["test"], "scope": scope,
                          **{k: [[None if not np.isfinite(v) else float(v) for v in r] for r in m[k]]
                             for k in ENTRY_KEYS}}
        path = out / "cross_domain_matrix.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1, sort_keys=True))
        ctx.artifact(path, MATRIX_KIND)
    if not swept:
        return
    labels = list(configs)
    if params.mode == "cross_domain":
        series = {"in-domain image AUROC": [_mean([r["summary"].get("in_domain_image_auroc") for r in configs[c]]) for c in labels],
                  "cross-domain image AUROC": [_mean([r["summary"].get("cross_domain_image_auroc") for r in configs[c]]) for c in labels]}
        headline = "in_domain_image_auroc"
    else:
        series = {"image AUROC": [_mean([r["summary"].get("image_auroc") for r in configs[c]]) for c in labels],
                  "pixel AUROC": [_mean([r["summary"].get("pixel_auroc") for r in configs[c]]) for c in labels]}
        headline = "image_auroc"
    what = ", ".join(swept)
    ctx.artifact(plots.grouped_bars(out / "comparison.png", labels, series,
                                    title=f"comparison over {what}", ylabel="AUROC"),
                 ArtifactKind.PLOT_COMPARISON)
    points = [(c, float(configs[c][0]["feature_dim"]), _mean([r["summary"].get(headline) for r in configs[c]]))
              for c in labels if configs[c][0]["feature_dim"]]
    points = [(c, d, v) for c, d, v in points if v is not None]
    if points:
        ctx.artifact(plots.dimension_plot(out / "dimension_vs_auroc.png", points,
                                          title=f"feature dimension vs {headline} ({what})",
                                          ylabel=headline.replace("_", " ")),
                     ArtifactKind.PLOT_FUSION)
