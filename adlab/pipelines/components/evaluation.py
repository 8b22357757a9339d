"""The metrics of one scored test set at the declared resolution (``metrics.resolution``).

``mask`` (the default, the official MVTec AD protocol): every mask is read at its own size and
never resized; each model-resolution map is upsampled to its mask's size bilinearly with
``align_corners=False`` (torch's ``F.interpolate(mode="bilinear")``, the resize anomalib and the
official EfficientAD/MVTec scripts apply to maps; :mod:`adlab.metrics.resize`), so a dataset of
mixed image sizes is evaluated per image on its own grid. ``model``: masks are brought to the
model's resolution with torch's nearest rule (:func:`adlab.data.imageio.nearest_indices`), what
anomalib's own metrics see. Image scores are the model's, at any resolution.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from adlab.data.types import Sample
from adlab.pipelines.base import RunContext
from adlab.pipelines.components.ad_params import MASK


def evaluation_masks(samples: Sequence[Sample], resolution: str, model_hw: tuple[int, int]
                     ) -> np.ndarray | list[np.ndarray]:
    """0/1 masks on the evaluation grid: at ``mask`` resolution a list, each at its own size;
    at ``model`` resolution one ``(N, H, W)`` array."""
    from adlab.data.imageio import load_mask

    if resolution == MASK:
        return [load_mask(s) for s in samples]
    return np.stack([load_mask(s, model_hw) for s in samples])


def evaluate_scored(maps: np.ndarray, samples: Sequence[Sample], scores: np.ndarray,
                    labels: np.ndarray, *, resolution: str, model_hw: tuple[int, int],
                    device: str = "cpu") -> Any:
    """The :class:`~adlab.metrics.evaluate.MetricReport` of model-resolution ``maps``.

    At ``mask`` resolution the maps go in as a list, so each is upsampled on its own (float64
    temporaries of one image, not of the whole set at the masks' size)."""
    from adlab.metrics import evaluate

    masks = evaluation_masks(samples, resolution, model_hw)
    return evaluate(list(maps) if isinstance(masks, list) else maps, masks, scores=scores,
                    labels=labels, device=device)


def record_report(ctx: RunContext, report: Any, scope: str) -> dict[str, float]:
    """Every value of ``report`` as a metric of ``scope``; undefined ones logged with why."""
    for key, value in report.values.items():
        ctx.metric(key, value, scope=scope, note=report.undefined.get(key))
    for key, why in report.undefined.items():
        ctx.log(f"{scope}: {key} undefined ({why})", level="warning")
    return {k: float(v) for k, v in report.values.items()}


def record_values(ctx: RunContext, values: dict[str, float], scope: str) -> dict[str, float]:
    """``values`` as metrics of ``scope`` (NaN is stored as undefined)."""
    for key, value in values.items():
        ctx.metric(key, value, scope=scope)
    return values


def metric_device(ctx: RunContext) -> str:
    """``auto`` (the GPU sorts the pixels when large) on CUDA workers, else ``cpu``."""
    return "auto" if ctx.device.startswith("cuda") else "cpu"


def image_size_outputs(ctx: RunContext, *, dataset: str, tiff_maps: bool, root: Path,
                       category: str, samples: Sequence[Sample],
                       maps: np.ndarray | Sequence[np.ndarray], scope: str) -> dict[str, float]:
    """What needs the maps at the test images' own size, computed once for both: the official
    TIFFs (``outputs.tiff_maps``, :mod:`.tiff_maps`) and, on MVTec LOCO AD, AU-sPRO per anomaly
    type (:mod:`.loco_spro`), from the very arrays written, so it equals ``adlab metrics --loco``
    on the run's TIFFs. Returns the sPRO values (empty elsewhere) for the caller to record."""
    from adlab.pipelines.components.loco_spro import LOCO_DATASET, loco_spro
    from adlab.pipelines.components.tiff_maps import original_size_maps, record_tiff_maps

    is_loco = dataset == LOCO_DATASET
    if not (tiff_maps or is_loco):
        return {}
    full = original_size_maps(maps, samples)
    if tiff_maps:
        record_tiff_maps(ctx, category, samples, full)
    return loco_spro(ctx, samples, full, root, category, scope) if is_loco else {}
