"""Fusion, memory banks, domain distances and curves on small arrays (real torch/faiss)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adlab.pipelines.patchcore_study.domain_shift import (cosine_of_means, domain_distances,
                                                          feature_drift, mmd_rbf, sliced_wasserstein,
                                                          wasserstein_1d)
from adlab.pipelines.patchcore_study.fusion import Fusion
from adlab.pipelines.patchcore_study.memory_bank import build_bank, greedy_coreset
from adlab.pipelines.patchcore_study.params import FusionParams, MemoryBankParams
from adlab.pipelines.patchcore_study.plots import pr_curve, roc_curve


def _layers(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 8, 8, 8, generator=g) * 3.0, torch.randn(2, 16, 4, 4, generator=g)]


@pytest.mark.parametrize("strategy,dim,expected", [
    ("single", None, 16), ("concat", None, 24), ("concat", 12, 12), ("weighted", None, 8),
    ("adaptive", None, 8), ("adaptive", 4, 4)])
def test_fusion_dimensions_and_grid(strategy, dim, expected):
    params = FusionParams(strategy=strategy, dim=dim,
                          weights=[0.25, 0.75] if strategy == "weighted" else None)
    fusion = Fusion.from_params(params, ["a", "b"], [8, 16])
    prepared = fusion.prepare(_layers())
    grid = (4, 4) if strategy == "single" else (8, 8)  # the deep layer alone keeps its grid
    assert all(tuple(p.shape[:3]) == (2, *grid) for p in prepared)  # else the finest grid
    fusion.fit([p.reshape(-1, p.shape[-1]).numpy() for p in prepared])
    fused = fusion.combine(prepared)
    assert tuple(fused.shape) == (2, *grid, expected) and fusion.feature_dim == expected
    assert sum(fusion.layer_weights().values()) == pytest.approx(1.0)


def test_adaptive_weights_follow_variance_and_weighted_uses_given_weights():
    g = torch.Generator().manual_seed(1)
    varying = torch.randn(4, 8, 6, 6, generator=g)
    constant = torch.ones(4, 8, 6, 6) * 5.0 + 0.01 * torch.randn(4, 8, 6, 6, generator=g)
    adaptive = Fusion.from_params(FusionParams(strategy="adaptive", neighbourhood=1), ["v", "c"], [8, 8])
    prepared = adaptive.prepare([varying, constant])
    adaptive.fit([p.reshape(-1, 8).numpy() for p in prepared])
    w = adaptive.layer_weights()
    assert w["v"] > 0.99 and w["c"] < 0.01  # a constant layer carries no information
    weighted = Fusion.from_params(FusionParams(strategy="weighted", weights=[1, 3], neighbourhood=1),
                                  ["v", "c"], [8, 8])
    weighted.fit([p.reshape(-1, 8).numpy() for p in weighted.prepare([varying, constant])])
    assert weighted.layer_weights() == pytest.approx({"v": 0.25, "c": 0.75})
    # Each layer is scaled to unit RMS before weighting, so the fused value is the weighted sum.
    p = weighted.prepare([varying, constant])
    expected = 0.25 * p[0] * float(weighted.scales[0]) + 0.75 * p[1] * float(weighted.scales[1])
    assert torch.allclose(weighted.combine(p), expected)


def test_fusion_rejects_mismatched_weights_and_unknown_layer():
    from adlab.errors import PipelineError

    with pytest.raises(PipelineError, match="one weight per layer"):
        Fusion.from_params(FusionParams(strategy="weighted", weights=[1.0]), ["a", "b"], [8, 16])
    with pytest.raises(PipelineError, match="fusion.layer 'c'"):
        Fusion.from_params(FusionParams(strategy="single", layer="c"), ["a", "b"], [8, 16])


def test_greedy_coreset_is_farthest_point_sampling():
    x = np.random.default_rng(0).standard_normal((200, 6)).astype(np.float32)
    idx = greedy_coreset(x, 10, projection_dim=0, seed=3)
    chosen = [int(idx[0])]
    dist = np.linalg.norm(x - x[chosen[0]], axis=1)
    for _ in range(9):  # brute-force reference
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(x - x[chosen[-1]], axis=1))
    assert idx.tolist() == chosen


@pytest.mark.parametrize("method,size,dim", [("knn", 500, 32), ("coreset", 50, 32),
                                             ("pca", 500, 8), ("kmeans", 20, 32)])
def test_bank_variants_sizes(method, size, dim):
    x = np.random.default_rng(0).standard_normal((500, 32)).astype(np.float32)
    params = MemoryBankParams(method=method, coreset_ratio=0.1, pca_dim=8, kmeans_k=20, projection_dim=16)
    bank = build_bank(x, params, seed=0)
    assert (bank.size, bank.dim) == (size, dim) and bank.build_s >= 0
    assert bank.transform(x[:3]).shape == (3, dim)
    again = build_bank(x, params, seed=0)
    assert np.array_equal(bank.bank, again.bank)  # seeded: the same bank twice


def test_pca_bank_keeps_distances_of_low_rank_data():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((300, 4)) @ rng.standard_normal((4, 32))).astype(np.float32)
    bank = build_bank(x, MemoryBankParams(method="pca", pca_dim=4), seed=0)
    q = x[:5]
    full = np.linalg.norm(q[:, None] - x[None], axis=-1)
    reduced = np.linalg.norm(bank.transform(q)[:, None] - bank.bank[None], axis=-1)
    assert np.allclose(full, reduced, atol=1e-3)


def test_distances_separate_shifted_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 8)), rng.standard_normal((300, 8))
    shifted = b + np.r_[2.0, np.zeros(7)]
    assert abs(mmd_rbf(a, b)) < 0.01 and mmd_rbf(a, shifted) > 0.1
    assert wasserstein_1d(np.zeros(10), np.full(10, 3.0)) == pytest.approx(3.0)
    assert wasserstein_1d([0, 1, 2], [0, 1, 2]) == 0.0
    assert sliced_wasserstein(a, shifted) > 3 * sliced_wasserstein(a, b)
    assert cosine_of_means(a + 5, b + 5) > 0.99 and cosine_of_means(a + 5, -(b + 5)) < -0.99
    assert feature_drift(a, shifted) == pytest.approx(
        np.linalg.norm(shifted.mean(0) - a.mean(0)) / np.sqrt((a ** 2).sum(1).mean()))
    d = domain_distances(a, shifted, max_rows=100, seed=0)
    assert set(d) == {"mmd", "wasserstein", "mean_cosine", "feature_drift"}


def test_curves_match_scikit_learn():
    from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.random(60) + labels * 0.3, 1)  # ties on purpose
    fpr, tpr = roc_curve(scores, labels)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(labels, scores))
    recall, precision = pr_curve(scores, labels)
    p_ref, r_ref, _ = precision_recall_curve(labels, scores)
    assert auc(recall, precision) == pytest.approx(auc(r_ref[::-1], p_ref[::-1]), abs=0.05)
    assert set(np.round(precision[1:], 9)) == set(np.round(p_ref[:-1], 9))
