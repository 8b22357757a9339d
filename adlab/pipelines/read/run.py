"""The ``read`` pipeline: load READ (or CLIP for the baseline) and SAM from local paths, export
SAM's prompt encoder + mask decoder to ONNX once, then per category: every test image -> SAM
image embedding (once) -> prompt -> decoder -> mask logits at the original size -> image score;
metrics through adlab.metrics; logits, metadata and visuals as artifacts.

Output layout (under ``ctx.output_dir``)::

    sam_decoder.onnx              prompt encoder + mask decoder (onnxruntime)
    <category>/logits.npz         float32 mask logits per image (original size) + names
    <category>/metadata.jsonl     one record per sample (prompt, answer, points, score, ...)
    <category>/visuals/*.png      image+points | prediction | ground truth

A finished category is remembered in the partial-result store with what it recorded; a
re-claimed run replays its metrics and artifacts (adlab.pipelines.resume) and resumes with the
next one.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adlab.core.vocabulary import ArtifactKind
from adlab.errors import PipelineError
from adlab.pipelines.base import RunContext
from adlab.pipelines.resume import resumable
from adlab.pipelines.read.params import ReadParams

STATE_PREFIX = "category/"


@dataclass
class CategoryOutcome:
    category: str
    metrics: dict[str, float]
    logits_file: str
    metadata_file: str
    n_test: int


def _evenly_spaced(items: list, limit: int | None) -> list:
    if limit is None or len(items) <= limit:
        return list(items)
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def image_score(logits: np.ndarray, reduction: str, topk_fraction: float) -> float:
    """The image's anomaly score from its mask logits: a reduction of sigmoid(logits)."""
    prob = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -80, 80)))
    if reduction == "max":
        return float(prob.max())
    if reduction == "mean":
        return float(prob.mean())
    k = max(1, int(round(prob.size * topk_fraction)))
    return float(np.partition(prob.reshape(-1), prob.size - k)[-k:].mean())


