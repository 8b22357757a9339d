"""SasP (Similarity as Points), READ's point prompts: a patch-similarity map -> the most similar
patches as positive points, the least similar as negative ones, the rest neutral -> each point
moved to a continuous position (READ's discrete-to-continuous refinement: a softmax-weighted
mean over a Gaussian neighbourhood of the full-resolution map)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POSITIVE, NEGATIVE, NEUTRAL = 1, 0, -1
_WINDOW = 10  # exp(-d^2) below e^-100 outside: the refinement is exact to float precision


@dataclass(frozen=True)
class PointPrompt:
    """SAM point prompts in original-image pixels: (K, 2) x, y and (K,) labels 1 / 0 / -1."""

    coords: np.ndarray
    labels: np.ndarray


def patch_similarity(image_tokens: np.ndarray, query: np.ndarray, redundant: np.ndarray | None = None) -> np.ndarray:
    """(N,) similarity of N patch features to one query feature (READ's compute_similarity_map with
    one text feature: the re-weighting over texts is then 1). ``redundant`` (e.g. a normal-text
    feature) is subtracted from the query first, as CLIP Surgery does."""
    tokens = np.asarray(image_tokens, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    if redundant is not None:
        q = q - np.asarray(redundant, dtype=np.float64)
    return tokens @ q


def _minmax(values: np.ndarray) -> np.ndarray:
    span = float(values.max() - values.min())
    return (values - values.min()) / span if span > 1e-12 else np.zeros_like(values)


def _square(similarity: np.ndarray) -> np.ndarray:
    side = int(round(np.sqrt(similarity.size)))
    if side * side != similarity.size:
        raise ValueError(f"similarity over {similarity.size} patches is not a square grid")
    return similarity.reshape(side, side)


def full_resolution_map(similarity: np.ndarray, shape_hw: tuple[int, int], clip_size: int) -> np.ndarray:
    """The normalised (H, W) map in original pixels: up-sampled to the CLIP crop, zero-padded where
    the centre crop cut the long side, resized to the image (READ's get_similarity_map)."""
    import torch
    import torch.nn.functional as F

    grid = torch.as_tensor(_minmax(_square(np.asarray(similarity, dtype=np.float64))), dtype=torch.float32)
    h, w = shape_hw
    scale = clip_size / min(h, w)
    pad_h = (int(h * scale) - clip_size) // 2
    pad_w = (int(w * scale) - clip_size) // 2
    sm = F.interpolate(grid[None, None], (clip_size, clip_size), mode="bilinear")
    sm = F.pad(sm, (pad_w, pad_w, pad_h, pad_h))
    return F.interpolate(sm, (h, w), mode="bilinear")[0, 0].numpy()


def refine_points(full_map: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Discrete -> continuous: each point becomes the mean position under weights
    exp(-distance^2) * softmax(map) (the softmax normaliser cancels, so a window suffices)."""
    h, w = full_map.shape
    out = np.empty((len(points_xy), 2), dtype=np.float64)
    for i, (x, y) in enumerate(np.asarray(points_xy, dtype=np.int64)):
        x0, x1 = max(0, x - _WINDOW), min(w, x + _WINDOW + 1)
        y0, y1 = max(0, y - _WINDOW), min(h, y + _WINDOW + 1)
        gy, gx = np.mgrid[y0:y1, x0:x1]
        logw = -((gx - x) ** 2 + (gy - y) ** 2) + full_map[y0:y1, x0:x1].astype(np.float64)
        weights = np.exp(logw - logw.max())
        weights /= weights.sum()
        out[i] = ((gx * weights).sum(), (gy * weights).sum())
    return out


def similarity_to_points(similarity: np.ndarray, shape_hw: tuple[int, int], *, clip_size: int,
                         num_points: int = 30, t_pos: float = 0.8, t_neg: float = 0.2,
                         down_sample: int = 2) -> PointPrompt:
    """READ's similarity_map_to_points: positives (>= t_pos, most similar first), negatives
    (<= t_neg, least similar first), then neutral patches, at most ``num_points``; grid cells to
    pixel centres of the original image, then :func:`refine_points`."""
    import torch
    import torch.nn.functional as F

    sim = np.asarray(similarity, dtype=np.float64)
    full_map = full_resolution_map(sim, shape_hw, clip_size)
    grid = torch.as_tensor(_square(sim), dtype=torch.float32)
    down = max(1, grid.shape[0] // down_sample)
    small = F.interpolate(grid[None, None], (down, down), mode="bilinear")[0, 0].numpy().astype(np.float64)
    small = _minmax(small)
    h, w = shape_hw
    scale = down / min(h, w)
    pad_h = (int(h * scale) - down) // 2
    pad_w = (int(w * scale) - down) // 2
    small = np.pad(small, ((pad_h, pad_h), (pad_w, pad_w)), constant_values=-1.0)
    gh, gw = small.shape
    flat = small.reshape(-1)
    pos = np.flatnonzero(flat >= t_pos)
    pos = pos[np.argsort(-flat[pos], kind="stable")]
    neg = np.flatnonzero((flat >= 0) & (flat <= t_neg))
    neg = neg[np.argsort(flat[neg], kind="stable")]
    neutral = np.flatnonzero((flat > t_neg) & (flat < t_pos))
    chosen = np.concatenate([pos, neg, neutral])[:num_points]
    labels = np.full(len(chosen), NEUTRAL, dtype=np.int64)
    labels[np.isin(chosen, pos)] = POSITIVE
    labels[np.isin(chosen, neg)] = NEGATIVE
    xs = np.minimum((chosen % gw + 0.5) * (w / gw), w - 1).astype(np.int64)
    ys = np.minimum((chosen // gw + 0.5) * (h / gh), h - 1).astype(np.int64)
    coords = refine_points(full_map, np.stack([xs, ys], axis=1)) if len(chosen) else np.zeros((0, 2))
    return PointPrompt(coords=coords.astype(np.float32), labels=labels)
