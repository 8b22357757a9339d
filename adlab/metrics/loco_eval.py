"""MVTec LOCO AD evaluation of anomaly maps on disk, reported as the official script reports it.

The official ``evaluate_experiment.py`` of MVTec LOCO AD computes, per category:

* AU-sPRO at the FPR limits 0.01, 0.05, 0.1, 0.3 and 1.0, once over the logical anomalies plus
  the good test images and once over the structural anomalies plus the good test images; the
  headline value is the mean of the two (keys ``spro@<limit>``, ``spro_logical@<limit>``,
  ``spro_structural@<limit>``);
* image AUROC of each anomaly type against the good test images, image score = the map's
  maximum, and the mean of the two (``auroc_logical``, ``auroc_structural``, ``auroc_mean``);
  adlab adds all anomalous images against the good ones (``auroc_all``).

This module is the arithmetic over :class:`LocoImage` arrays. Reading maps and ground truth
from disk (maps resized bilinearly to the ground-truth grid, the image score taken before
resizing; saturation areas from ``defects_config.json``) is :mod:`adlab.cli.metrics_loco`,
which joins :mod:`adlab.data.loco` (the dataset) and this package (the metric rules).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

# The dataset's names and the key rule live in adlab.core.loco_keys (no NumPy: pipeline specs
# declare their sPRO metrics from them); re-exported here.
from adlab.core.loco_keys import (ANOMALY_TYPES, GOOD, LOGICAL,  # noqa: F401
                                  OFFICIAL_SPRO_LIMITS, STRUCTURAL, spro_key)
from adlab.core.loco_keys import SHORT_NAMES as _SHORT
from adlab.errors import AdlabError
from adlab.metrics._inputs import check_fpr_limit
from adlab.metrics.auroc import auroc_from_ranked, auroc_reason
from adlab.metrics.pixel_order import rank_scores
from adlab.metrics.spro import spro
from adlab.metrics.undefined import UndefinedMetricWarning, record_mean

MEAN_KEY = "mean"


def loco_metric_keys(spro_limits: Sequence[float]) -> list[str]:
    keys = [spro_key(limit) for limit in spro_limits]
    for anomaly_type in ANOMALY_TYPES:
        keys += [spro_key(limit, anomaly_type) for limit in spro_limits]
    return keys + ["auroc_logical", "auroc_structural", "auroc_all", "auroc_mean"]


def check_spro_limits(spro_limits: Sequence[float]) -> tuple[float, ...]:
    """Each limit in (0, 1], duplicates dropped, ascending."""
    limits = sorted({check_fpr_limit(limit) for limit in spro_limits})
    if not limits:
        raise AdlabError("no FPR limit for AU-sPRO was given; pass at least one, e.g. 0.3.")
    return tuple(limits)


@dataclass
class LocoImage:
    """One test image on its ground-truth grid: map, image score, defects, saturation areas."""

    anomaly_type: str  # good, logical_anomalies or structural_anomalies
    anomaly_map: np.ndarray
    score: float  # the map's maximum before resizing (the official image score)
    defects: list[np.ndarray] = field(default_factory=list)  # one boolean mask per defect
    saturation_areas: list[float] = field(default_factory=list)


@dataclass
class LocoReport:
    """Metric values (NaN when undefined, with the reason in ``undefined``) and image counts.

    ``notes`` explains values that need a remark (a mean over fewer parts than usual).
    """

    values: dict[str, float]
    undefined: dict[str, str]
    spro_limits: tuple[float, ...]
    counts: dict[str, int]
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``adlab metrics --loco --json``: the metric keys at top level."""
        out: dict[str, Any] = {k: (None if math.isnan(v) else v) for k, v in self.values.items()}
        out.update(undefined=dict(self.undefined), spro_limits=list(self.spro_limits),
                   **self.counts)
        if self.notes:
            out["notes"] = dict(self.notes)
        return out


# ---------------------------------------------------------------- metrics

