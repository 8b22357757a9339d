"""Turning several backbone layers into one patch feature: single, concat, weighted, adaptive.

Every layer first gets PatchCore's local neighbourhood average (a patch sees its 3x3
surroundings) and is resampled to the grid of the highest-resolution chosen layer.

- ``single``: one layer (default: the deepest chosen), optionally reduced to ``dim`` channels.
- ``concat``: all layers side by side (dimension = sum of channels), optionally reduced to
  ``dim`` by channel average pooling as PatchCore does.
- ``weighted`` / ``adaptive``: each layer is reduced to a common dimension ``d`` (``dim``, else
  the smallest layer's), divided by its RMS norm over the training patches (so no layer
  dominates by scale), and the layers are summed with weights: the given ones (``weighted``),
  or (``adaptive``) in proportion to each layer's total variance after that scaling, i.e. the
  share of its energy that varies across normal patches (1 - |mean|^2 of the unit-RMS
  features). The result has ``d`` dimensions, fewer than concatenation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


def _reduce_channels(x: Any, dim: int) -> Any:
    """(..., C) -> (..., dim) by adaptive average pooling over channels (identity when equal)."""
    import torch.nn.functional as F

    if x.shape[-1] == dim:
        return x
    shape = x.shape[:-1]
    pooled = F.adaptive_avg_pool1d(x.reshape(-1, 1, x.shape[-1]), dim)
    return pooled.reshape(*shape, dim)


@dataclass
class Fusion:
    strategy: str
    layers: list[str]
    layer_dims: list[int]
    neighbourhood: int = 3
    dim: int | None = None
    given_weights: list[float] | None = None
    single_layer: str | None = None
    scales: np.ndarray | None = None  # per used layer, 1/RMS norm (weighted/adaptive)
    weights: np.ndarray | None = None  # per used layer, sums to 1 (weighted/adaptive)
    variances: np.ndarray | None = field(default=None)

    @classmethod
    def from_params(cls, params: Any, layers: Sequence[str], layer_dims: Sequence[int]) -> "Fusion":
        from adlab.errors import PipelineError

        if params.strategy == "single":
            chosen = params.layer or layers[-1]
            if chosen not in layers:
                raise PipelineError(f"fusion.layer {chosen!r} is not one of backbone.layers {list(layers)}")
        if params.strategy == "weighted" and len(params.weights) != len(layers):
            raise PipelineError(f"fusion.weights has {len(params.weights)} values but the backbone "
                                f"uses {len(layers)} layers {list(layers)}; give one weight per layer")
        return cls(strategy=params.strategy, layers=list(layers), layer_dims=list(layer_dims),
                   neighbourhood=params.neighbourhood, dim=params.dim,
                   given_weights=list(params.weights) if params.weights else None,
                   single_layer=(params.layer or layers[-1]) if params.strategy == "single" else None)

    @property
    def used(self) -> list[int]:
        """Indices (into ``layers``) of the layers this strategy reads."""
        if self.strategy == "single":
            return [self.layers.index(self.single_layer)]
        return list(range(len(self.layers)))

    @property
    def common_dim(self) -> int:
        return int(self.dim or min(self.layer_dims[i] for i in self.used))

    @property
    def feature_dim(self) -> int:
        if self.strategy in ("weighted", "adaptive"):
            return self.common_dim
        total = sum(self.layer_dims[i] for i in self.used)
        return int(min(self.dim, total) if self.dim else total)

    def prepare(self, feats: Sequence[Any]) -> list[Any]:
        """Backbone outputs (B, C, h, w) -> used layers as (B, H, W, C') tensors on one grid."""
        import torch.nn.functional as F

        chosen = [feats[i] for i in self.used]
        grid = chosen[0].shape[-2:]
        k = self.neighbourhood
        out = []
        for x in chosen:
            if k > 1:
                x = F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)
            if x.shape[-2:] != grid:
                x = F.interpolate(x, size=tuple(grid), mode="bilinear", align_corners=False)
            x = x.permute(0, 2, 3, 1)
            if self.strategy in ("weighted", "adaptive"):
                x = _reduce_channels(x, self.common_dim)
            out.append(x.contiguous())
        return out

    def fit(self, prepared: Sequence[np.ndarray]) -> None:
        """Learn the per-layer scales (and adaptive weights) from training patches (N, C')."""
        if self.strategy not in ("weighted", "adaptive"):
            return
        rms = np.asarray([np.sqrt(np.mean(np.sum(p.astype(np.float64) ** 2, axis=-1))) for p in prepared])
        self.scales = (1.0 / np.maximum(rms, 1e-12)).astype(np.float32)
        unit_means = [p.astype(np.float64).mean(axis=0) * s for p, s in zip(prepared, self.scales)]
        self.variances = np.asarray([max(1.0 - float(m @ m), 0.0) for m in unit_means])
        if self.strategy == "weighted":
            raw = np.asarray(self.given_weights, dtype=np.float64)
        else:
            raw = self.variances if self.variances.sum() > 0 else np.ones(len(prepared))
        self.weights = (raw / raw.sum()).astype(np.float32)

    def combine(self, prepared: Sequence[Any]) -> Any:
        """Prepared layers (tensors or arrays, (..., C')) -> fused (..., feature_dim)."""
        import torch

        parts = [torch.as_tensor(p) for p in prepared]
        if self.strategy in ("weighted", "adaptive"):
            if self.weights is None or self.scales is None:
                raise RuntimeError("Fusion.fit must run on training features before combine")
            fused = sum(p * float(w * s) for p, w, s in zip(parts, self.weights, self.scales))
            return fused
        fused = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        if self.dim and self.dim < fused.shape[-1]:
            fused = _reduce_channels(fused, self.dim)
        return fused

    def layer_weights(self) -> dict[str, float]:
        """What each layer contributes (for the metrics and the fusion plot)."""
        used = [self.layers[i] for i in self.used]
        if self.weights is not None:
            return {name: float(w) for name, w in zip(used, self.weights)}
        dims = [self.layer_dims[i] for i in self.used]
        return {name: d / sum(dims) for name, d in zip(used, dims)}
