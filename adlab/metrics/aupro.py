"""AU-PRO exactly as the official MVTec AD evaluation computes it.

Definition (``mvtec_ad_evaluation``: ``compute_pro`` + ``trapezoid``): ground-truth regions are
the 8-connected components of each mask; at a threshold t a region's overlap is the fraction of
its pixels scoring >= t and PRO(t) is the mean overlap over all regions of all images; FPR(t) is
the fraction of all defect-free pixels (of every image, normal or not) scoring >= t. Points at
equal scores are merged, the curve starts at (0, 0) and ends at (1, 1), is integrated with the
trapezoidal rule up to the FPR limit, with the PRO at the limit linearly interpolated between
its neighbours, and the area is divided by the limit, so a perfect map scores 1.

Computation: let t* be the score where the FPR first reaches the limit (the ceil(limit * N)-th
largest negative score). Every curve segment lies between two consecutive distinct scores; its
width is the number of negatives tied at the lower score, its heights the PRO just above and at
that score. Summed over segments above t*, the area is
``sum_p w_p * #(negatives strictly between t* and s_p) + 1/2 * sum_p w_p * #(negatives == s_p)``
over positive pixels p with score s_p > t* and PRO weight w_p = 1 / (region size * #regions);
the segment through t* is added with the interpolated PRO. Only per-score counts are needed.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from adlab.metrics._inputs import check_fpr_limit, prepare_pixels
from adlab.metrics.pixel_order import RankedScores
from adlab.metrics.undefined import nan_with_reason


def pro_area_from_ranked(ranked: RankedScores, fpr_limit: float) -> float:
    """Normalized area under a weighted overlap curve (PRO or sPRO) up to ``fpr_limit``."""
    weights = ranked.weights
    if weights is None:
        raise ValueError("AU-PRO needs per-pixel region weights; rank with regions")
    n_neg = ranked.n_neg
    budget = fpr_limit * n_neg  # the FPR limit in defect-free pixels
    k = min(max(math.ceil(budget), 1), n_neg)
    t_star = ranked.negatives.kth_largest(k)
    at_or_below = ranked.negatives.count_less_equal(t_star)
    x_lo = n_neg - at_or_below  # negatives strictly above t*
    x_hi = n_neg - ranked.negatives.count_less(t_star)  # negatives at or above t*

    probe = np.asarray(t_star, dtype=ranked.values.dtype)
    first_above = int(np.searchsorted(ranked.values, probe, side="right"))
    w_above = weights[first_above:]
    gaps = (ranked.below[first_above:] - at_or_below).astype(np.float64)
    area = float(np.dot(w_above, gaps))
    area += 0.5 * float(np.dot(w_above, ranked.tied[first_above:].astype(np.float64)))

    pro_above = float(w_above.sum())
    pro_at = pro_above
    if first_above > 0 and ranked.values[first_above - 1] == t_star:
        pro_at += float(weights[first_above - 1])
    width = budget - x_lo
    pro_limit = pro_above + (pro_at - pro_above) * width / (x_hi - x_lo)
    area += 0.5 * (pro_above + pro_limit) * width
    return min(max(area / budget, 0.0), 1.0)


def pro_reason(ranked: RankedScores, n_regions: int, *, region: str = "defect region"
               ) -> str | None:
    if n_regions == 0:
        return f"undefined: there is no {region} in any mask"
    if ranked.n_neg == 0:
        return "undefined: there is no defect-free pixel, so the false positive rate is undefined"
    return None


def aupro(anomaly_maps: Any, masks: Any, fpr_limit: float = 0.3) -> float:
    """AU-PRO up to ``fpr_limit`` (official MVTec AD definition); NaN when undefined."""
    from adlab.metrics.pixels import rank_pixels

    limit = check_fpr_limit(fpr_limit)
    ranked, n_regions = rank_pixels(prepare_pixels(anomaly_maps, masks), with_regions=True)
    reason = pro_reason(ranked, n_regions)
    return nan_with_reason(reason) if reason else pro_area_from_ranked(ranked, limit)
