"""Average precision, as scikit-learn's ``average_precision_score`` defines it.

AP = sum over distinct thresholds (descending) of (R_n - R_{n-1}) * P_n: the step-wise area
under the precision-recall curve, without interpolation.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from adlab.metrics._inputs import prepare_pixels
from adlab.metrics.auroc import rank_images
from adlab.metrics.pixel_order import RankedScores
from adlab.metrics.undefined import class_reason, nan_with_reason


def precision_recall_counts(ranked: RankedScores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives at each distinct positive score, thresholds descending.

    Only thresholds equal to a positive score matter: between two of them true positives stay
    constant while false positives can only grow, so neither AP nor the best F1 can be there.
    """
    counts = ranked.counts[::-1]
    true_pos = np.cumsum(counts)
    false_pos = ranked.n_neg - ranked.below[::-1]
    return counts, true_pos, false_pos


def ap_from_ranked(ranked: RankedScores) -> float:
    counts, true_pos, false_pos = precision_recall_counts(ranked)
    precision = true_pos / (true_pos + false_pos)
    return float(np.dot(counts, precision) / ranked.n_pos)


def ap_reason(ranked: RankedScores, *, positive: str) -> str | None:
    return class_reason(ranked.n_pos, ranked.n_neg, positive=positive, negative="",
                        needs_negatives=False)


def image_ap(scores: Any, labels: Any) -> float:
    """Image-level average precision (NaN when there is no anomalous image)."""
    ranked = rank_images(scores, labels)
    reason = ap_reason(ranked, positive="anomalous image")
    return nan_with_reason(reason) if reason else ap_from_ranked(ranked)


def pixel_ap(anomaly_maps: Any, masks: Any) -> float:
    """Pixel-level average precision (NaN when no mask has a defect pixel)."""
    from adlab.metrics.pixels import rank_pixels

    ranked, _ = rank_pixels(prepare_pixels(anomaly_maps, masks), with_regions=False)
    reason = ap_reason(ranked, positive="defect pixel")
    return nan_with_reason(reason) if reason else ap_from_ranked(ranked)
