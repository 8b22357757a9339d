"""Seed 000's own PatchCore checkpoints (``patchcore_training``, pure PyTorch) as a torch module.

Its ``model.pt`` is ``torch.save({"backbone", "layers", "coreset_ratio", "n_neighbors",
"memory_bank", "feature_dim", "spatial_size", "is_fitted"})``: the memory bank without the
backbone's weights (the trainer built a torchvision backbone with ImageNet weights). This module
recomputes that trainer's scores exactly: the layers' outputs, the later ones resized
bilinearly to the first's grid, concatenated, 3x3 mean-pooled (stride 1, zero padding counted),
Euclidean distance of every patch to the bank; with ``n_neighbors > 1`` the patch score is the
softmax(-d)-weighted mean of its k nearest distances, else the nearest; the patch map is resized
bilinearly to the input and the image score is its maximum. So the seed's ``thresholds.yaml``
keeps its meaning. Input: RGB in [0, 1], ImageNet-normalised here (what its torchvision backbone
expects).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from adlab.errors import PipelineError

SEED_KEYS = frozenset({"backbone", "layers", "n_neighbors", "memory_bank"})
BACKBONES = ("resnet18", "resnet50", "wide_resnet50_2")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Scores(NamedTuple):
    """What :class:`~adlab.pipelines.components.export.ScoreMapGraph` reads from a module."""

    pred_score: torch.Tensor
    anomaly_map: torch.Tensor


def is_seed_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and SEED_KEYS <= set(obj)


class SeedPatchcore(nn.Module):
    """The seed trainer's PatchCore forward pass over a torchvision ResNet backbone."""

    def __init__(self, backbone: nn.Module, layers: list[str], memory_bank: torch.Tensor,
                 n_neighbors: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.layers = list(layers)
        self.n_neighbors = int(n_neighbors)
        self.register_buffer("memory_bank", memory_bank.float())
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        out: dict[str, torch.Tensor] = {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(b, name)(x)
            if name in self.layers:
                out[name] = x
            if len(out) == len(self.layers):
                break
        return out

    def forward(self, image: torch.Tensor) -> Scores:
        x = (image - self.mean) / self.std
        feats = self._features(x)
        first = feats[self.layers[0]]
        grid = first.shape[-2:]
        parts = [first] + [F.interpolate(feats[name], size=grid, mode="bilinear", align_corners=False)
                           for name in self.layers[1:]]
        f = F.avg_pool2d(torch.cat(parts, dim=1), kernel_size=3, stride=1, padding=1)
        b, c, h, w = f.shape
        flat = f.permute(0, 2, 3, 1).reshape(b * h * w, c)
        bank = self.memory_bank
        # torch.cdist's matrix-product form (what it uses for banks this size)
        sq = flat.pow(2).sum(-1, keepdim=True) - 2.0 * flat @ bank.T + bank.pow(2).sum(-1)[None, :]
        dist = sq.clamp_min(1e-30).sqrt()
        if self.n_neighbors > 1:
            knn = torch.topk(dist, k=self.n_neighbors, dim=1, largest=False).values
            patch = (knn * torch.softmax(-knn, dim=1)).sum(dim=1)
        else:
            patch = dist.min(dim=1).values
        amap = F.interpolate(patch.reshape(b, 1, h, w), size=image.shape[-2:], mode="bilinear",
                             align_corners=False)
        return Scores(pred_score=amap.reshape(b, -1).amax(dim=1), anomaly_map=amap)


def build_seed_patchcore(ckpt: Mapping[str, Any], path: Path, weights: Path | None) -> SeedPatchcore:
    """The module for one seed ``model.pt``; its backbone weights come from ``weights`` (a
    torchvision state dict), since the checkpoint does not hold them."""
    import torchvision

    name = str(ckpt["backbone"])
    if name not in BACKBONES:
        raise PipelineError(f"{path}: backbone {name!r} is not one the seed's trainer builds "
                            f"({', '.join(BACKBONES)})")
    if weights is None:
        raise PipelineError(f"{path} holds the seed's PatchCore memory bank but not its {name} "
                            f"backbone (the trainer loaded torchvision's ImageNet weights); give "
                            f"those weights as a local file: adlab import-model ... --weights FILE")
    if not weights.is_file():
        raise PipelineError(f"weights file {weights} does not exist; give torchvision's {name} "
                            f"state dict")
    backbone = getattr(torchvision.models, name)(weights=None)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    try:
        result = backbone.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise PipelineError(f"weights file {weights} does not fit torchvision's {name}: "
                            f"{str(exc).splitlines()[0]}") from None
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]  # the head is unused
    if missing:
        raise PipelineError(f"weights file {weights} lacks {len(missing)} of torchvision's {name} "
                            f"weights (e.g. {missing[0]}); give its full state dict")
    bank = ckpt["memory_bank"]
    if not isinstance(bank, torch.Tensor) or bank.dim() != 2 or bank.shape[0] == 0:
        raise PipelineError(f"{path}: memory_bank is empty or not a (N, D) tensor; was it fitted?")
    return SeedPatchcore(backbone, list(ckpt["layers"]), bank, int(ckpt["n_neighbors"])).eval()
