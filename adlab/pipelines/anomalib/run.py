"""The ``anomalib`` pipeline: per category fit -> ONNX export -> parity -> onnxruntime scoring ->
metrics, thresholds, predictions, maps and heatmaps; then the run-level means and files.

Output layout (under ``ctx.output_dir``)::

    <category>/bundle/           exported model (see export.py), with thresholds in bundle.json
    <category>/checkpoints/      Lightning checkpoint (train.checkpoint)
    <category>/anomaly_maps.npz  float32 maps (model resolution) + image order + scores
    tiff_maps/<category>/test/<defect>/<stem>.tiff   maps at the images' size (outputs.tiff_maps)
    <category>/heatmaps/*.png    overlays
    predictions.json             the seed's AD predictions records, every category
    thresholds.yaml              the seed's thresholds file (global + per "<Dataset>/<category>")

A finished category is remembered in the partial-result store with what it recorded, so a
re-claimed run replays its metrics and artifacts (adlab.pipelines.resume) and resumes with the
next category.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adlab.core.phase import Phase, phase_message
from adlab.core.vocabulary import ArtifactKind
from adlab.errors import PipelineError
from adlab.pipelines.anomalib.params import AnomalibParams
from adlab.pipelines.base import RunContext
from adlab.pipelines.components.predictions import TEST_LABELS_F1
from adlab.pipelines.resume import resumable

STATE_PREFIX = "category/"
ARTIFACT_KINDS = {"onnx": "onnx", "onnx_head": "onnx", "memory_bank": "memory_bank"}


@dataclass
class CategoryOutcome:
    category: str
    key: str  # "<Dataset>/<category>"
    metrics: dict[str, float]
    image_threshold: float
    pixel_threshold: float | None
    bundle_dir: str
    maps_file: str
    n_test: int
    parity: dict[str, Any]
    threshold_source: str = TEST_LABELS_F1
    val_scores: list[float] = field(default_factory=list)  # thresholds.source: validation


def _evenly_spaced(items: list, limit: int | None) -> list:
    if limit is None or len(items) <= limit:
        return list(items)
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def _record_timing(ctx: RunContext, key: str, value: float, scope: str) -> dict[str, float]:
    ctx.metric(key, value, scope=scope)
    return {key: float(value)}


def _parity(ctx: RunContext, module: Any, scorer: Any, paths: list[Path], params: AnomalibParams,
            scope: str) -> dict[str, float]:
    from adlab.pipelines.components.export import parity_errors
    from adlab.pipelines.components.infer import decode

    sample = _evenly_spaced(paths, params.export.parity_samples)
    score_diff, map_diff = parity_errors(module, scorer, decode(sample, params.size_hw))
    result = {"samples": len(sample), "max_abs_score": score_diff, "max_abs_map": map_diff,
              "tolerance": params.export.parity_tolerance, "mode": params.export.memory_bank}
    ctx.metric("parity_score_max_abs", score_diff, scope=scope)
    ctx.metric("parity_map_max_abs", map_diff, scope=scope)
    if max(score_diff, map_diff) > params.export.parity_tolerance:
        raise PipelineError(
            f"{scope}: ONNX/torch parity {max(score_diff, map_diff):.3g} (score {score_diff:.3g}, "
            f"map {map_diff:.3g} on {len(sample)} images) exceeds export.parity_tolerance "
            f"{params.export.parity_tolerance:g}; the exported model does not reproduce the "
            f"trained one")
    return result


def _test_thresholds(scores: np.ndarray, labels: np.ndarray, report: Any
                     ) -> tuple[float, float | None]:
    """F1-optimal image threshold on the test labels, and the pixel one (at the evaluation
    resolution) where the category has defect and defect-free pixels."""
    from adlab.metrics import f1_max

    if labels.min() == labels.max():
        image_t = float(scores.max()) + 1e-6 if labels.max() == 0 else float(scores.min())
    else:
        image_t = float(f1_max(scores, labels)[1])
    pixel_t = report.thresholds.get("pixel_f1_max")
    return image_t, None if pixel_t is None else float(pixel_t)


def _export_checked(ctx: RunContext, built: Any, params: AnomalibParams, workdir: Path,
                    dataset_label: str, category: str, test_paths: list[Path],
                    timings: dict[str, float]) -> tuple[Any, Any, dict[str, Any]]:
    """ONNX export -> onnxruntime scorer -> parity check; a failure names the torch fallback."""
    from adlab.pipelines.anomalib.torch_engine import with_fallback_hint
    from adlab.pipelines.components.export import export_bundle
    from adlab.pipelines.components.infer import load_scorer

    scope = category
    start = time.perf_counter()
    try:
        exported = export_bundle(built.module, workdir / "bundle", size_hw=params.size_hw,
                                 batch_size=params.inference.batch_size,
                                 memory_bank=params.export.memory_bank, model_type=built.info.name,
                                 extra_meta={"dataset": params.data.dataset,
                                             "dataset_label": dataset_label,
                                             "category": category, "weights": built.weights})
    except PipelineError as exc:
        raise with_fallback_hint(exc) from None
    timings |= _record_timing(ctx, "export_s", time.perf_counter() - start, scope)
    for role, path in exported.files.items():
        if role != "bundle":
            ctx.artifact(path, ARTIFACT_KINDS.get(role, "onnx_data" if role.endswith("_data") else role))
    onnx_bytes = sum(p.stat().st_size for r, p in exported.files.items() if r != "bundle")
    ctx.metric("export_mb", onnx_bytes / 2**20, scope=scope)
    ctx.check_cancelled()

    scorer = load_scorer(exported.bundle_dir, device=ctx.device, provider=params.inference.provider)
    try:
        parity = _parity(ctx, built.module, scorer, test_paths, params, scope)
    except PipelineError as exc:
        raise with_fallback_hint(exc) from None
    ctx.set_info("onnx_providers", list(getattr(scorer, "providers", [])))
    return exported, scorer, parity


def run_category(ctx: RunContext, params: AnomalibParams, root: Path, dataset_label: str,
                 category: str) -> CategoryOutcome:
    from lightning.pytorch import seed_everything

    from adlab.data import load_category, load_image, load_mask
    from adlab.pipelines.anomalib.torch_engine import TorchScorer, engine_record
    from adlab.pipelines.components.ad_params import VALIDATION
    from adlab.pipelines.components.evaluation import (evaluate_scored, image_size_outputs,
                                                       metric_device, record_report,
                                                       record_values)
    from adlab.pipelines.components.export import update_bundle_meta
    from adlab.pipelines.components.infer import score_paths
    from adlab.pipelines.anomalib.models import build_model
    from adlab.pipelines.components.predictions import (VALIDATION_NORMAL_QUANTILE,
                                                        normal_quantile_thresholds,
                                                        save_anomaly_maps)
    from adlab.pipelines.anomalib.train import split_validation, train_model
    from adlab.pipelines.components.visuals import pick_examples, write_overlay

    scope = category
    workdir = ctx.output_dir / category
    if workdir.exists():  # leftovers of an interrupted attempt
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    data = load_category(params.data.dataset, root, category, **params.data.options)
    train = data.train[: params.data.train_limit] if params.data.train_limit else data.train
    test = _evenly_spaced(data.test, params.data.test_limit)
    if not test:
        raise PipelineError(f"{dataset_label}/{category}: no test images; check the test folder")
    timings: dict[str, float] = {}
    val = data.val
    if params.thresholds.source == VALIDATION:  # held out of training unless the layout has a split
        train, val = split_validation(train, data.val, params.data.val_fraction, params.seed)
        ctx.log(f"{category}: thresholds from {len(val)} normal validation image(s)"
                + ("" if any(s.label == 0 for s in data.val) else ", held out of training"))

    seed_everything(params.seed, workers=True, verbose=False)
    built = build_model(params)
    ctx.set_info("weights", built.weights)
    result = train_model(built, train, val, params=params, ctx=ctx, workdir=workdir, label=scope)
    timings |= _record_timing(ctx, "fit_s", result.fit_s, scope)
    ctx.metric("epochs_run", result.epochs_run, scope=scope)
    if result.best_val_loss is not None:
        ctx.metric("best_val_loss", result.best_val_loss, scope=scope)
    if result.checkpoint is not None and params.train.checkpoint:
        ctx.artifact(result.checkpoint, ArtifactKind.CHECKPOINT)
    elif result.checkpoint is not None:
        shutil.rmtree(result.checkpoint.parent, ignore_errors=True)
    shutil.rmtree(workdir / "engine", ignore_errors=True)
    ctx.check_cancelled()

    test_paths = [s.image_path for s in test]
    ctx.set_info("inference_engine", engine_record(params.inference.engine))
    if params.inference.engine == "torch":
        ctx.log(f"{category}: inference.engine is torch: no ONNX export, scoring with the torch "
                f"model", level="warning")
        scorer: Any = TorchScorer(built.module, size_hw=params.size_hw,
                                  batch_size=params.inference.batch_size, device=ctx.device)
        exported, parity = None, engine_record("torch")
    else:
        ctx.progress(0, 1, message=phase_message(Phase.EXPORT, category))
        exported, scorer, parity = _export_checked(ctx, built, params, workdir, dataset_label,
                                                   category, test_paths, timings)
    del built
    ctx.check_cancelled()

    def on_batch(done: int, total: int) -> None:
        ctx.progress(done, total)
        ctx.check_cancelled()

    ctx.progress(0, len(test_paths), message=phase_message(Phase.SCORE, category))
    scored = score_paths(scorer, test_paths, threads=params.inference.decode_threads, on_batch=on_batch)
    timings |= _record_timing(ctx, "infer_ms_per_image", scored.ms_per_image, scope)
    timings |= _record_timing(ctx, "infer_wall_s", scored.wall_s, scope)
    ctx.log(f"{category}: scored {len(test)} test image(s) with {params.inference.engine} "
            f"({scored.ms_per_image:.1f} ms/image, {', '.join(getattr(scorer, 'providers', []))})")

    labels = np.asarray([s.label for s in test], dtype=np.int64)
    report = evaluate_scored(scored.maps, test, scored.scores, labels,
                             resolution=params.metrics.resolution, model_hw=params.size_hw,
                             device=metric_device(ctx))
    metrics = record_report(ctx, report, scope)
    metrics |= record_values(ctx, image_size_outputs(
        ctx, dataset=params.data.dataset, tiff_maps=params.outputs.tiff_maps, root=root,
        category=category, samples=test, maps=scored.maps, scope=scope), scope)
    val_scores: list[float] = []
    if params.thresholds.source == VALIDATION:
        val_scored = score_paths(scorer, [s.image_path for s in val],
                                 threads=params.inference.decode_threads)
        image_t, pixel_t = normal_quantile_thresholds(val_scored.scores, val_scored.maps,
                                                      params.thresholds.normal_quantile)
        source, val_scores = VALIDATION_NORMAL_QUANTILE, val_scored.scores.tolist()
    else:
        image_t, pixel_t = _test_thresholds(scored.scores, labels, report)
        source = TEST_LABELS_F1
    ctx.metric("image_threshold", image_t, scope=scope)
    if exported is not None:
        update_bundle_meta(exported.bundle_dir, image_threshold=image_t,
                           pixel_threshold=pixel_t if pixel_t is not None else image_t,
                           threshold_source=source)
        ctx.artifact(exported.files["bundle"], ArtifactKind.BUNDLE)

    maps_file = save_anomaly_maps(workdir / "anomaly_maps.npz", scored.maps,
                                  [str(p) for p in test_paths], scored.scores)
    ctx.artifact(maps_file, ArtifactKind.ANOMALY_MAPS)
    if labels.min() != labels.max():  # ROC/PR need normal and anomalous test images
        from adlab.pipelines.components.curves import write_curves_json

        ctx.artifact(write_curves_json(workdir / "curves.json", scored.scores, labels),
                     ArtifactKind.CURVES)
    low, high = float(np.percentile(scored.maps, 1)), float(scored.maps.max())
    for i in pick_examples(labels, scored.scores, params.visuals.count):
        sample = test[i]
        png = write_overlay(workdir / "heatmaps" / f"{i:04d}_{sample.defect_type}_{Path(sample.image_path).stem}.png",
                            load_image(sample.image_path, params.size_hw), scored.maps[i],
                            load_mask(sample, params.size_hw) if sample.label == 1 else None,
                            title=f"{dataset_label}/{category} {sample.defect_type} "
                                  f"score {scored.scores[i]:.4g}", vmin=low, vmax=high)
        ctx.artifact(png, ArtifactKind.HEATMAP)
    if params.cross_domain.test_domains is not None:  # seed 002: train here, test elsewhere
        from adlab.pipelines.anomalib.cross_domain import score_target_domains

        score_target_domains(ctx, params, root, category, scorer, metrics)
    return CategoryOutcome(category=category, key=f"{dataset_label}/{category}",
                           metrics={**metrics, **timings}, image_threshold=image_t,
                           pixel_threshold=pixel_t,
                           bundle_dir=str(exported.bundle_dir) if exported is not None else "",
                           maps_file=str(maps_file), n_test=len(test), parity=parity,
                           threshold_source=source, val_scores=val_scores)


def _write_run_outputs(ctx: RunContext, params: AnomalibParams, root: Path, dataset_label: str,
                       outcomes: list[CategoryOutcome]) -> None:
    from adlab.data import image_size, load_category
    from adlab.metrics import f1_max
    from adlab.pipelines.components.predict import display_path
    from adlab.pipelines.components.predictions import (
        VALIDATION_NORMAL_QUANTILE, Thresholds, load_anomaly_maps, prediction_record,
        write_predictions,
    )

    pooled_scores, pooled_labels, records = [], [], []
    for outcome in outcomes:
        maps, paths, scores = load_anomaly_maps(Path(outcome.maps_file))
        data = load_category(params.data.dataset, root, outcome.category, **params.data.options)
        by_path = {str(s.image_path): s for s in data.test}
        labels = np.asarray([by_path[p].label for p in paths])
        pooled_scores.append(scores)
        pooled_labels.append(labels)
        for i, path in enumerate(paths):
            records.append(prediction_record(
                image_path=display_path(Path(path), root.parent), score=float(scores[i]),
                threshold=outcome.image_threshold,
                pixel_threshold=outcome.pixel_threshold if outcome.pixel_threshold is not None
                else outcome.image_threshold,
                anomaly_map=maps[i], original_hw=image_size(Path(path)), dataset=dataset_label,
                category=outcome.category, model_type=params.model,
                threshold_source=outcome.threshold_source))
    all_scores, all_labels = np.concatenate(pooled_scores), np.concatenate(pooled_labels)
    sources = {o.threshold_source for o in outcomes}
    source = sources.pop() if len(sources) == 1 else "mixed"
    if source == VALIDATION_NORMAL_QUANTILE:
        global_t = float(np.quantile(np.concatenate([o.val_scores for o in outcomes]),
                                     params.thresholds.normal_quantile))
    elif all_labels.min() != all_labels.max():
        global_t = float(f1_max(all_scores, all_labels)[1])
    else:
        global_t = float(np.mean([o.image_threshold for o in outcomes]))
    pixel = {o.key: o.pixel_threshold for o in outcomes if o.pixel_threshold is not None}
    thresholds = Thresholds(global_=global_t, categories={o.key: o.image_threshold for o in outcomes},
                            pixel_global=float(np.median(list(pixel.values()))) if pixel else None,
                            pixel_categories=pixel or None, source=source)
    # Where the thresholds come from (test labels: optimistic), wherever verdicts are read.
    ctx.set_info("threshold_source", source)
    ctx.metric("global_threshold", global_t)
    ctx.artifact(thresholds.to_yaml(ctx.output_dir / "thresholds.yaml"), ArtifactKind.THRESHOLDS)
    ctx.artifact(write_predictions(records, ctx.output_dir / "predictions.json"),
                 ArtifactKind.PREDICTIONS)


def run(ctx: RunContext) -> None:
    from adlab.data import dataset_root, resolve_categories

    params = ctx.params
    assert isinstance(params, AnomalibParams)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in a run may reach the hub
    root = dataset_root(params.data.root, params.data.dataset)
    categories = resolve_categories(params.data.dataset, root, params.data.category_list() or "all",
                                    **params.data.options)
    dataset_label = root.name
    ctx.set_info("categories", categories)
    ctx.set_info("data_root", str(root))
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[CategoryOutcome] = []

    def compute(rec: RunContext, category: str) -> dict[str, Any]:
        rec.log(f"{category}: starting ({len(outcomes) + 1}/{len(categories)})")
        return asdict(run_category(rec, params, root, dataset_label, category))

    def files_kept(saved: dict[str, Any]) -> bool:
        return Path(saved["maps_file"]).is_file() and Path(saved["bundle_dir"]).is_dir()

    for category in categories:
        ctx.check_cancelled()
        saved = resumable(ctx, STATE_PREFIX + category, lambda rec, c=category: compute(rec, c),
                          label=category, valid=files_kept)
        outcomes.append(CategoryOutcome(**saved))
        ctx.set_info("parity", {o.category: o.parity for o in outcomes})
    _write_run_outputs(ctx, params, root, dataset_label, outcomes)
    keys = sorted(set.intersection(*(set(o.metrics) for o in outcomes)))
    for key in keys:
        values = [o.metrics[key] for o in outcomes if np.isfinite(o.metrics[key])]
        if values:
            ctx.metric(key, float(np.mean(values)))
    ctx.metric("categories", float(len(outcomes)))
