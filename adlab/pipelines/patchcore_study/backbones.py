"""Feature backbones through timm: CNNs give stage outputs, ViTs give patch tokens as a grid.

Every backbone is a timm model read through ``forward_intermediates`` (prefix tokens dropped,
tokens reshaped to ``(B, C, H/p, W/p)``), so CNNs and transformers feed the same fusion code.
CLIP ViT-B/32 is timm's ``vit_base_patch32_clip_224`` image tower; timm's checkpoint filter
also reads OpenAI/open_clip CLIP checkpoints, so an open_clip weights file works as ``weights``.
Weights are never downloaded: ``pretrained: true`` reads the local ``weights`` file, else the
run stops with a sentence saying where to put it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adlab.errors import PipelineError


@dataclass(frozen=True)
class BackboneInfo:
    timm_name: str
    family: str  # "cnn" | "vit"
    default_layers: tuple[str, ...]
    title: str


BACKBONES: dict[str, BackboneInfo] = {
    "resnet18": BackboneInfo("resnet18", "cnn", ("layer2", "layer3"), "ResNet-18"),
    "resnet50": BackboneInfo("resnet50", "cnn", ("layer2", "layer3"), "ResNet-50"),
    "wide_resnet50_2": BackboneInfo("wide_resnet50_2", "cnn", ("layer2", "layer3"), "WideResNet-50"),
    "vit_tiny_patch16_224": BackboneInfo("vit_tiny_patch16_224", "vit", ("blocks.5", "blocks.8"), "ViT-Ti/16"),
    "vit_base_patch16_224": BackboneInfo("vit_base_patch16_224", "vit", ("blocks.5", "blocks.8"), "ViT-B/16"),
    "vit_base_patch14_dinov2": BackboneInfo("vit_base_patch14_dinov2", "vit", ("blocks.5", "blocks.8"),
                                            "DINOv2 ViT-B/14"),
    "vit_base_patch32_clip_224": BackboneInfo("vit_base_patch32_clip_224", "vit", ("blocks.5", "blocks.8"),
                                              "CLIP ViT-B/32"),
}
ALIASES: dict[str, str] = {
    "wrn50": "wide_resnet50_2",
    "vit_b16": "vit_base_patch16_224",
    "dinov2_vit_b14": "vit_base_patch14_dinov2",
    "clip_vit_b32": "vit_base_patch32_clip_224",
    "open_clip:ViT-B-32": "vit_base_patch32_clip_224",
}


def resolve_name(name: str) -> str:
    """The timm model name behind a table key or alias (other names are timm names already)."""
    return ALIASES.get(name, name)


def check_backbone_name(name: str) -> str:
    """Validate at queue time: table names are instant; other names are asked of timm."""
    if name in BACKBONES or name in ALIASES:
        return name
    import timm

    if not timm.is_model(name):
        known = ", ".join([*BACKBONES, *ALIASES])
        raise ValueError(f"unknown backbone {name!r}; use one of {known} or a timm model name "
                         f"(`timm.list_models()`)")
    return name


def _default_layers(model: Any, family: str) -> list[str]:
    modules = [f["module"] for f in model.feature_info]
    if family == "vit":
        depth = len(modules)
        return [modules[max(depth // 2 - 1, 0)], modules[max(3 * depth // 4 - 1, 0)]]
    return modules[2:4] if len(modules) >= 4 else modules[-2:]


@dataclass
class FeatureExtractor:
    """A frozen backbone returning the chosen layers for RGB images (uint8 or float)."""

    model: Any
    name: str
    timm_name: str
    family: str
    layers: list[str]
    indices: list[int]
    layer_dims: list[int]
    mean: np.ndarray
    std: np.ndarray
    device: str
    weights: dict[str, Any]

    def __call__(self, images: np.ndarray) -> list[Any]:
        """``images`` (B, H, W, 3), uint8 or float in [0, 1] -> one float32 tensor
        (B, C_l, h_l, w_l) per layer."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        x = x.permute(0, 3, 1, 2).float()
        if images.dtype == np.uint8:
            x = x.div_(255.0)
        mean = torch.as_tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.as_tensor(self.std, device=self.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        with torch.inference_mode():
            feats = self.model.forward_intermediates(x, indices=self.indices, intermediates_only=True)
        return [f.float() for f in feats]


WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def _weights_file(params: Any, timm_name: str) -> Path:
    """``backbone.weights`` as a file, or a folder holding ``<timm name>.<safetensors|pth|pt|bin>``
    (so one folder serves a whole backbone sweep)."""
    title = BACKBONES.get(timm_name, BackboneInfo(timm_name, "", (), timm_name)).title
    if params.weights is None:
        raise PipelineError(
            f"backbone {params.name!r} ({title}) needs pretrained weights, which are never "
            f"downloaded; put the timm (or open_clip) state dict for {timm_name!r} on this machine "
            f"(e.g. weights/{timm_name}.safetensors), set backbone.weights to the file or its "
            f"folder, or set backbone.pretrained: false for random weights")
    path = Path(params.weights).expanduser()
    if path.is_dir():
        for suffix in WEIGHT_SUFFIXES:
            if (path / f"{timm_name}{suffix}").is_file():
                return path / f"{timm_name}{suffix}"
        raise PipelineError(
            f"backbone.weights folder {path} has no {timm_name}{{{','.join(WEIGHT_SUFFIXES)}}}; "
            f"copy the {title} state dict there under that name, or set backbone.pretrained: false")
    if not path.is_file():
        raise PipelineError(
            f"backbone.weights file {path} does not exist; copy the {title} state dict "
            f"({timm_name}) there, or set backbone.pretrained: false for random weights")
    return path


def build_extractor(params: Any, *, image_size: int, device: str, seed: int) -> FeatureExtractor:
    """``params`` is a BackboneParams. Random init is seeded, so two runs get the same weights."""
    import timm
    import torch

    from adlab.pipelines.components.weights import file_sha256, offline_hub

    timm_name = resolve_name(params.name)
    info = BACKBONES.get(timm_name)
    kwargs: dict[str, Any] = {}
    is_vit = (info.family == "vit") if info else "vit" in timm_name or "deit" in timm_name
    if is_vit:
        kwargs["img_size"] = image_size
    torch.manual_seed(seed)
    weights: dict[str, Any]
    with offline_hub():
        if params.pretrained:
            path = _weights_file(params, timm_name)
            try:
                model = timm.create_model(timm_name, pretrained=True,
                                          pretrained_cfg_overlay={"file": str(path)}, **kwargs)
            except Exception as exc:  # wrong architecture, truncated file, unknown format
                raise PipelineError(
                    f"backbone.weights {path} could not be loaded into {timm_name} "
                    f"({type(exc).__name__}: {str(exc)[:200]}); give a state dict of that "
                    f"model") from None
            weights = {"source": "file", "path": str(path), "sha256": file_sha256(path)}
        else:
            model = timm.create_model(timm_name, pretrained=False, **kwargs)
            weights = {"source": "random-init", "seed": seed}
    family = info.family if info else ("vit" if hasattr(model, "patch_embed") else "cnn")
    modules = [f["module"] for f in model.feature_info]
    layers = list(params.layers or (info.default_layers if info else _default_layers(model, family)))
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise PipelineError(f"backbone.layers {unknown} not in {timm_name}; available: "
                            f"{', '.join(modules)}")
    indices = [modules.index(name) for name in layers]
    order = sorted(range(len(indices)), key=lambda i: indices[i])
    layers, indices = [layers[i] for i in order], [indices[i] for i in order]
    dims = [int(model.feature_info[i]["num_chs"]) for i in indices]
    if hasattr(model, "prune_intermediate_layers"):  # later blocks and the head are never used
        model.prune_intermediate_layers(indices, prune_norm=True, prune_head=True)
    model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    mean = np.asarray(cfg.get("mean", (0.485, 0.456, 0.406)), dtype=np.float32)
    std = np.asarray(cfg.get("std", (0.229, 0.224, 0.225)), dtype=np.float32)
    return FeatureExtractor(model=model, name=params.name, timm_name=timm_name, family=family,
                            layers=layers, indices=indices, layer_dims=dims, mean=mean, std=std,
                            device=device, weights=weights)
