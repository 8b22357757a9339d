"""Area under the sPRO curve for MVTec LOCO AD (saturated per-region overlap).

Definition (official MVTec LOCO evaluation): every annotated defect (one ground-truth channel,
not a connected component) has a saturation area S; its sPRO at threshold t is
min(TP(t) / S, 1), where TP(t) counts its pixels scoring above t; the curve's y is the mean sPRO
over all defects of all images and its x the FPR over pixels that belong to no defect. The
official script samples thresholds adaptively; here every distinct score is a threshold (the
limit of that refinement), then the same trapezoid-with-interpolation and division by the limit
as AU-PRO. Saturation areas come from ``defects_config.json``:
:func:`loco_saturation_area` applies its rule.

min(TP / S, 1) equals the sum, over a defect's pixels in descending score order, of weights
min(1, S - j) / S (j = 0, 1, ...): only the top ceil(S) pixels carry weight. So sPRO reuses the
AU-PRO machinery with these weights instead of 1 / region size.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from adlab.metrics._inputs import MetricInputError, binary_mask, check_fpr_limit
from adlab.metrics.aupro import pro_area_from_ranked, pro_reason
from adlab.metrics.pixel_order import rank_scores
from adlab.metrics.resize import resize_bilinear
from adlab.metrics.undefined import nan_with_reason


def loco_saturation_area(defect_area: int, saturation_threshold: float,
                         relative_saturation: bool) -> float:
    """The LOCO rule: relative -> int(threshold * area); absolute -> min(threshold, area)."""
    if relative_saturation:
        return float(int(saturation_threshold * defect_area))
    return float(min(saturation_threshold, defect_area))


def _saturated_weights(values: np.ndarray, saturation: float) -> tuple[np.ndarray, np.ndarray]:
    """The top ceil(S) scores of one defect and their weights min(1, S - j) / S."""
    keep = min(len(values), math.ceil(saturation))
    top = np.partition(values, len(values) - keep)[len(values) - keep:] if keep < len(values) \
        else values
    top = np.sort(top)[::-1]
    ranks = np.arange(len(top), dtype=np.float64)
    return top, np.minimum(1.0, saturation - ranks) / saturation


def spro(anomaly_maps: Any, masks_per_defect: Sequence[Sequence[np.ndarray]],
         saturation_areas: Sequence[Sequence[float]], fpr_limit: float = 0.3) -> float:
    """AU-sPRO up to ``fpr_limit``.

    ``masks_per_defect[i]`` holds image i's defect masks (a list of 2-D arrays or a (K, H, W)
    array; empty for a good image) and ``saturation_areas[i]`` one saturation area in pixels
    per defect. A saturation area below one pixel is raised to one pixel (zero would make the
    official division undefined). Maps of another size are resized to the masks' size.
    """
    limit = check_fpr_limit(fpr_limit)
    maps = [np.asarray(m) for m in anomaly_maps]
    if len(maps) != len(masks_per_defect) or len(maps) != len(saturation_areas):
        raise MetricInputError(
            f"spro got {len(maps)} maps, {len(masks_per_defect)} defect-mask lists and "
            f"{len(saturation_areas)} saturation-area lists; pass one of each per image.")
    negatives, positives, weights = [], [], []
    n_defects = 0
    for i, (amap, defects, areas) in enumerate(zip(maps, masks_per_defect, saturation_areas)):
        if amap.ndim != 2 or not np.isfinite(amap).all():
            raise MetricInputError(
                f"anomaly map {i} must be 2-D and finite, got shape {amap.shape}.")
        defects = [binary_mask(np.asarray(d), f"defect mask {j} of image {i}")
                   for j, d in enumerate(defects)]
        if len(defects) != len(areas):
            raise MetricInputError(
                f"image {i} has {len(defects)} defect masks but {len(areas)} saturation areas.")
        shape = defects[0].shape if defects else amap.shape
        if amap.shape != shape:
            amap = resize_bilinear(amap, shape)
        union = np.zeros(shape, dtype=bool)
        for j, (d, area) in enumerate(zip(defects, areas)):
            if d.shape != shape or not d.any():
                raise MetricInputError(
                    f"defect mask {j} of image {i} is empty or not of shape {shape}; every "
                    "defect needs at least one pixel.")
            top, w = _saturated_weights(amap[d], max(float(area), 1.0))
            positives.append(top)
            weights.append(w)
            union |= d
            n_defects += 1
        negatives.append(amap[~union])
    dtype = np.result_type(*negatives, *positives)
    pos = np.concatenate(positives).astype(dtype) if positives else np.empty(0, dtype)
    w = np.concatenate(weights) / n_defects if weights else np.empty(0)
    ranked = rank_scores([np.concatenate(negatives).astype(dtype)], pos, w)
    reason = pro_reason(ranked, n_defects, region="annotated defect")
    return nan_with_reason(reason) if reason else pro_area_from_ranked(ranked, limit)
