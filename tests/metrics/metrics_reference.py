"""Independent reference implementations the fast metrics are checked against.

``official_pro_curve`` + ``trapezoid_to`` follow the algorithm of the official MVTec AD
evaluation script (per-pixel FPR/PRO increments carried through one descending argsort of all
pixels, cumulative sums, tie merging, (0,0)/(1,1) end points, trapezoid with interpolation at the
limit), written here from its description. ``brute_force_curve`` is a second, even simpler
reference: it thresholds every map at every distinct score. Both are slow and only meant for
small inputs.
"""
from __future__ import annotations

from bisect import bisect_right

import numpy as np
from scipy.ndimage import label


def _labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    labeled, n = label(mask > 0, structure=np.ones((3, 3), dtype=int))
    return labeled, n


def official_pro_curve(maps: list[np.ndarray], masks: list[np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray]:
    fp_inc, pro_inc, scores = [], [], []
    n_ok, n_regions = 0, 0
    for amap, gt in zip(maps, masks):
        labeled, n = _labels(gt)
        n_regions += n
        ok = labeled == 0
        n_ok += int(ok.sum())
        pro = np.zeros(gt.shape, dtype=np.float64)
        for r in range(1, n + 1):
            region = labeled == r
            pro[region] = 1.0 / region.sum()
        fp_inc.append(ok.astype(np.float64).ravel())
        pro_inc.append(pro.ravel())
        scores.append(np.asarray(amap).ravel())
    scores_all = np.concatenate(scores)
    order = np.argsort(scores_all, kind="stable")[::-1]
    sorted_scores = scores_all[order]
    fprs = np.cumsum(np.concatenate(fp_inc)[order]) / n_ok
    pros = np.cumsum(np.concatenate(pro_inc)[order]) / n_regions
    keep = np.append(np.diff(sorted_scores) != 0, True)
    fprs = np.minimum(fprs[keep], 1.0)
    pros = np.minimum(pros[keep], 1.0)
    return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0]))


def trapezoid_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under (x, y) up to x_max, interpolating y at x_max (x ascending)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    extra = 0.0
    if x_max not in x:
        i = bisect_right(list(x), x_max)
        assert 0 < i < len(x)
        y_at = y[i - 1] + (y[i] - y[i - 1]) * (x_max - x[i - 1]) / (x[i] - x[i - 1])
        extra = 0.5 * (y_at + y[i - 1]) * (x_max - x[i - 1])
    keep = x <= x_max
    x, y = x[keep], y[keep]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + extra)


def official_aupro(maps: list[np.ndarray], masks: list[np.ndarray], limit: float = 0.3) -> float:
    fprs, pros = official_pro_curve(maps, masks)
    return trapezoid_to(fprs, pros, limit) / limit


def brute_force_curve(maps: list[np.ndarray], defects: list[list[np.ndarray]],
                      saturation: list[list[float]] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, mean overlap) at every distinct score, thresholding with >=.

    ``defects[i]`` are image i's defect masks (one per region or LOCO defect); an overlap is
    TP / region size, or min(TP / saturation, 1) when ``saturation`` is given.
    """
    thresholds = np.unique(np.concatenate([np.ravel(m) for m in maps]))[::-1]
    normal = [~np.any(np.array(d), axis=0) if len(d) else np.ones(m.shape, bool)
              for m, d in zip(maps, defects)]
    n_normal = sum(int(n.sum()) for n in normal)
    fprs, ys = [0.0], [0.0]
    for t in thresholds:
        fp = sum(int(((m >= t) & n).sum()) for m, n in zip(maps, normal))
        overlaps = []
        for i, (m, ds) in enumerate(zip(maps, defects)):
            for j, d in enumerate(ds):
                tp = int(((m >= t) & d).sum())
                if saturation is None:
                    overlaps.append(tp / int(d.sum()))
                else:
                    overlaps.append(min(tp / saturation[i][j], 1.0))
        fprs.append(fp / n_normal)
        ys.append(float(np.mean(overlaps)))
    fprs.append(1.0)
    ys.append(1.0 if saturation is None else ys[-1])
    return np.array(fprs), np.array(ys)


def regions_of(mask: np.ndarray) -> list[np.ndarray]:
    labeled, n = _labels(mask)
    return [labeled == r for r in range(1, n + 1)]


def sklearn_f1_max(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    return float(np.max(f1[np.isfinite(f1)]))
