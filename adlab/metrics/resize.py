"""Bilinear resizing of anomaly maps to their mask's size.

Maps are resized to the mask (never masks to the map) because the ground truth defines the
evaluation grid, as in the official MVTec AD evaluation, which reads masks at full resolution.
The interpolation is torch's ``F.interpolate(mode="bilinear", align_corners=False)`` without
antialiasing (half-pixel centres, edge clamping), the resize anomalib applies to its maps, done
here in NumPy so no torch import is needed. Values are computed in float64 and rounded once:
the exact interpolation (torch's float32 kernel rounds intermediate results, so its values
differ by a few ulps and split ties that the exact values keep, which moved pixel AP by 5e-6
on 96 px masks in tests/pipelines/test_resolution.py).
"""
from __future__ import annotations

import numpy as np


def _axis_weights(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and upper weight of each output row (or column)."""
    scale = src / dst
    pos = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5
    np.maximum(pos, 0.0, out=pos)
    lower = np.minimum(pos.astype(np.int64), src - 1)
    upper = np.minimum(lower + 1, src - 1)
    frac = pos - lower
    return lower, upper, frac


def resize_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D map (or a stack ``(N, H, W)``) to ``size = (height, width)``.

    Float32 input stays float32 (computed in float64, rounded once); anything else becomes
    float64.
    """
    height, width = int(size[0]), int(size[1])
    if image.shape[-2:] == (height, width):
        return image
    out_dtype = np.float32 if image.dtype == np.float32 else np.float64
    src = np.asarray(image, dtype=np.float64)
    y0, y1, fy = _axis_weights(src.shape[-2], height)
    x0, x1, fx = _axis_weights(src.shape[-1], width)
    top = src[..., y0, :]
    bottom = src[..., y1, :]
    rows = top + (bottom - top) * fy[:, None]
    left = rows[..., x0]
    right = rows[..., x1]
    return (left + (right - left) * fx).astype(out_dtype, copy=False)