def _spro_with_reason(images: Sequence[LocoImage], limit: float) -> tuple[float, str | None]:
    """AU-sPRO of these images, and why it is undefined when it is NaN."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        value = spro([im.anomaly_map for im in images], [im.defects for im in images],
                     [im.saturation_areas for im in images], fpr_limit=limit)
    if not math.isnan(value):
        return value, None
    reasons = [str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    return value, reasons[-1] if reasons else "undefined"


def _auroc(positives: Sequence[float], negatives: Sequence[float], positive: str
           ) -> tuple[float, str | None]:
    ranked = rank_scores(np.asarray(negatives, dtype=np.float64),
                         np.asarray(positives, dtype=np.float64))
    reason = auroc_reason(ranked, positive=positive, negative="good test image")
    return (math.nan, reason) if reason else (auroc_from_ranked(ranked), None)


def _mean_of_parts(report: LocoReport, key: str, parts: Mapping[str, str], what: str) -> None:
    """``report.values[key]`` = mean of the defined ``parts`` (label -> key), with a note."""
    record_mean(report, key, {label: report.values[k] for label, k in parts.items()}, what,
                what + "s")


def evaluate_loco_images(images: Sequence[LocoImage],
                         spro_limits: Sequence[float] = OFFICIAL_SPRO_LIMITS) -> LocoReport:
    """AU-sPRO per anomaly type and limit, their mean, and the image AUROCs of one category."""
    limits = check_spro_limits(spro_limits)
    by_type = {t: [im for im in images if im.anomaly_type == t] for t in (GOOD, *ANOMALY_TYPES)}
    good = by_type[GOOD]
    counts = {"n_images": len(images), "n_good": len(good),
              "n_logical": len(by_type[LOGICAL]), "n_structural": len(by_type[STRUCTURAL]),
              "n_defects": sum(len(im.defects) for im in images)}
    report = LocoReport(values={}, undefined={}, spro_limits=limits, counts=counts)
    values, undefined = report.values, report.undefined

    for limit in limits:
        values[spro_key(limit)] = math.nan  # filled below; keeps the key order
    for anomaly_type in ANOMALY_TYPES:
        subset = by_type[anomaly_type]
        for limit in limits:
            key = spro_key(limit, anomaly_type)
            if subset:
                values[key], reason = _spro_with_reason(subset + good, limit)
            else:
                values[key], reason = math.nan, f"undefined: there is no {anomaly_type} test image"
            if reason:
                undefined[key] = reason
    for limit in limits:
        _mean_of_parts(report, spro_key(limit),
                       {t: spro_key(limit, t) for t in ANOMALY_TYPES}, "anomaly type")

    good_scores = [im.score for im in good]
    for anomaly_type in ANOMALY_TYPES:
        key = f"auroc_{_SHORT[anomaly_type]}"
        values[key], reason = _auroc([im.score for im in by_type[anomaly_type]], good_scores,
                                     positive=f"{anomaly_type} test image")
        if reason:
            undefined[key] = reason
    anomalous = [im.score for t in ANOMALY_TYPES for im in by_type[t]]
    values["auroc_all"], reason = _auroc(anomalous, good_scores, positive="anomalous test image")
    if reason:
        undefined["auroc_all"] = reason
    _mean_of_parts(report, "auroc_mean",
                   {t: f"auroc_{_SHORT[t]}" for t in ANOMALY_TYPES}, "anomaly type")
    report.values = {k: values[k] for k in loco_metric_keys(limits)}
    return report


def mean_loco_report(reports: Mapping[str, LocoReport]) -> LocoReport:
    """Mean over categories of each metric, skipping (and noting) categories where undefined."""
    first = next(iter(reports.values()))
    counts = {k: sum(r.counts[k] for r in reports.values()) for k in first.counts}
    mean = LocoReport(values={}, undefined={}, spro_limits=first.spro_limits, counts=counts)
    for key in first.values:
        record_mean(mean, key, {n: r.values[key] for n, r in reports.items()}, "category",
                    "categories")
    return mean
