"""Memory banks of normal patch features: greedy coreset, all patches, PCA-reduced, k-means.

- ``coreset``: PatchCore's greedy k-center selection (on a seeded Gaussian random projection of
  ``projection_dim`` dims, as in the paper) keeps ``ratio`` of the patches.
- ``knn``: every training patch (exact nearest neighbour, the upper bound a coreset approximates).
- ``pca``: every training patch projected onto the top ``pca_dim`` principal components; test
  features go through the same projection before the search.
- ``kmeans``: ``k`` faiss k-means centroids (fixed seed) replace the patches.

The bank is searched with the anomalib pipeline's faiss index (GPU when faiss-gpu and a CUDA
device are there). ``build_s`` times the selection/compression only, not the index.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class MemoryBank:
    method: str
    bank: np.ndarray  # (M, D') float32
    build_s: float
    input_rows: int
    input_dim: int
    pca_mean: np.ndarray | None = None
    pca_components: np.ndarray | None = None  # (D', D)

    @property
    def size(self) -> int:
        return int(self.bank.shape[0])

    @property
    def dim(self) -> int:
        return int(self.bank.shape[1])

    @property
    def megabytes(self) -> float:
        return self.bank.nbytes / 2**20

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Test features into the bank's space (PCA projection; identity otherwise)."""
        features = np.asarray(features, dtype=np.float32)
        if self.pca_components is None:
            return features
        return ((features - self.pca_mean) @ self.pca_components.T).astype(np.float32)


def greedy_coreset(features: np.ndarray, count: int, *, projection_dim: int, seed: int,
                   device: str = "cpu") -> np.ndarray:
    """Indices of ``count`` rows chosen by greedy k-center (farthest point first)."""
    import torch

    n = features.shape[0]
    count = max(1, min(count, n))
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    if projection_dim and projection_dim < x.shape[1]:
        proj = torch.randn(x.shape[1], projection_dim, generator=gen) / np.sqrt(projection_dim)
        x = x @ proj
    x = x.to(device)
    start = int(torch.randint(n, (1,), generator=gen).item())
    chosen = torch.empty(count, dtype=torch.long)
    chosen[0] = start
    min_dist = torch.linalg.vector_norm(x - x[start], dim=1)
    for i in range(1, count):
        nxt = int(torch.argmax(min_dist).item())
        chosen[i] = nxt
        min_dist = torch.minimum(min_dist, torch.linalg.vector_norm(x - x[nxt], dim=1))
    return chosen.numpy()


def _pca(features: np.ndarray, dim: int, seed: int, max_fit_rows: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """(mean, components (dim, D)) from an SVD of (a seeded sample of) the centred rows."""
    rng = np.random.default_rng(seed)
    rows = features if features.shape[0] <= max_fit_rows else \
        features[np.sort(rng.choice(features.shape[0], max_fit_rows, replace=False))]
    mean = rows.mean(axis=0, dtype=np.float64)
    _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
    components = vt[: min(dim, vt.shape[0])]
    # Deterministic sign: the largest-magnitude loading of each component is positive.
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    return mean.astype(np.float32), (components * signs[:, None]).astype(np.float32)


def _kmeans(features: np.ndarray, k: int, iters: int, seed: int, device: str) -> np.ndarray:
    import faiss

    from adlab.pipelines.components.faiss_search import gpu_available

    k = max(1, min(k, features.shape[0]))
    km = faiss.Kmeans(features.shape[1], k, niter=iters, seed=seed, verbose=False,
                      gpu=bool(device.startswith("cuda") and gpu_available()),
                      max_points_per_centroid=256)
    km.train(np.ascontiguousarray(features, dtype=np.float32))
    return np.asarray(km.centroids, dtype=np.float32)


def build_bank(features: np.ndarray, params: Any, *, seed: int, device: str = "cpu") -> MemoryBank:
    """``features`` (N, D) float32 normal patches; ``params`` a MemoryBankParams."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    n, d = features.shape
    start = time.perf_counter()
    mean = components = None
    if params.method == "knn":
        bank = features
    elif params.method == "coreset":
        count = int(np.ceil(n * params.coreset_ratio))
        idx = greedy_coreset(features, count, projection_dim=params.projection_dim, seed=seed,
                             device=device)
        bank = features[idx]
    elif params.method == "pca":
        mean, components = _pca(features, params.pca_dim, seed)
        bank = ((features - mean) @ components.T).astype(np.float32)
    elif params.method == "kmeans":
        bank = _kmeans(features, params.kmeans_k, params.kmeans_iters, seed, device)
    else:  # the params model makes this unreachable
        raise ValueError(f"unknown memory bank method {params.method!r}")
    return MemoryBank(method=params.method, bank=np.ascontiguousarray(bank, dtype=np.float32),
                      build_s=time.perf_counter() - start, input_rows=n, input_dim=d,
                      pca_mean=mean, pca_components=components)


def search_backend(index: Any) -> str:
    return "faiss-gpu" if getattr(index, "on_gpu", False) else "faiss-cpu"
