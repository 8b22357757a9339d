"""All anomaly-detection metrics of one evaluation set, or of several categories and their mean.

``evaluate`` validates once, sorts the pixels once (CPU threads, or the GPU when present) and
derives every requested pixel metric from that one order; image metrics use the per-image
scores (default: each map's maximum) and labels (default: the mask has a defect pixel).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from adlab.metrics._inputs import (MetricInputError, check_fpr_limit, check_metric_names,
                                   prepare_image_level, prepare_pixels)
from adlab.metrics.aupro import pro_area_from_ranked, pro_reason
from adlab.metrics.auroc import auroc_from_ranked, auroc_reason
from adlab.metrics.average_precision import ap_from_ranked, ap_reason
from adlab.metrics.f1_max import f1_max_from_ranked
from adlab.metrics.pixel_order import RankedScores, rank_scores
from adlab.metrics.undefined import record_mean

METRIC_KEYS = ("image_auroc", "pixel_auroc", "aupro", "image_f1_max", "pixel_f1_max",
               "image_ap", "pixel_ap")
IMAGE_KEYS = ("image_auroc", "image_f1_max", "image_ap")
PIXEL_KEYS = ("pixel_auroc", "aupro", "pixel_f1_max", "pixel_ap")
MEAN_KEY = "mean"


@dataclass
class MetricReport:
    """Metric values (NaN when undefined, with the reason in ``undefined``) and set sizes.

    ``thresholds`` holds the F1-optimal score thresholds (``image_f1_max``/``pixel_f1_max``);
    ``notes`` explains values that need a remark (e.g. a category mean over fewer categories).
    """

    values: dict[str, float]
    undefined: dict[str, str]
    n_images: int
    n_anomalous: int
    n_pixels: int
    fpr_limit: float = 0.3
    thresholds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``adlab metrics --json``: the metric keys at top level."""
        out: dict[str, Any] = {k: (None if math.isnan(v) else v) for k, v in self.values.items()}
        out.update(undefined=dict(self.undefined), fpr_limit=self.fpr_limit,
                   n_images=self.n_images, n_anomalous=self.n_anomalous,
                   n_pixels=self.n_pixels, thresholds=dict(self.thresholds))
        if self.notes:
            out["notes"] = dict(self.notes)
        return out


def _image_metrics(scores: np.ndarray, labels: np.ndarray, wanted: Sequence[str],
                   report: MetricReport) -> None:
    ranked = rank_scores(scores[~labels], scores[labels])
    for key in wanted:
        if key == "image_auroc":
            reason = auroc_reason(ranked, positive="anomalous image", negative="normal image")
        else:
            reason = ap_reason(ranked, positive="anomalous image")
        if reason:
            report.values[key], report.undefined[key] = math.nan, reason
        elif key == "image_auroc":
            report.values[key] = auroc_from_ranked(ranked)
        elif key == "image_ap":
            report.values[key] = ap_from_ranked(ranked)
        else:
            report.values[key], report.thresholds[key] = f1_max_from_ranked(ranked)


def _pixel_metrics(ranked: RankedScores, n_regions: int, wanted: Sequence[str],
                   fpr_limit: float, report: MetricReport) -> None:
    for key in wanted:
        if key == "aupro":
            reason = pro_reason(ranked, n_regions)
        elif key == "pixel_auroc":
            reason = auroc_reason(ranked, positive="defect pixel", negative="defect-free pixel")
        else:
            reason = ap_reason(ranked, positive="defect pixel")
        if reason:
            report.values[key], report.undefined[key] = math.nan, reason
        elif key == "aupro":
            report.values[key] = pro_area_from_ranked(ranked, fpr_limit)
        elif key == "pixel_auroc":
            report.values[key] = auroc_from_ranked(ranked)
        elif key == "pixel_ap":
            report.values[key] = ap_from_ranked(ranked)
        else:
            report.values[key], report.thresholds[key] = f1_max_from_ranked(ranked)


