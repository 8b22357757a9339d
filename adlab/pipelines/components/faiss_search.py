"""Exact nearest-neighbour search over a PatchCore memory bank with faiss.

An exact (flat L2) index gives the same neighbours as anomalib's in-graph brute force; on a
GPU (faiss-gpu installed and a CUDA device asked for) the index moves to the device.
Distances are returned as Euclidean distances (faiss reports squared ones).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and getattr(faiss, "get_num_gpus", lambda: 0)() > 0


@dataclass
class BankIndex:
    index: object
    bank: np.ndarray  # (N, D) float32
    on_gpu: bool

    @property
    def size(self) -> int:
        return int(self.bank.shape[0])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances (n,k), indices (n,k))`` of the k nearest bank rows of each query."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        squared, idx = self.index.search(queries, k)  # type: ignore[attr-defined]
        return np.sqrt(np.maximum(squared, 0.0)), idx


def build_index(bank: np.ndarray, *, device: str = "cpu", threads: int | None = None) -> BankIndex:
    """A flat L2 index over ``bank``; on the GPU when ``device`` is cuda and faiss-gpu is present."""
    import faiss

    bank = np.ascontiguousarray(bank, dtype=np.float32)
    if threads:
        faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatL2(bank.shape[1])
    index.add(bank)
    on_gpu = False
    if device.startswith("cuda") and gpu_available():
        gpu_id = int(device.partition(":")[2] or 0)
        resources = faiss.StandardGpuResources()
        index = faiss.index_cpu_to_gpu(resources, gpu_id, index)
        index._adlab_resources = resources  # keep the GPU memory pool alive with the index
        on_gpu = True
    return BankIndex(index=index, bank=bank, on_gpu=on_gpu)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def patchcore_scores(features: np.ndarray, index: BankIndex, num_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """PatchCore's scoring (anomalib's ``PatchcoreModel``) with faiss doing the searches.

    ``features`` is ``(B, P, D)``; returns image scores ``(B,)`` and patch distances ``(B, P)``.
    The image score re-weights the largest patch distance by how isolated its nearest bank
    entry is among that entry's own neighbours (the paper's Eq. 7).
    """
    b, p, d = features.shape
    dist, loc = index.search(features.reshape(b * p, d), 1)
    patch = dist[:, 0].reshape(b, p)
    loc = loc[:, 0].reshape(b, p)
    if num_neighbors == 1:
        return patch.max(axis=1), patch
    rows = np.arange(b)
    worst = patch.argmax(axis=1)
    worst_features = features[rows, worst]  # m^test,*
    score = patch[rows, worst]  # s^*
    nn_sample = index.bank[loc[rows, worst]]  # m^*
    _, support = index.search(nn_sample, min(num_neighbors, index.size))
    support_features = index.bank[support]  # (B, k, D)
    distances = np.linalg.norm(worst_features[:, None, :] - support_features, axis=-1)
    weights = 1.0 - _softmax(distances, axis=1)[:, 0]
    return (weights * score).astype(np.float32), patch.astype(np.float32)
