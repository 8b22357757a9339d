"""Independent references for evaluation at mask or model resolution: torch resizes,
scikit-learn's AUROC/AP and anomalib's AU-PRO class (no adlab metric code)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, roc_auc_score


def torch_nearest(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What torchvision's mask resize (anomalib's pre-processor) does: F.interpolate nearest."""
    t = torch.from_numpy(values.astype(np.float32))[None, None]
    return F.interpolate(t, size=size, mode="nearest")[0, 0].numpy().astype(values.dtype)


def torch_bilinear(amap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """torch's bilinear upsampling (align_corners=False) in float64, rounded once to float32:
    the exact interpolated value, as the documented rule defines it. (torch's float32 kernel
    rounds intermediate results, which splits exact ties and moved pixel AP by 5e-6.)"""
    t = torch.from_numpy(np.asarray(amap, dtype=np.float64))[None, None]
    up = F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()
    return up.astype(np.float32)


def anomalib_aupro(maps: list[np.ndarray], masks: list[np.ndarray], limit: float = 0.3) -> float:
    """anomalib's own AU-PRO metric class, image by image (its connected components)."""
    from anomalib.metrics.aupro import _AUPRO

    metric = _AUPRO(fpr_limit=limit)
    for amap, mask in zip(maps, masks):
        metric.update(torch.from_numpy(amap)[None], torch.from_numpy(mask.astype(np.int64))[None])
    return float(metric.compute())


def independent_pixel_metrics(maps: np.ndarray, masks: list[np.ndarray]) -> dict[str, float]:
    """Upsample each map to its mask with torch, then scikit-learn / anomalib."""
    up = [torch_bilinear(m, k.shape) for m, k in zip(maps, masks)]
    y = np.concatenate([k.reshape(-1) > 0 for k in masks])
    s = np.concatenate([u.reshape(-1) for u in up])
    return {"pixel_auroc": roc_auc_score(y, s), "pixel_ap": average_precision_score(y, s),
            "aupro": anomalib_aupro(up, [k > 0 for k in masks])}