def _eval_map(logits: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or logits.shape == (size, size):
        return logits.astype(np.float32)
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(logits, dtype=torch.float32)[None, None]
    return F.interpolate(t, (size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


def check_weights(params: ReadParams) -> None:
    """Fail before any work with one sentence per missing path (what to download, which param)."""
    from adlab.pipelines.read.model.checkpoint import MLLM_HINT, require_folder
    from adlab.pipelines.read.model.clip_prompter import BASELINE_CLIP_HINT
    from adlab.pipelines.read.model.sam import SAM_CHECKPOINT_HINT

    if params.mode == "read":
        require_folder(params.mllm_path, "mllm_path", MLLM_HINT)
    else:
        require_folder(params.clip_path, "clip_path", BASELINE_CLIP_HINT)
        if not params.sam_checkpoint:
            raise PipelineError(f"sam_checkpoint is not set (mode: baseline needs SAM weights); "
                                f"{SAM_CHECKPOINT_HINT}")
    if params.sam_checkpoint and not Path(params.sam_checkpoint).expanduser().is_file():
        raise PipelineError(f"sam_checkpoint {params.sam_checkpoint} does not exist; {SAM_CHECKPOINT_HINT}")


def _decoder(ctx: RunContext, params: ReadParams, segmenter: Any) -> Any:
    if params.decoder.backend != "onnx":
        return None
    from adlab.pipelines.read.sam_onnx import OnnxDecoder, export_decoder

    start = time.perf_counter()
    path = export_decoder(segmenter.sam, ctx.output_dir / "sam_decoder.onnx")
    ctx.metric("export_s", time.perf_counter() - start)
    ctx.artifact(path, ArtifactKind.ONNX)
    decoder = OnnxDecoder(path, provider=params.decoder.provider)
    ctx.set_info("onnx_providers", decoder.providers)
    return decoder


def run_category(ctx: RunContext, params: ReadParams, segmenter: Any, decoder: Any, root: Path,
                 category: str) -> CategoryOutcome:
    from adlab.data import load_category, load_image, load_mask
    from adlab.metrics import evaluate
    from adlab.pipelines.components.ad_params import MASK
    from adlab.pipelines.components.evaluation import image_size_outputs, metric_device
    from adlab.pipelines.read.outputs import pick_examples, save_logits, write_metadata, write_visual

    workdir = ctx.output_dir / category
    if workdir.exists():  # leftovers of an interrupted attempt
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    data = load_category(params.data.dataset, root, category, **params.data.options)
    test = _evenly_spaced(data.test, params.data.test_limit)
    if not test:
        raise PipelineError(f"{category}: no test images under {root / category}; check the test folder")
    logits_all: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    maps, masks, scores, parity = [], [], [], 0.0
    prompt_points: list[tuple[np.ndarray, np.ndarray]] = []
    at_mask = params.metrics.resolution == MASK
    start = time.perf_counter()
    for i, sample in enumerate(test):
        ctx.check_cancelled()
        image = load_image(sample.image_path)
        encoded = segmenter.encode(image)
        prompt = segmenter.prompt(image, category, sample.defect_type)
        if decoder is not None:
            emb = encoded.embeddings.float().cpu().numpy()
            logits = decoder.decode(emb, prompt.decoder)
            if i < params.decoder.parity_samples:
                parity = max(parity, float(np.abs(segmenter.decode_torch(encoded, prompt) - logits).max()))
        else:
            logits = segmenter.decode_torch(encoded, prompt)
        if logits.shape != image.shape[:2]:
            raise PipelineError(f"{sample.image_path}: mask logits {logits.shape} do not match the image "
                                f"{image.shape[:2]}; the SAM post-processing is misconfigured")
        score = image_score(logits, params.score.reduction, params.score.topk_fraction)
        logits_all.append(logits.astype(np.float32))  # at the image's size: TIFFs, LOCO sPRO
        if at_mask:  # the logits are at the image's size already: nothing is resized
            maps.append(logits_all[-1])
            masks.append(load_mask(sample))
        else:
            eval_size = params.eval_size
            maps.append(_eval_map(logits, eval_size))
            masks.append(load_mask(sample, (eval_size, eval_size) if eval_size else None))
        scores.append(score)
        prompt_points.append((prompt.points_xy, prompt.point_labels))
        records.append({"index": i, "image_path": str(sample.image_path), "category": category,
                        "defect_type": sample.defect_type, "label": int(sample.label),
                        "height": int(image.shape[0]), "width": int(image.shape[1]),
                        "prompt": prompt.question, "answer": prompt.answer, "seg_found": prompt.seg_found,
                        **prompt.extra,
                        "points": np.round(prompt.points_xy, 2).tolist(),
                        "point_labels": prompt.point_labels.tolist(), "score": score,
                        "logit_max": float(logits.max()), "mask_fraction": float((logits > 0).mean())})
        ctx.progress(i + 1, len(test))
    elapsed = time.perf_counter() - start
    same_size = len({m.shape for m in maps}) == 1 and len({m.shape for m in masks}) == 1
    if not same_size and not at_mask:
        raise PipelineError(f"{category}: test images differ in size, so metrics need a common size; "
                            f"set eval_size (e.g. 256) or metrics.resolution: mask")
    labels = np.asarray([s.label for s in test], dtype=np.int64)
    report = evaluate(np.stack(maps) if same_size else maps,
                      np.stack(masks).astype(np.uint8) if same_size else masks,
                      scores=np.asarray(scores), labels=labels, device=metric_device(ctx))
    metrics = {k: float(v) for k, v in report.values.items()}
    for key, why in report.undefined.items():
        ctx.log(f"{category}: {key} undefined ({why})", level="warning")
    metrics |= image_size_outputs(ctx, dataset=params.data.dataset,
                                  tiff_maps=params.outputs.tiff_maps, root=root,
                                  category=category, samples=test, maps=logits_all,
                                  scope=category)
    metrics["ms_per_image"] = 1000.0 * elapsed / len(test)
    if params.mode == "read":
        metrics["seg_found_fraction"] = float(np.mean([bool(r["seg_found"]) for r in records]))
    if decoder is not None and params.decoder.parity_samples:
        metrics["decoder_parity_max_abs"] = parity
    for key, value in metrics.items():
        ctx.metric(key, value, scope=category)
    if decoder is not None and params.decoder.parity_samples and parity > params.decoder.parity_tolerance:
        raise PipelineError(f"{category}: ONNX/torch decoder parity {parity:.3g} exceeds "
                            f"decoder.parity_tolerance {params.decoder.parity_tolerance:g}; the exported "
                            f"decoder does not reproduce SAM")
    logits_file = save_logits(workdir / "logits.npz", logits_all, [str(s.image_path) for s in test])
    ctx.artifact(logits_file, ArtifactKind.MASK_LOGITS)
    metadata_file = write_metadata(workdir / "metadata.jsonl", records)
    ctx.artifact(metadata_file, ArtifactKind.METADATA)
    if labels.min() != labels.max():  # ROC/PR need normal and anomalous test images
        from adlab.pipelines.components.curves import write_curves_json

        ctx.artifact(write_curves_json(workdir / "curves.json", np.asarray(scores), labels),
                     ArtifactKind.CURVES)
    for i in pick_examples(labels, np.asarray(scores), params.visuals):
        sample = test[i]
        gt = load_mask(sample) if sample.label == 1 else None
        png = write_visual(workdir / "visuals" / f"{i:04d}_{sample.defect_type}_{Path(sample.image_path).stem}.png",
                           load_image(sample.image_path), logits_all[i].astype(np.float32), gt,
                           *prompt_points[i])
        ctx.artifact(png, ArtifactKind.VISUAL)
    ctx.log(f"{category}: {len(test)} image(s), {metrics['ms_per_image']:.0f} ms/image, "
            f"image_auroc {metrics.get('image_auroc', float('nan')):.4f}")
    return CategoryOutcome(category=category, metrics=metrics, logits_file=str(logits_file),
                           metadata_file=str(metadata_file), n_test=len(test))


def run(ctx: RunContext) -> None:
    import torch

    from adlab.data import dataset_root, resolve_categories
    from adlab.pipelines.read.model.segmenter import load_segmenter

    params = ctx.params
    assert isinstance(params, ReadParams)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in a run may reach the hub
    check_weights(params)
    root = dataset_root(params.data.root, params.data.dataset)
    categories = resolve_categories(params.data.dataset, root, params.data.category_list() or "all",
                                    **params.data.options)
    ctx.set_info("categories", categories)
    ctx.set_info("data_root", str(root))
    ctx.set_info("prompt_template", params.question_template)
    ctx.set_info("prompt_leaks_defect_type", params.leaks_defect_type)
    if params.leaks_defect_type:
        ctx.log("the prompt names the ground-truth defect type (prompt.allow_defect_name): results are "
                "not comparable with class-only prompts", level="warning")
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(params.seed)
    start = time.perf_counter()
    segmenter, weights = load_segmenter(params, ctx.device)
    ctx.set_info("weights", weights)
    ctx.metric("load_s", time.perf_counter() - start)
    decoder = _decoder(ctx, params, segmenter)
    outcomes: list[CategoryOutcome] = []

    def compute(rec: RunContext, category: str) -> dict[str, Any]:
        rec.log(f"{category}: starting ({len(outcomes) + 1}/{len(categories)})")
        return asdict(run_category(rec, params, segmenter, decoder, root, category))

    for category in categories:
        ctx.check_cancelled()
        saved = resumable(ctx, STATE_PREFIX + category, lambda rec, c=category: compute(rec, c),
                          label=category, valid=lambda s: Path(s["logits_file"]).is_file())
        outcomes.append(CategoryOutcome(**saved))
    keys = sorted(set.intersection(*(set(o.metrics) for o in outcomes)))
    for key in keys:
        values = [o.metrics[key] for o in outcomes if np.isfinite(o.metrics[key])]
        if values:
            ctx.metric(key, float(np.max(values) if key == "decoder_parity_max_abs" else np.mean(values)))
    ctx.metric("categories", float(len(outcomes)))
