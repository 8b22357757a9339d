"""Best F1 over all thresholds, and the threshold that reaches it.

The official MVTec AD evaluation takes ``max(2PR / (P + R))`` over scikit-learn's
precision-recall curve; the same maximum is reached at a threshold equal to a positive score,
where F1 = 2 TP / (TP + FP + #positives). An image or pixel is predicted anomalous when its
score is >= the threshold; among thresholds with the same best F1 the highest is returned.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from adlab.metrics._inputs import prepare_pixels
from adlab.metrics.auroc import rank_images
from adlab.metrics.average_precision import ap_reason, precision_recall_counts
from adlab.metrics.pixel_order import RankedScores
from adlab.metrics.undefined import nan_with_reason


def f1_max_from_ranked(ranked: RankedScores) -> tuple[float, float]:
    _, true_pos, false_pos = precision_recall_counts(ranked)
    f1 = 2.0 * true_pos / (true_pos + false_pos + ranked.n_pos)
    best = int(np.argmax(f1))
    return float(f1[best]), float(ranked.values[::-1][best])


def f1_max(scores: Any, labels: Any) -> tuple[float, float]:
    """(best F1, threshold) at image level; (NaN, NaN) when there is no anomalous image."""
    ranked = rank_images(scores, labels)
    reason = ap_reason(ranked, positive="anomalous image")
    if reason:
        return nan_with_reason(reason), math.nan
    return f1_max_from_ranked(ranked)


def pixel_f1_max(anomaly_maps: Any, masks: Any) -> tuple[float, float]:
    """(best F1, threshold) over all pixels; (NaN, NaN) when no mask has a defect pixel."""
    from adlab.metrics.pixels import rank_pixels

    ranked, _ = rank_pixels(prepare_pixels(anomaly_maps, masks), with_regions=False)
    reason = ap_reason(ranked, positive="defect pixel")
    if reason:
        return nan_with_reason(reason), math.nan
    return f1_max_from_ranked(ranked)
