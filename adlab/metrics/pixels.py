"""Split the pixels of an evaluation set into sorted negatives and weighted positives.

Images are cut into one contiguous block per core; each thread extracts its block's
defect-free scores, sorts them in place and labels its masks' regions, so extraction, sorting
and labelling run on all cores without copying the data into worker processes.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from adlab.metrics._inputs import PixelInputs
from adlab.metrics.pixel_order import RankedScores, group_positives, rank_sorted, worker_count
from adlab.metrics.regions import region_pixel_weights


@dataclass
class PixelSplit:
    negative_chunks: list[np.ndarray]
    positives: np.ndarray
    weights: np.ndarray | None  # 1 / (region size * number of regions) per positive pixel
    n_regions: int


def _blocks(inputs: PixelInputs, parts: int) -> list[tuple[int, int]]:
    """Contiguous image ranges holding about the same number of pixels each."""
    if isinstance(inputs.masks, np.ndarray):
        sizes = np.full(inputs.n_images, inputs.masks[0].size, dtype=np.int64)
    else:
        sizes = np.array([m.size for m in inputs.masks], dtype=np.int64)
    bounds = np.searchsorted(np.cumsum(sizes), np.linspace(0, sizes.sum(), parts + 1)[1:-1])
    edges = [0, *sorted(set(int(b) + 1 for b in bounds)), inputs.n_images]
    edges = sorted(set(min(e, inputs.n_images) for e in edges))
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _extract(inputs: PixelInputs, block: tuple[int, int], with_regions: bool, sort: bool
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    start, stop = block
    if isinstance(inputs.maps, np.ndarray) and isinstance(inputs.masks, np.ndarray):
        maps, masks = inputs.maps[start:stop], inputs.masks[start:stop]
        negatives = maps[~masks]
        positives = maps[masks]
    else:
        maps, masks = inputs.maps[start:stop], inputs.masks[start:stop]
        negatives = np.concatenate([m[~k] for m, k in zip(maps, masks)])
        positives = np.concatenate([m[k] for m, k in zip(maps, masks)])
    if sort:
        negatives.sort()
    weights, regions = None, 0
    if with_regions:
        parts = []
        for i in range(start, stop):
            if inputs.has_defect[i]:
                w, count = region_pixel_weights(inputs.masks[i])
                parts.append(w)
                regions += count
        weights = np.concatenate(parts) if parts else np.empty(0)
    return negatives, positives, weights, regions


def split_pixels(inputs: PixelInputs, *, with_regions: bool, sort: bool,
                 executor: ThreadPoolExecutor | None = None, parts: int = 1) -> PixelSplit:
    """Negatives (sorted per chunk when ``sort``), positives and their PRO weights."""
    blocks = _blocks(inputs, parts)
    if executor is not None and len(blocks) > 1:
        results = list(executor.map(lambda b: _extract(inputs, b, with_regions, sort), blocks))
    else:
        results = [_extract(inputs, b, with_regions, sort) for b in blocks]
    negatives = [r[0] for r in results]
    positives = np.concatenate([r[1] for r in results])
    n_regions = sum(r[3] for r in results)
    weights = None
    if with_regions:
        weights = np.concatenate([r[2] for r in results])
        if n_regions:
            weights /= n_regions
    return PixelSplit(negatives, positives, weights, n_regions)


def rank_pixels_cpu(inputs: PixelInputs, *, with_regions: bool) -> tuple[RankedScores, int]:
    """The sorted pixel order of an evaluation set on the CPU threads; also the region count."""
    workers = worker_count()
    with ThreadPoolExecutor(max_workers=workers) as executor:
        split = split_pixels(inputs, with_regions=with_regions, sort=True, executor=executor,
                             parts=workers)
        values, counts, weights = group_positives(split.positives, split.weights)
        split.positives = split.weights = None  # free them before ranking
        ranked = rank_sorted(split.negative_chunks, values, counts, weights, executor)
    return ranked, split.n_regions


def rank_pixels(inputs: PixelInputs, *, with_regions: bool, device: str = "auto"
                ) -> tuple[RankedScores, int]:
    """The sorted pixel order on the GPU when one is usable (see :mod:`adlab.metrics.gpu`),
    else on the CPU threads; also the number of ground-truth regions."""
    from adlab.metrics.gpu import choose_device

    if choose_device(device, inputs.n_pixels) == "cuda":
        from adlab.metrics.gpu import rank_pixels_torch

        return rank_pixels_torch(inputs, with_regions=with_regions, device="cuda")
    return rank_pixels_cpu(inputs, with_regions=with_regions)
