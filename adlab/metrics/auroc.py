"""Area under the ROC curve, exact (ties count one half), at image and pixel level.

Equals scikit-learn's ``roc_auc_score`` on the raw scores: no sigmoid or other transform is
applied (torchmetrics' AUROC applies a sigmoid to scores outside [0, 1], which changes ties).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from adlab.metrics._inputs import prepare_image_level, prepare_pixels
from adlab.metrics.pixel_order import RankedScores, rank_scores
from adlab.metrics.undefined import class_reason, nan_with_reason


def auroc_from_ranked(ranked: RankedScores) -> float:
    """Mann-Whitney form of the ROC area: P(positive > negative) + P(tie) / 2."""
    wins = int(np.dot(ranked.counts, ranked.below))
    ties = int(np.dot(ranked.counts, ranked.tied))
    return (wins + 0.5 * ties) / (ranked.n_pos * ranked.n_neg)


def auroc_reason(ranked: RankedScores, *, positive: str, negative: str) -> str | None:
    return class_reason(ranked.n_pos, ranked.n_neg, positive=positive, negative=negative,
                        needs_negatives=True)


def rank_images(scores: Any, labels: Any) -> RankedScores:
    s, lab = prepare_image_level(scores, labels)
    return rank_scores(s[~lab], s[lab])


def image_auroc(scores: Any, labels: Any) -> float:
    """Image-level AUROC of ``scores`` against 0/1 ``labels`` (NaN if a class is missing)."""
    ranked = rank_images(scores, labels)
    reason = auroc_reason(ranked, positive="anomalous image", negative="normal image")
    return nan_with_reason(reason) if reason else auroc_from_ranked(ranked)


def pixel_auroc(anomaly_maps: Any, masks: Any) -> float:
    """Pixel-level AUROC over all pixels of all maps (maps resized to their mask's size)."""
    from adlab.metrics.pixels import rank_pixels

    ranked, _ = rank_pixels(prepare_pixels(anomaly_maps, masks), with_regions=False)
    reason = auroc_reason(ranked, positive="defect pixel", negative="defect-free pixel")
    return nan_with_reason(reason) if reason else auroc_from_ranked(ranked)
