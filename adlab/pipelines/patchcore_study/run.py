"""The ``patchcore_study`` run: per unit (a train domain and its test domains) build the memory
bank, score each test domain, record metrics, maps, heatmaps and plots; then the run summary,
and, for a sweep's last child, the study-level plots (see study.py).

Metric scopes:
- standard mode: ``<category>`` per category (metrics, bank stats, distances), ``""`` means;
- cross-domain row: ``train=<a>/test=<b>`` per matrix entry, ``""`` the bank stats, the means
  over the row's test domains and ``in_domain_*`` / ``cross_domain_*`` / ``domain_gap_*``.
Feature dimension, bank size/build time/megabytes, search backend (``search_gpu`` 0/1) and
inference ms per image are metrics too. A finished entry (and bank stats) is kept in the
partial-result store with what it recorded, so a re-claimed run replays what is done
(adlab.pipelines.resume) instead of redoing it.

Output layout (under ``ctx.output_dir``)::

    maps/<scope>.npz           float32 maps + image order + scores (anomalib pipeline format)
    tiff_maps/<category>/test/<defect>/<stem>.tiff   maps at the images' size (outputs.tiff_maps)
    heatmaps/<scope>/*.png     overlays
    plots/*.png                ROC, PR, per-domain bars (+ study plots at a sweep's end)
    curves.json                ROC/PR of the first (in-domain) entry, drawn by ``adlab report``
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adlab.core.vocabulary import ArtifactKind, cross_domain_scope
from adlab.errors import PipelineError
from adlab.pipelines.base import RunContext
from adlab.pipelines.resume import Recorder, load_unit, replay, save_unit
from adlab.pipelines.patchcore_study.domains import Domain, parse_domain, run_categories
from adlab.pipelines.patchcore_study.params import PatchCoreStudyParams

ENTRY_PREFIX = "entry/"
BANK_PREFIX = "bank/"
SUMMARY_KEYS = ("image_auroc", "pixel_auroc", "aupro")


@dataclass
class Unit:
    train: Domain
    tests: list[Domain]
    stats_scope: str  # where the bank stats go: the category, or "" for a cross-domain row


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def entry_scope(params: PatchCoreStudyParams, train: Domain, test: Domain) -> str:
    if params.mode == "standard":
        return test.label
    return cross_domain_scope(train.label, test.label)


def plan_units(params: PatchCoreStudyParams) -> list[Unit]:
    if params.mode == "standard":
        return [Unit(parse_domain(c, params), [parse_domain(c, params)], c) for c in run_categories(params)]
    if params.cross_domain.train is None:
        raise PipelineError("mode cross_domain: cross_domain.train is not set; queue the config "
                            "(its expansion makes one run per train domain) or set cross_domain.train")
    tests = params.test_domains()
    if not tests:
        raise PipelineError("mode cross_domain: no test domains; name data.categories or "
                            "cross_domain.test_domains")
    return [Unit(parse_domain(params.cross_domain.train, params),
                 [parse_domain(t, params) for t in tests], "")]


def _evenly_spaced(items: list, limit: int | None) -> list:
    if limit is None or len(items) <= limit:
        return list(items)
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def _load(params: PatchCoreStudyParams, domain: Domain) -> Any:
    from adlab.data import load_category

    options = params.data.options if domain.dataset == params.data.dataset else {}
    return load_category(domain.dataset, domain.root, domain.category, **options)


def _fit_unit(ctx: RunContext, params: PatchCoreStudyParams, extractor: Any, unit: Unit) -> tuple[Any, dict]:
    from adlab.pipelines.patchcore_study.fusion import Fusion
    from adlab.pipelines.patchcore_study.memory_bank import search_backend
    from adlab.pipelines.patchcore_study.patchcore import fit

    data = _load(params, unit.train)
    train = data.train[: params.data.train_limit] if params.data.train_limit else data.train
    if not train:
        raise PipelineError(f"{unit.train.label}: no training images in {unit.train.root}; check the train folder")
    fusion = Fusion.from_params(params.fusion, extractor.layers, extractor.layer_dims)
    ctx.log(f"{unit.train.label}: building the {params.memory_bank.method} bank from "
            f"{len(train)} image(s)")
    fitted = fit(extractor, fusion, params.memory_bank, [s.image_path for s in train],
                 size=params.image_size, batch_size=params.batch_size, seed=params.seed,
                 device=ctx.device, max_source_rows=params.cross_domain.max_patches,
                 on_batch=lambda done, total: ctx.progress(done, total))
    stats = {"feature_dim": float(fusion.feature_dim), "bank_size": float(fitted.bank.size),
             "bank_dim": float(fitted.bank.dim), "bank_mb": fitted.bank.megabytes,
             "bank_build_s": fitted.bank.build_s, "train_patches": float(fitted.n_patches),
             "extract_s": fitted.extract_s,
             "search_gpu": 1.0 if search_backend(fitted.index) == "faiss-gpu" else 0.0}
    for key, value in stats.items():
        ctx.metric(key, value, scope=unit.stats_scope)
    prefix = f"{unit.stats_scope}/" if unit.stats_scope else ""
    for layer, weight in fusion.layer_weights().items():
        ctx.metric("fusion_weight", weight, scope=f"{prefix}layer={layer}")
    ctx.set_info("search_backend", search_backend(fitted.index))
    ctx.log(f"{unit.train.label}: bank {fitted.bank.size} x {fitted.bank.dim} "
            f"({fitted.bank.megabytes:.2f} MB) in {fitted.bank.build_s:.2f} s, feature dim "
            f"{fusion.feature_dim}, {search_backend(fitted.index)}")
    return fitted, {**stats, "fusion_weights": fusion.layer_weights()}


def _score_entry(ctx: RunContext, params: PatchCoreStudyParams, fitted: Any, unit: Unit,
                 test: Domain) -> dict[str, Any]:
    from adlab.data import load_image, load_mask
    from adlab.pipelines.components.evaluation import (evaluate_scored, image_size_outputs,
                                                       metric_device)
    from adlab.pipelines.components.predictions import save_anomaly_maps
    from adlab.pipelines.components.visuals import pick_examples, write_overlay
    from adlab.pipelines.patchcore_study.domain_shift import domain_distances
    from adlab.pipelines.patchcore_study.patchcore import score

    scope = entry_scope(params, unit.train, test)
    samples = _evenly_spaced(_load(params, test).test, params.data.test_limit)
    if not samples:
        raise PipelineError(f"{test.label}: no test images in {test.root}; check the test folder")
    labels = np.asarray([s.label for s in samples], dtype=np.int64)
    size = params.image_size

    def on_batch(done: int, total: int) -> None:
        ctx.progress(done, total)
        ctx.check_cancelled()

    scored = score(fitted, [s.image_path for s in samples], labels.tolist(), size=size,
                   batch_size=params.batch_size, num_neighbors=params.memory_bank.num_neighbors,
                   max_normal_rows=params.cross_domain.max_patches, seed=params.seed, on_batch=on_batch)
    report = evaluate_scored(scored.maps, samples, scored.scores, labels,
                             resolution=params.metrics.resolution, model_hw=(size, size),
                             device=metric_device(ctx))
    metrics = {k: float(v) for k, v in report.values.items()}
    for key, why in report.undefined.items():
        ctx.log(f"{scope}: {key} undefined ({why})", level="warning")
    metrics |= image_size_outputs(ctx, dataset=test.dataset, tiff_maps=params.outputs.tiff_maps,
                                  root=test.root, category=test.category, samples=samples,
                                  maps=scored.maps, scope=scope)
    metrics["infer_ms_per_image"] = scored.ms_per_image
    if len(scored.normal_features) >= 2:
        metrics |= domain_distances(fitted.source_sample, scored.normal_features,
                                    max_rows=params.cross_domain.max_patches, seed=params.seed)
    else:
        ctx.log(f"{scope}: fewer than two normal test patches, no domain distances", level="warning")
    for key, value in metrics.items():
        ctx.metric(key, value, scope=scope)

    (ctx.output_dir / "maps").mkdir(parents=True, exist_ok=True)
    maps_file = save_anomaly_maps(ctx.output_dir / "maps" / f"{slug(scope)}.npz", scored.maps,
                                  [str(s.image_path) for s in samples], scored.scores)
    ctx.artifact(maps_file, ArtifactKind.ANOMALY_MAPS)
    low, high = float(np.percentile(scored.maps, 1)), float(scored.maps.max())
    for i in pick_examples(labels, scored.scores, params.visuals.count):
        sample = samples[i]
        png = write_overlay(
            ctx.output_dir / "heatmaps" / slug(scope) / f"{i:04d}_{sample.defect_type}_{Path(sample.image_path).stem}.png",
            load_image(sample.image_path, (size, size)), scored.maps[i],
            load_mask(sample, (size, size)) if sample.label == 1 else None,
            title=f"{scope} {sample.defect_type} score {scored.scores[i]:.4g}", vmin=low, vmax=high)
        ctx.artifact(png, ArtifactKind.HEATMAP)
    ctx.log(f"{scope}: image AUROC {metrics.get('image_auroc', float('nan')):.4f} on "
            f"{len(samples)} image(s), {scored.ms_per_image:.1f} ms/image")
    return {"scope": scope, "train": unit.train.label, "test": test.label, "metrics": metrics,
            "scores": scored.scores.round(7).tolist(), "labels": labels.tolist(),
            "maps_file": str(maps_file)}


def _finite_mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def summarize(ctx: RunContext, params: PatchCoreStudyParams, entries: list[dict],
              unit_stats: list[dict]) -> dict[str, float]:
    """Run-level ("" scope) metrics: means over entries (and banks), in- vs cross-domain."""
    summary: dict[str, float] = {}
    keys = sorted(set().union(*(e["metrics"] for e in entries)))
    for key in keys:
        mean = _finite_mean([e["metrics"].get(key, float("nan")) for e in entries])
        if mean is not None:
            summary[key] = mean
    if params.mode == "standard":
        for key in sorted(set().union(*(s.keys() for s in unit_stats)) - {"fusion_weights"}):
            mean = _finite_mean([s[key] for s in unit_stats if key in s])
            if mean is not None:
                summary[key] = mean
        summary["categories"] = float(len(entries))
    else:
        for key in SUMMARY_KEYS:
            inside = _finite_mean([e["metrics"].get(key, float("nan")) for e in entries if e["test"] == e["train"]])
            across = _finite_mean([e["metrics"].get(key, float("nan")) for e in entries if e["test"] != e["train"]])
            if inside is not None:
                summary[f"in_domain_{key}"] = inside
            if across is not None:
                summary[f"cross_domain_{key}"] = across
            if inside is not None and across is not None:
                summary[f"domain_gap_{key}"] = inside - across
        summary["test_domains"] = float(len(entries))
    for key, value in summary.items():
        ctx.metric(key, value)
    return summary


def _run_plots(ctx: RunContext, params: PatchCoreStudyParams, entries: list[dict]) -> None:
    from adlab.pipelines.patchcore_study import plots

    name = f"{params.backbone.name} / {params.fusion.strategy} / {params.memory_bank.method}"
    label = (lambda e: e["test"]) if params.mode == "standard" else (lambda e: f"{e['train']} -> {e['test']}")
    curves = {label(e): (np.asarray(e["scores"]), np.asarray(e["labels"])) for e in entries}
    out = ctx.output_dir / "plots"
    ctx.artifact(plots.curve_plot(out / "roc.png", curves, kind="roc", title=f"ROC: {name}"),
                 ArtifactKind.PLOT_ROC)
    ctx.artifact(plots.curve_plot(out / "pr.png", curves, kind="pr", title=f"PR: {name}"),
                 ArtifactKind.PLOT_PR)
    ctx.artifact(plots.grouped_bars(
        out / "auroc_bars.png", [label(e) for e in entries],
        {"image AUROC": [e["metrics"].get("image_auroc") for e in entries],
         "pixel AUROC": [e["metrics"].get("pixel_auroc") for e in entries]},
        title=f"AUROC per domain: {name}", ylabel="AUROC"), ArtifactKind.PLOT_BARS)
    first = next((e for e in entries if e["test"] == e["train"]), entries[0])
    labels = np.asarray(first["labels"])
    if 0 < labels.sum() < len(labels):
        ctx.artifact(plots.write_curves_json(ctx.output_dir / "curves.json", np.asarray(first["scores"]),
                                             labels), ArtifactKind.CURVES)


def run(ctx: RunContext) -> None:
    from adlab.pipelines.patchcore_study.backbones import build_extractor
    from adlab.pipelines.patchcore_study.study import record_study_row

    params = ctx.params
    assert isinstance(params, PatchCoreStudyParams)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in a run may reach the hub
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    units = plan_units(params)
    ctx.set_info("units", [{"train": u.train.label, "tests": [t.label for t in u.tests]} for u in units])
    extractor = build_extractor(params.backbone, image_size=params.image_size, device=ctx.device,
                                seed=params.seed)
    ctx.set_info("weights", extractor.weights)
    ctx.set_info("backbone", {"name": params.backbone.name, "timm_name": extractor.timm_name,
                              "family": extractor.family, "layers": extractor.layers,
                              "layer_dims": extractor.layer_dims})
    entries: list[dict] = []
    unit_stats: list[dict] = []
    for unit in units:
        ctx.check_cancelled()
        keys = [ENTRY_PREFIX + entry_scope(params, unit.train, t) for t in unit.tests]
        saved = [load_unit(ctx, k) for k in keys]
        done = [u if u is not None and Path(u.result["maps_file"]).is_file() else None
                for u in saved]
        bank = load_unit(ctx, BANK_PREFIX + unit.train.label)
        fitted = None
        if bank is not None and all(u is not None for u in done):
            stats = replay(ctx, bank, f"{unit.train.label} bank", what="built")
        else:  # some entry needs the bank in memory: fit it (its stats are recorded afresh)
            recorder = Recorder(ctx)
            fitted, stats = _fit_unit(recorder, params, extractor, unit)  # type: ignore[arg-type]
            save_unit(ctx, BANK_PREFIX + unit.train.label, stats, recorder)
        unit_stats.append(stats)
        for key, test, finished in zip(keys, unit.tests, done):
            if finished is not None:
                entries.append(replay(ctx, finished, finished.result["scope"]))
                continue
            recorder = Recorder(ctx)
            entry = _score_entry(recorder, params, fitted, unit, test)  # type: ignore[arg-type]
            save_unit(ctx, key, entry, recorder)
            entries.append(entry)
            ctx.check_cancelled()
        del fitted
    summary = summarize(ctx, params, entries, unit_stats)
    _run_plots(ctx, params, entries)
    record_study_row(ctx, params, entries, unit_stats, summary)
