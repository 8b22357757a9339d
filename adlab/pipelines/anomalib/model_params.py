"""Model-specific parameters of the supported anomalib image models (pydantic only, no torch).

Each registered model has its own params class with ``extra="forbid"``, so a key that the
model does not take is an error naming the model, the key and the keys it does take. Names
that are not registered but are anomalib 2.7 image model classes pass through: their keys are
checked against the class signature when the run starts (that needs anomalib imported).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ModelParams(BaseModel):
    """Base: unknown keys are errors (the message lists the allowed ones)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    # Keys adlab itself acts on; they are not passed to the anomalib constructor.
    adlab_keys: ClassVar[tuple[str, ...]] = ()


class PatchcoreParams(ModelParams):
    backbone: str = "wide_resnet50_2"
    layers: list[str] = Field(default_factory=lambda: ["layer2", "layer3"], min_length=1)
    pre_trained: bool = True
    coreset_sampling_ratio: float = Field(default=0.1, gt=0.0, le=1.0)
    num_neighbors: int = Field(default=9, ge=1)


class PadimParams(ModelParams):
    backbone: str = "resnet18"
    layers: list[str] = Field(default_factory=lambda: ["layer1", "layer2", "layer3"], min_length=1)
    pre_trained: bool = True
    n_features: Optional[int] = Field(default=None, ge=1)


class EfficientAdParams(ModelParams):
    model_size: Literal["small", "medium"] = "small"
    teacher_out_channels: int = Field(default=384, ge=1)
    weight_decay: float = Field(default=1e-5, ge=0.0)
    padding: bool = False
    pad_maps: bool = True
    imagenet_dir: Optional[str] = Field(
        default=None, description="local folder of ImageNet-like images (ImageFolder layout)")


class DraemParams(ModelParams):
    enable_sspcab: bool = False
    sspcab_lambda: float = Field(default=0.1, ge=0.0)
    beta: float | tuple[float, float] = (0.1, 1.0)
    dtd_dir: Optional[str] = Field(default=None, description="local folder of texture images")
    anomaly_source: Literal["dtd_dir", "synthetic"] = Field(
        default="dtd_dir",
        description="where synthetic anomalies take their textures: dtd_dir (a local DTD-like "
                    "folder) or synthetic (adlab's procedural textures, generated offline)")

    adlab_keys: ClassVar[tuple[str, ...]] = ("anomaly_source",)

    @model_validator(mode="after")
    def _one_source(self) -> "DraemParams":
        if self.anomaly_source == "synthetic" and self.dtd_dir:
            raise ValueError("anomaly_source: synthetic generates its own textures, so dtd_dir "
                             "must not be set; remove one of them")
        return self


class DinomalyParams(ModelParams):
    encoder_name: str = "vit_base_patch14_reg4_dinov2"
    bottleneck_dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    decoder_depth: int = Field(default=8, ge=1)
    target_layers: Optional[list[int]] = None
    fuse_layer_encoder: Optional[list[list[int]]] = None
    fuse_layer_decoder: Optional[list[list[int]]] = None
    remove_class_token: bool = False


class WinClipParams(ModelParams):
    class_name: Optional[str] = None
    k_shot: int = Field(default=0, ge=0)
    scales: tuple[int, ...] = (2, 3)


class StfpmParams(ModelParams):
    backbone: str = "resnet18"
    layers: list[str] = Field(default_factory=lambda: ["layer1", "layer2", "layer3"], min_length=1)


class FastflowParams(ModelParams):
    backbone: str = "resnet18"
    pre_trained: bool = True
    flow_steps: int = Field(default=8, ge=1)
    conv3x3_only: bool = False
    hidden_ratio: float = Field(default=1.0, gt=0.0)


class ReverseDistillationParams(ModelParams):
    backbone: str = "wide_resnet50_2"
    layers: list[str] = Field(default_factory=lambda: ["layer1", "layer2", "layer3"], min_length=1)
    anomaly_map_mode: Literal["add", "multiply"] = "add"
    pre_trained: bool = True


