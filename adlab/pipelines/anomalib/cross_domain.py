"""Seed 002's protocol: the model trained on the source domain scores every target domain.

The run's category is the source domain; after its own test set is scored, each domain of
``cross_domain.test_domains`` is scored with the same exported model (no retraining), under the
scope ``train=<source>/test=<target>``. Run-level summaries: ``in_domain_<k>`` (the source's own
test set), ``cross_domain_<k>`` (mean over the targets) and ``domain_gap_<k>`` for image AUROC,
pixel AUROC and AU-PRO where defined, and ``test_domains`` (how many were scored).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from adlab.core.vocabulary import ArtifactKind, cross_domain_scope
from adlab.pipelines.anomalib.params import AnomalibParams
from adlab.pipelines.base import RunContext

SUMMARY_KEYS = ("image_auroc", "pixel_auroc", "aupro")


def score_target_domains(ctx: RunContext, params: AnomalibParams, root: Path, source: str,
                         scorer: Any, source_metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Score each target domain's test set with ``scorer``; returns ``target -> metrics``."""
    from adlab.data import load_category
    from adlab.pipelines.anomalib.run import _evenly_spaced
    from adlab.pipelines.anomalib.spec import resolve_test_domains
    from adlab.pipelines.components.evaluation import evaluate_scored, metric_device, record_report
    from adlab.pipelines.components.infer import score_paths
    from adlab.pipelines.components.predictions import save_anomaly_maps

    per_target: dict[str, dict[str, float]] = {}
    for target in (t for t in resolve_test_domains(params) if t != source):
        ctx.check_cancelled()
        data = load_category(params.data.dataset, root, target, **params.data.options)
        test = _evenly_spaced(data.test, params.data.test_limit)
        scope = cross_domain_scope(source, target)
        scored = score_paths(scorer, [s.image_path for s in test],
                             threads=params.inference.decode_threads)
        labels = np.asarray([s.label for s in test], dtype=np.int64)
        report = evaluate_scored(scored.maps, test, scored.scores, labels,
                                 resolution=params.metrics.resolution, model_hw=params.size_hw,
                                 device=metric_device(ctx))
        per_target[target] = record_report(ctx, report, scope)
        out_dir = ctx.output_dir / source / "targets"
        out_dir.mkdir(parents=True, exist_ok=True)
        maps_file = save_anomaly_maps(out_dir / f"{target}.npz",
                                      scored.maps, [str(s.image_path) for s in test], scored.scores)
        ctx.artifact(maps_file, ArtifactKind.ANOMALY_MAPS)
        auroc = per_target[target].get("image_auroc", float("nan"))
        ctx.log(f"{scope}: scored {len(test)} image(s), image AUROC {auroc:.4f}")
    _summarize(ctx, source_metrics, per_target)
    return per_target


def _summarize(ctx: RunContext, inside: Mapping[str, float],
               per_target: Mapping[str, Mapping[str, float]]) -> None:
    for key in SUMMARY_KEYS:
        own = inside.get(key)
        across = [m[key] for m in per_target.values() if key in m and math.isfinite(m[key])]
        if own is not None and math.isfinite(own):
            ctx.metric(f"in_domain_{key}", own)
        if across:
            ctx.metric(f"cross_domain_{key}", float(np.mean(across)))
        if own is not None and math.isfinite(own) and across:
            ctx.metric(f"domain_gap_{key}", own - float(np.mean(across)))
    ctx.metric("test_domains", float(len(per_target)))