def evaluate(anomaly_maps: Any, masks: Any, scores: Any = None, labels: Any = None, *,
             fpr_limit: float = 0.3, metrics: Sequence[str] = METRIC_KEYS,
             device: str = "auto") -> MetricReport:
    """Evaluate one set of anomaly maps against ground-truth masks.

    ``anomaly_maps``/``masks``: (N, H, W) arrays or lists of 2-D arrays (sizes may differ per
    image); a map of another size than its mask is resized bilinearly to the mask size.
    ``scores`` default to each map's maximum (before resizing), ``labels`` to "mask has a
    defect pixel". ``device``: 'auto' (GPU when torch sees one and the set is large), 'cpu'
    or 'cuda'. Undefined metrics are NaN with the reason in ``report.undefined``.
    """
    wanted = check_metric_names(metrics, METRIC_KEYS)
    limit = check_fpr_limit(fpr_limit)
    inputs = prepare_pixels(anomaly_maps, masks)
    img_scores = inputs.map_max if scores is None else scores
    img_labels = inputs.has_defect if labels is None else labels
    img_scores, img_labels = prepare_image_level(img_scores, img_labels, inputs.n_images)

    report = MetricReport(values={}, undefined={}, n_images=inputs.n_images,
                          n_anomalous=int(img_labels.sum()), n_pixels=inputs.n_pixels,
                          fpr_limit=limit)
    image_wanted = [k for k in wanted if k in IMAGE_KEYS]
    pixel_wanted = [k for k in wanted if k in PIXEL_KEYS]
    if image_wanted:
        _image_metrics(img_scores, img_labels, image_wanted, report)
    if pixel_wanted:
        from adlab.metrics.pixels import rank_pixels

        ranked, n_regions = rank_pixels(inputs, with_regions="aupro" in pixel_wanted,
                                        device=device)
        del inputs
        _pixel_metrics(ranked, n_regions, pixel_wanted, limit, report)
    report.values = {k: report.values[k] for k in wanted}
    return report


def mean_report(reports: Mapping[str, MetricReport], metrics: Sequence[str],
                fpr_limit: float) -> MetricReport:
    """Mean over categories of each metric, skipping categories where it is undefined.

    A metric undefined in some categories is averaged over the others and ``notes`` names the
    categories left out; undefined in all of them, the mean is NaN with a reason.
    """
    mean = MetricReport(values={}, undefined={}, fpr_limit=fpr_limit,
                        n_images=sum(r.n_images for r in reports.values()),
                        n_anomalous=sum(r.n_anomalous for r in reports.values()),
                        n_pixels=sum(r.n_pixels for r in reports.values()))
    for key in metrics:
        record_mean(mean, key, {n: r.values[key] for n, r in reports.items()}, "category",
                    "categories")
    return mean


def evaluate_per_category(per_category: Mapping[str, tuple], *, fpr_limit: float = 0.3,
                          metrics: Sequence[str] = METRIC_KEYS, device: str = "auto"
                          ) -> dict[str, MetricReport]:
    """Evaluate each category separately (as benchmarks report them) plus their ``"mean"``.

    ``per_category[name]`` is ``(maps, masks)``, ``(maps, masks, scores)`` or
    ``(maps, masks, scores, labels)``; resolutions may differ between categories.
    """
    wanted = check_metric_names(metrics, METRIC_KEYS)
    limit = check_fpr_limit(fpr_limit)
    if MEAN_KEY in per_category:
        raise MetricInputError(
            f"a category is named {MEAN_KEY!r}, which is reserved for the mean; rename it.")
    if not per_category:
        raise MetricInputError("no categories to evaluate.")
    reports: dict[str, MetricReport] = {}
    for name, parts in per_category.items():
        if not isinstance(parts, tuple) or not 2 <= len(parts) <= 4:
            raise MetricInputError(
                f"category {name!r} must be a tuple (maps, masks[, scores[, labels]]).")
        maps, masks, *rest = parts
        scores = rest[0] if len(rest) > 0 else None
        labels = rest[1] if len(rest) > 1 else None
        try:
            reports[name] = evaluate(maps, masks, scores, labels, fpr_limit=limit,
                                     metrics=wanted, device=device)
        except MetricInputError as exc:
            raise MetricInputError(f"category {name!r}: {exc}") from exc
    reports[MEAN_KEY] = mean_report(reports, wanted, limit)
    return reports