class PassThroughParams(ModelParams):
    """Any keyword the anomalib class takes; checked against its signature at run start."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())


# Which weights a model needs and what a local ``weights:`` file must hold.
WeightsKind = Literal["backbone", "teacher", "encoder", "clip", "efficientad_teacher"]


@dataclass(frozen=True)
class ModelInfo:
    """What the pipeline must know about a model before importing anomalib."""

    name: str
    class_name: str
    params: type[ModelParams]
    trainable: bool  # has an optimizer: learning_rate and early stopping make sense
    weights: WeightsKind | None  # the pretrained weights it needs (None: none, or only if pre_trained)
    lr_param: str | None = None  # constructor argument that carries the learning rate
    zero_shot: bool = False


MODEL_REGISTRY: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo("patchcore", "Patchcore", PatchcoreParams, trainable=False, weights="backbone"),
    ModelInfo("padim", "Padim", PadimParams, trainable=False, weights="backbone"),
    ModelInfo("efficient_ad", "EfficientAd", EfficientAdParams, trainable=True,
              weights="efficientad_teacher", lr_param="lr"),
    ModelInfo("draem", "Draem", DraemParams, trainable=True, weights=None),
    ModelInfo("dinomaly", "Dinomaly", DinomalyParams, trainable=True, weights="encoder"),
    ModelInfo("winclip", "WinClip", WinClipParams, trainable=False, weights="clip", zero_shot=True),
    ModelInfo("stfpm", "Stfpm", StfpmParams, trainable=True, weights="teacher"),
    ModelInfo("fastflow", "Fastflow", FastflowParams, trainable=True, weights="backbone"),
    ModelInfo("reverse_distillation", "ReverseDistillation", ReverseDistillationParams,
              trainable=True, weights="backbone"),
)}

# anomalib 2.7.0 image model classes (anomalib.models.image), for the pass-through.
ANOMALIB_IMAGE_CLASSES: tuple[str, ...] = (
    "AnomalyDINO", "AnomalyVFM", "CFM", "Cfa", "Cflow", "Csflow", "Dfkde", "Dfm", "Dinomaly",
    "Draem", "Dsr", "EfficientAd", "Fastflow", "FoundAD", "Fre", "Ganomaly", "GeneralAD",
    "Glass", "InpFormer", "L2BT", "MHPatchcore", "Padim", "Patchcore", "Patchflow", "Rad",
    "ReverseDistillation", "Stfpm", "SuperADD", "Supersimplenet", "Uflow", "UniNet", "VlmAd",
    "WinClip",
)
# Pass-through models known to keep no optimizer (memory banks / statistics / zero-shot).
UNTRAINED_CLASSES = frozenset({"Dfkde", "Dfm", "MHPatchcore", "AnomalyDINO", "VlmAd", "Padim",
                               "Patchcore", "WinClip"})


def _snake(name: str) -> str:
    """``EfficientAd`` -> ``efficient_ad``, ``MHPatchcore`` -> ``mh_patchcore``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z])(?=[a-z])",
                  lambda m: "_" + (m.group(1) or m.group(2)), name).lower()


def resolve_model(name: str) -> ModelInfo:
    """Registry entry for ``name``; an anomalib class name (or its snake_case) passes through."""
    key = name.strip()
    if key in MODEL_REGISTRY:
        return MODEL_REGISTRY[key]
    for info in MODEL_REGISTRY.values():
        if key in (info.class_name, info.class_name.lower()):
            return info
    for cls in ANOMALIB_IMAGE_CLASSES:
        if key in (cls, cls.lower(), _snake(cls)):
            return ModelInfo(_snake(cls), cls, PassThroughParams,
                             trainable=cls not in UNTRAINED_CLASSES, weights=None)
    known = ", ".join(sorted(MODEL_REGISTRY))
    raise ValueError(f"unknown model {name!r}; use one of {known} or an anomalib image model "
                     f"class name ({', '.join(ANOMALIB_IMAGE_CLASSES)})")


def validate_model_params(info: ModelInfo, raw: dict[str, Any]) -> ModelParams:
    """``raw`` checked against the model's params class; errors name model, key and allowed keys."""
    allowed = sorted(info.params.model_fields)
    try:
        return info.params.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        if first["type"] == "extra_forbidden":
            raise ValueError(f"model {info.name!r} does not take model_params.{key}; allowed "
                             f"keys: {', '.join(allowed)}") from None
        raise ValueError(f"model {info.name!r}: model_params.{key}: {first['msg']} "
                         f"(got {first.get('input')!r})") from None
