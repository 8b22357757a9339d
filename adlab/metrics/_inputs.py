"""Turn user arrays into validated evaluation inputs, with one clear sentence per problem.

Anomaly maps come as an ``(N, H, W)`` array (``(N, 1, H, W)`` is squeezed) or a list of 2-D
arrays whose sizes may differ per image (categories of different resolutions). A map whose size
differs from its mask's is resized bilinearly to the mask size (see :mod:`adlab.metrics.resize`).
Like the official MVTec AD evaluation, any mask value > 0 marks a defect pixel, so 0/1 and 0/255
masks both work; NaN, infinite or negative values are refused rather than guessed at.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from adlab.errors import AdlabError
from adlab.metrics.resize import resize_bilinear


class MetricInputError(AdlabError, ValueError):
    """Arrays given to a metric are unusable (shape, NaN/inf, label values)."""


@dataclass
class PixelInputs:
    """Maps and boolean masks of one evaluation set, aligned pixel for pixel.

    ``maps``/``masks`` are 3-D arrays when every image has the same size (fast path), otherwise
    lists of 2-D arrays. ``map_max`` is each map's maximum before any resizing (the default
    image score); ``has_defect`` says whether an image's mask has any defect pixel.
    """

    maps: np.ndarray | list[np.ndarray]
    masks: np.ndarray | list[np.ndarray]
    map_max: np.ndarray
    has_defect: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.map_max)

    @property
    def n_pixels(self) -> int:
        if isinstance(self.masks, np.ndarray):
            return int(self.masks.size)
        return int(sum(m.size for m in self.masks))


def _score_dtype(dtype: np.dtype) -> np.dtype:
    """float32/float64 stay as they are (ties must not change); others widen exactly."""
    if dtype in (np.float32, np.float64):
        return dtype
    if dtype == np.float16 or dtype == np.bool_ or (dtype.kind in "iu" and dtype.itemsize <= 2):
        return np.dtype(np.float32)
    if dtype.kind in "iuf":
        return np.dtype(np.float64)
    raise MetricInputError(
        f"anomaly maps have dtype {dtype}, which is not numeric; pass float arrays.")


def _as_image_list(data: Any, what: str) -> np.ndarray | list[np.ndarray]:
    """A 3-D array stays an array; a list/tuple of 2-D arrays stays a list."""
    if isinstance(data, np.ndarray) or not isinstance(data, (list, tuple)):
        arr = np.asarray(data)
        if arr.ndim == 4 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise MetricInputError(
                f"{what} must have shape (N, H, W) or be a list of 2-D arrays, got shape "
                f"{arr.shape}.")
        return arr
    images = []
    for i, item in enumerate(data):
        arr = np.asarray(item)
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2:
            raise MetricInputError(
                f"{what}[{i}] must be a 2-D array, got shape {arr.shape}.")
        images.append(arr)
    return images


def binary_mask(mask: np.ndarray, what: str) -> np.ndarray:
    """Boolean defect mask: values > 0 are defect pixels; NaN and negatives are errors."""
    if mask.dtype == np.bool_:
        return mask
    if mask.dtype.kind not in "iuf":
        raise MetricInputError(f"{what} has dtype {mask.dtype}; masks must be numeric 0/1.")
    if mask.dtype.itemsize == 1 and mask.dtype.kind in "iu" and mask.size:
        low, high = mask.min(), mask.max()
        if low < 0:
            raise MetricInputError(
                f"{what} contains the negative value {low}; masks must be 0/1 (or 0/255).")
        if high <= 1:  # already 0/1 bytes: reinterpret instead of copying
            return mask.view(np.bool_)
        return mask > 0
    if mask.dtype.kind in "if" and mask.size:
        low = mask.min()
        if np.isnan(low) or np.isnan(mask.max()):
            raise MetricInputError(f"{what} contains NaN; masks must be 0/1.")
        if low < 0:
            raise MetricInputError(
                f"{what} contains the negative value {low}; masks must be 0/1 (or 0/255).")
    return mask > 0


def _check_finite(values: np.ndarray, what: str, index_hint: str = "") -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise MetricInputError(
            f"{what}{index_hint or f'[{first}]'} contains NaN or infinite values; "
            "replace them (e.g. np.nan_to_num) before evaluating.")


def prepare_pixels(anomaly_maps: Any, masks: Any) -> PixelInputs:
    """Validate maps and masks, binarize masks and resize maps to their mask's size."""
    maps_in = _as_image_list(anomaly_maps, "anomaly_maps")
    masks_in = _as_image_list(masks, "masks")
    if len(maps_in) != len(masks_in):
        raise MetricInputError(
            f"anomaly_maps has {len(maps_in)} images but masks has {len(masks_in)}; "
            "pass one mask per map.")
    if len(maps_in) == 0:
        raise MetricInputError("no images to evaluate: anomaly_maps is empty.")

    if isinstance(maps_in, np.ndarray):
        maps_arr = maps_in.astype(_score_dtype(maps_in.dtype), copy=False)
        map_max = maps_arr.reshape(len(maps_arr), -1).max(axis=1).astype(np.float64)
        if not np.isfinite(map_max).all() or not np.isfinite(maps_arr.min()):
            per_image_ok = np.isfinite(maps_arr.reshape(len(maps_arr), -1)).all(axis=1)
            first = int(np.flatnonzero(~per_image_ok)[0])
            raise MetricInputError(
                f"anomaly_maps[{first}] contains NaN or infinite values; replace them "
                "(e.g. np.nan_to_num) before evaluating.")
        if isinstance(masks_in, np.ndarray):
            mask_arr = binary_mask(masks_in, "masks")
            if mask_arr.shape[1:] != maps_arr.shape[1:]:
                maps_arr = resize_bilinear(maps_arr, mask_arr.shape[1:])
            has_defect = mask_arr.reshape(len(mask_arr), -1).any(axis=1)
            return PixelInputs(np.ascontiguousarray(maps_arr), np.ascontiguousarray(mask_arr),
                               map_max, has_defect)
        maps_list = list(maps_arr)
    else:
        dtype = np.result_type(*[_score_dtype(m.dtype) for m in maps_in])
        maps_list = [m.astype(dtype, copy=False) for m in maps_in]
        map_max = np.empty(len(maps_list))
        for i, m in enumerate(maps_list):
            if m.size == 0:
                raise MetricInputError(f"anomaly_maps[{i}] is empty (shape {m.shape}).")
            hi, lo = m.max(), m.min()
            if not (np.isfinite(hi) and np.isfinite(lo)):
                raise MetricInputError(
                    f"anomaly_maps[{i}] contains NaN or infinite values; replace them "
                    "(e.g. np.nan_to_num) before evaluating.")
            map_max[i] = hi

    masks_list = [binary_mask(m, f"masks[{i}]") for i, m in enumerate(masks_in)]
    for i, (m, k) in enumerate(zip(maps_list, masks_list)):
        if k.size == 0:
            raise MetricInputError(f"masks[{i}] is empty (shape {k.shape}).")
        if m.shape != k.shape:
            maps_list[i] = resize_bilinear(m, k.shape)
    has_defect = np.array([bool(k.any()) for k in masks_list])
    return PixelInputs(maps_list, masks_list, map_max, has_defect)


