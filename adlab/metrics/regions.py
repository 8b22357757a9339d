"""Ground-truth regions for AU-PRO: 8-connected components of each mask, as the official
MVTec AD evaluation labels them (``scipy.ndimage.label`` with a 3x3 structuring element), so
two defect pixels touching only at a corner belong to the same region.

scipy is imported on first use: a run that asks for no AU-PRO never pays for it.
"""
from __future__ import annotations

import numpy as np

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 8-connected defect regions of one boolean mask (0 = defect-free)."""
    from scipy.ndimage import label

    labeled, count = label(mask, structure=EIGHT_CONNECTED)
    return labeled, int(count)


def region_pixel_weights(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """For the defect pixels of ``mask`` in row-major order: 1 / size of their region.

    Summed over the pixels of a region at or above a threshold this is the region's overlap
    (the fraction of it detected); returns the weights and the number of regions.
    """
    labeled, count = label_regions(mask)
    if count == 0:
        return np.empty(0, dtype=np.float64), 0
    region_of_pixel = labeled[mask]
    sizes = np.bincount(region_of_pixel, minlength=count + 1).astype(np.float64)
    return 1.0 / sizes[region_of_pixel], count
