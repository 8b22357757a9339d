"""PatchCore with pluggable parts: extract -> fuse -> memory bank (fit); extract -> fuse ->
faiss nearest-neighbour search -> patch distances -> upsampled, smoothed map (score).

Image scores use PatchCore's re-weighted maximum (anomalib's ``PatchcoreModel``), computed by
the anomalib pipeline's faiss helpers; maps are the patch distances bilinearly upsampled to the
image size and smoothed with a Gaussian (sigma 4, as anomalib).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from adlab.pipelines.patchcore_study.backbones import FeatureExtractor
from adlab.pipelines.patchcore_study.fusion import Fusion
from adlab.pipelines.patchcore_study.memory_bank import MemoryBank, build_bank

MAP_SIGMA = 4.0
Progress = Callable[[int, int], None]


def load_batch(paths: Sequence[Path], size: int) -> np.ndarray:
    """(B, size, size, 3) float32 in [0, 1], resized in float (never rounded to 8 bit)."""
    from adlab.data.imageio import load_image_float

    return np.stack([load_image_float(p, (size, size)) for p in paths])


@dataclass
class FittedPatchCore:
    extractor: FeatureExtractor
    fusion: Fusion
    bank: MemoryBank
    index: Any  # faiss_search.BankIndex
    source_sample: np.ndarray  # fused training patches (sampled) for domain distances
    grid: tuple[int, int]
    n_train: int
    n_patches: int
    extract_s: float


@dataclass
class Scored:
    scores: np.ndarray  # (N,)
    maps: np.ndarray  # (N, S, S) float32
    normal_features: np.ndarray  # fused patches of the normal images (sampled)
    ms_per_image: float
    wall_s: float


def _fused_batches(extractor: FeatureExtractor, fusion: Fusion, paths: Sequence[Path], size: int,
                   batch_size: int, on_batch: Progress | None) -> Any:
    for start in range(0, len(paths), batch_size):
        batch = paths[start:start + batch_size]
        prepared = fusion.prepare(extractor(load_batch(batch, size)))
        yield start, batch, prepared
        if on_batch:
            on_batch(start + len(batch), len(paths))


def fit(extractor: FeatureExtractor, fusion: Fusion, bank_params: Any, train_paths: Sequence[Path], *,
        size: int, batch_size: int, seed: int, device: str, max_source_rows: int,
        on_batch: Progress | None = None) -> FittedPatchCore:
    """Build the memory bank from normal training images."""
    from adlab.pipelines.components.faiss_search import build_index
    from adlab.pipelines.patchcore_study.domain_shift import sample_rows

    start = time.perf_counter()
    per_layer: list[list[np.ndarray]] = []
    grid = (0, 0)
    for _, _, prepared in _fused_batches(extractor, fusion, train_paths, size, batch_size, on_batch):
        grid = tuple(prepared[0].shape[1:3])
        if not per_layer:
            per_layer = [[] for _ in prepared]
        for bucket, layer in zip(per_layer, prepared):
            bucket.append(layer.reshape(-1, layer.shape[-1]).cpu().numpy())
    layers = [np.concatenate(b) for b in per_layer]
    fusion.fit(layers)
    features = fusion.combine(layers).numpy().astype(np.float32)
    del layers, per_layer
    extract_s = time.perf_counter() - start
    bank = build_bank(features, bank_params, seed=seed, device=device)
    index = build_index(bank.bank, device=device)
    source = sample_rows(features, max_source_rows, seed).astype(np.float32)
    return FittedPatchCore(extractor=extractor, fusion=fusion, bank=bank, index=index,
                           source_sample=source, grid=grid, n_train=len(train_paths),
                           n_patches=int(features.shape[0]), extract_s=extract_s)


def _smooth_maps(patch: np.ndarray, grid: tuple[int, int], size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F
    from scipy.ndimage import gaussian_filter

    x = torch.from_numpy(patch.reshape(-1, 1, *grid).astype(np.float32))
    up = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy()
    return np.stack([gaussian_filter(m, sigma=MAP_SIGMA * size / 256.0, mode="reflect") for m in up]) \
        .astype(np.float32)


def score(model: FittedPatchCore, paths: Sequence[Path], labels: Sequence[int], *, size: int,
          batch_size: int, num_neighbors: int, max_normal_rows: int, seed: int,
          on_batch: Progress | None = None) -> Scored:
    """Scores and maps of ``paths``; also a sample of the normal images' fused patches."""
    from adlab.pipelines.components.faiss_search import patchcore_scores

    rng = np.random.default_rng(seed)
    n_normal = max(1, sum(1 for y in labels if y == 0))
    start = time.perf_counter()
    scores, maps, normal = [], [], []
    for first, _batch, prepared in _fused_batches(model.extractor, model.fusion, paths, size,
                                                 batch_size, on_batch):
        fused = model.fusion.combine(prepared).cpu().numpy()  # (B, h, w, D)
        b, h, w, d = fused.shape
        flat = fused.reshape(b, h * w, d)
        queries = model.bank.transform(flat.reshape(-1, d)).reshape(b, h * w, -1)
        image_scores, patch = patchcore_scores(queries, model.index, num_neighbors)
        scores.append(image_scores)
        maps.append(_smooth_maps(patch, (h, w), size))
        per_image = max(1, -(-max_normal_rows // n_normal))
        for i in range(b):
            if labels[first + i] == 0:
                pick = rng.choice(h * w, min(per_image, h * w), replace=False)
                normal.append(flat[i, np.sort(pick)])
    wall = time.perf_counter() - start
    normal_rows = np.concatenate(normal) if normal else np.zeros((0, model.fusion.feature_dim), np.float32)
    return Scored(scores=np.concatenate(scores).astype(np.float32), maps=np.concatenate(maps),
                  normal_features=normal_rows.astype(np.float32),
                  ms_per_image=1000.0 * wall / max(len(paths), 1), wall_s=wall)
