"""Cheap, deterministic noise fields for procedural textures (numpy + Pillow only)."""
from __future__ import annotations

import numpy as np
from PIL import Image


def upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bicubic upsampling of a small float grid to ``size`` x ``size``."""
    img = Image.fromarray(np.ascontiguousarray(grid, dtype=np.float32), mode="F")
    return np.asarray(img.resize((size, size), Image.BICUBIC), dtype=np.float32)


def value_noise(rng: np.random.Generator, size: int, cells_y: int, cells_x: int | None = None) -> np.ndarray:
    """Smooth noise in about [0, 1]: random values on a coarse grid, interpolated. Unequal cell
    counts give streaks (many rows, few columns -> horizontal fibres)."""
    cells_x = cells_y if cells_x is None else cells_x
    grid = rng.random((max(cells_y, 1) + 1, max(cells_x, 1) + 1), dtype=np.float32)
    return upsample(grid, size)


def fractal_noise(rng: np.random.Generator, size: int, base_cells: int, octaves: int = 3) -> np.ndarray:
    """Sum of value-noise octaves, normalised to [0, 1]."""
    total = np.zeros((size, size), dtype=np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = min(base_cells * 2**octave, size)
        total += amplitude * value_noise(rng, size, cells)
        weight += amplitude
        amplitude *= 0.5
    total /= weight
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / (hi - lo) if hi > lo else total * 0.0


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation with a (2r+1)^2 square, by shifted ORs (no scipy needed)."""
    out = mask.copy()
    for _ in range(radius):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        grown[1:, 1:] |= out[:-1, :-1]
        grown[:-1, :-1] |= out[1:, 1:]
        grown[1:, :-1] |= out[:-1, 1:]
        grown[:-1, 1:] |= out[1:, :-1]
        out = grown
    return out


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    return ~dilate(~mask, radius)