def prepare_image_level(scores: Any, labels: Any, n_images: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Validate image scores (finite) and labels (0/1) and return them as 1-D arrays."""
    s = np.asarray(scores)
    lab = np.asarray(labels)
    if s.ndim != 1 or lab.ndim != 1:
        raise MetricInputError(
            f"scores and labels must be 1-D (one value per image), got shapes {s.shape} "
            f"and {lab.shape}.")
    if len(s) != len(lab):
        raise MetricInputError(
            f"scores has {len(s)} entries but labels has {len(lab)}; pass one of each per image.")
    if n_images is not None and len(s) != n_images:
        raise MetricInputError(
            f"scores/labels have {len(s)} entries but there are {n_images} anomaly maps.")
    if s.dtype.kind not in "iufb":
        raise MetricInputError(f"scores have dtype {s.dtype}; pass numbers.")
    s = s.astype(_score_dtype(s.dtype), copy=False)
    _check_finite(s, "scores")
    if lab.dtype == np.bool_:
        return s, lab
    if lab.dtype.kind not in "iuf" or not np.isin(lab, (0, 1)).all():
        bad = lab[~np.isin(lab, (0, 1))][:3] if lab.dtype.kind in "iuf" else lab.dtype
        raise MetricInputError(
            f"labels must be 0 (normal) or 1 (anomalous), found {bad}.")
    return s, lab.astype(bool)


def check_fpr_limit(fpr_limit: float) -> float:
    limit = float(fpr_limit)
    if not (0.0 < limit <= 1.0):
        raise MetricInputError(
            f"fpr_limit must lie in (0, 1], got {fpr_limit}; the usual value is 0.3.")
    return limit


def check_metric_names(metrics: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    names = tuple(metrics)
    unknown = [m for m in names if m not in known]
    if unknown:
        raise MetricInputError(
            f"unknown metric {unknown[0]!r}; choose from {', '.join(known)}.")
    return names
