"""Distances between two sets of patch features (source domain X, target domain Y).

- ``mmd``: squared maximum mean discrepancy, unbiased estimate, Gaussian kernel with the
  median-heuristic bandwidth of the pooled sample (0 in expectation for one distribution).
- ``wasserstein``: sliced Wasserstein-1, the mean over seeded random unit directions of the
  exact 1-D Wasserstein-1 distance between the projected samples (quantile matching).
- ``mean_cosine``: cosine similarity of the two mean feature vectors (1 = same direction).
- ``feature_drift``: |mean(Y) - mean(X)| / RMS norm of X, the mean shift in units of the
  source features' scale.
All are computed on at most ``max_rows`` seeded sample rows per side.
"""
from __future__ import annotations

import numpy as np

DISTANCE_KEYS = ("mmd", "wasserstein", "mean_cosine", "feature_drift")


def sample_rows(x: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    if x.shape[0] <= max_rows:
        return np.asarray(x, dtype=np.float64)
    idx = np.sort(np.random.default_rng(seed).choice(x.shape[0], max_rows, replace=False))
    return np.asarray(x[idx], dtype=np.float64)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def mmd_rbf(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> float:
    """Unbiased MMD^2 with k(a, b) = exp(-|a-b|^2 / (2 h^2)); h = median pooled distance."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError("MMD needs at least two rows on each side")
    dxx, dyy, dxy = _sq_dists(x, x), _sq_dists(y, y), _sq_dists(x, y)
    if bandwidth is None:
        pooled = np.concatenate([dxx[np.triu_indices(m, 1)], dyy[np.triu_indices(n, 1)], dxy.ravel()])
        positive = pooled[pooled > 0]
        bandwidth = float(np.sqrt(np.median(positive) / 2.0)) if positive.size else 1.0
    gamma = 1.0 / (2.0 * bandwidth ** 2)
    kxx, kyy, kxy = np.exp(-gamma * dxx), np.exp(-gamma * dyy), np.exp(-gamma * dxy)
    term_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    term_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(term_x + term_y - 2.0 * kxy.mean())


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W1 between two 1-D empirical distributions (any sizes): integral of |F_a - F_b|."""
    a, b = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
    grid = np.concatenate([a, b])
    grid.sort()
    widths = np.diff(grid)
    cdf_a = np.searchsorted(a, grid[:-1], side="right") / len(a)
    cdf_b = np.searchsorted(b, grid[:-1], side="right") / len(b)
    return float(np.sum(np.abs(cdf_a - cdf_b) * widths))


def sliced_wasserstein(x: np.ndarray, y: np.ndarray, *, projections: int = 64, seed: int = 0) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    dirs = np.random.default_rng(seed).standard_normal((x.shape[1], projections))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    px, py = x @ dirs, y @ dirs
    return float(np.mean([wasserstein_1d(px[:, i], py[:, i]) for i in range(projections)]))


def cosine_of_means(x: np.ndarray, y: np.ndarray) -> float:
    mx, my = np.mean(x, axis=0, dtype=np.float64), np.mean(y, axis=0, dtype=np.float64)
    denom = np.linalg.norm(mx) * np.linalg.norm(my)
    return float(mx @ my / denom) if denom > 0 else 0.0


def feature_drift(x: np.ndarray, y: np.ndarray) -> float:
    shift = np.linalg.norm(np.mean(y, axis=0, dtype=np.float64) - np.mean(x, axis=0, dtype=np.float64))
    scale = np.sqrt(np.mean(np.sum(np.asarray(x, np.float64) ** 2, axis=1)))
    return float(shift / scale) if scale > 0 else 0.0


def domain_distances(source: np.ndarray, target: np.ndarray, *, max_rows: int, seed: int) -> dict[str, float]:
    """Every distance of DISTANCE_KEYS between two feature sets (rows sampled with ``seed``)."""
    x = sample_rows(source, max_rows, seed)
    y = sample_rows(target, max_rows, seed + 1)
    return {"mmd": mmd_rbf(x, y), "wasserstein": sliced_wasserstein(x, y, seed=seed),
            "mean_cosine": cosine_of_means(x, y), "feature_drift": feature_drift(x, y)}
