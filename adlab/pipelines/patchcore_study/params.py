"""Params of the ``patchcore_study`` pipeline (pydantic only: imported when runs are queued).

A run is one PatchCore configuration (backbone, fusion, memory bank) evaluated either per
category (``mode: standard``) or as one row of a cross-domain matrix (``mode: cross_domain``:
the bank is built on ``cross_domain.train`` and every test domain is scored against it).
``sweep`` lists values of params to compare; it expands into chained child runs whose last
member draws the study-level plots (see spec.py).
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from adlab.pipelines.base import PipelineParams
from adlab.pipelines.components.ad_params import MetricsParams, OutputsParams
from adlab.pipelines.dataset_params import DatasetName, TrainableSelection

FusionStrategy = Literal["single", "concat", "weighted", "adaptive"]
BankMethod = Literal["coreset", "knn", "pca", "kmeans"]


class BackboneParams(PipelineParams):
    name: str = Field(default="wide_resnet50_2",
                      description="a key of backbones.BACKBONES, an alias (vit_b16, dinov2_vit_b14, "
                                  "clip_vit_b32, open_clip:ViT-B-32) or any timm model name")
    layers: Optional[list[str]] = Field(default=None, description="feature layers (timm module "
                                        "names: layer2, blocks.8); default per backbone")
    pretrained: bool = Field(default=True, description="false: random init (tests, offline smoke runs)")
    weights: Optional[str] = Field(default=None, description="local weights file (timm/open_clip "
                                   "state dict) read when pretrained is true")

    @field_validator("name")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        from adlab.pipelines.patchcore_study.backbones import check_backbone_name

        return check_backbone_name(value.strip())

    @field_validator("layers")
    @classmethod
    def _layers_not_empty(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError("give one or more distinct layer names, or leave layers unset "
                             "for the backbone's defaults")
        return value


class FusionParams(PipelineParams):
    strategy: FusionStrategy = "concat"
    layer: Optional[str] = Field(default=None, description="single: the layer used (default: the last)")
    weights: Optional[list[float]] = Field(default=None, description="weighted: one weight per layer")
    dim: Optional[int] = Field(default=None, ge=1, description="output feature dimension (channel "
                               "average pooling); weighted/adaptive default: the smallest layer's")
    neighbourhood: int = Field(default=3, ge=1, description="PatchCore local aggregation window (odd)")

    @field_validator("neighbourhood")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("neighbourhood must be odd (1, 3, 5, ...) so patches stay centred")
        return value

    @model_validator(mode="after")
    def _strategy_fields(self) -> "FusionParams":
        if self.strategy == "weighted":
            if not self.weights:
                raise ValueError("fusion.strategy weighted needs fusion.weights, one per layer")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("fusion.weights must be non-negative with a positive sum")
        elif self.weights is not None:
            raise ValueError(f"fusion.weights applies to strategy weighted only, not "
                             f"{self.strategy!r}; remove it")
        if self.layer is not None and self.strategy != "single":
            raise ValueError(f"fusion.layer applies to strategy single only, not {self.strategy!r}")
        return self


class MemoryBankParams(PipelineParams):
    method: BankMethod = "coreset"
    coreset_ratio: float = Field(default=0.1, gt=0.0, le=1.0)
    projection_dim: int = Field(default=128, ge=0, description="coreset: random projection "
                                "dimension for the greedy distances (0: none)")
    pca_dim: int = Field(default=64, ge=1)
    kmeans_k: int = Field(default=1024, ge=1)
    kmeans_iters: int = Field(default=20, ge=1)
    num_neighbors: int = Field(default=9, ge=1, description="PatchCore image-score re-weighting")


class DataParams(TrainableSelection):
    """The dataset; ``test_limit`` is per domain."""


def domain_problem(text: str) -> str | None:
    """Why ``text`` is no domain (``category`` of data.dataset or ``dataset:category``), or None.
    The dataset is checked here, wherever the data lives; the category when the run is queued
    (``adlab queue``'s data check) and again when it runs."""
    from typing import get_args

    from adlab.core.suggest import closest_first

    if not text.strip():
        return "a domain is a category of data.dataset or dataset:category, not an empty name"
    if ":" not in text:
        return None
    dataset, _, category = text.partition(":")
    known = get_args(DatasetName)
    if dataset not in known:
        return (f"domain {text!r} names no dataset {dataset!r}; datasets{closest_first(dataset, known)}; "
                "write dataset:category with one of them, or just a category of data.dataset")
    if not category.strip():
        return f"domain {text!r} has no category after ':'; write {dataset}:<category>"
    return None


class CrossDomainParams(PipelineParams):
    """Domains are ``category`` (of data.dataset) or ``dataset:category``."""

    train: Optional[str] = Field(default=None, description="this row's train domain (set by the "
                                 "expansion; one child run per train domain)")
    train_domains: Optional[list[str]] = Field(default=None, description="default: data.categories")
    test_domains: Optional[list[str]] = Field(default=None, description="default: the train domains")
    roots: dict[str, str] = Field(default_factory=dict, description="dataset -> root for other datasets")
    max_patches: int = Field(default=2048, ge=16, description="patches per domain for the distances")

    @field_validator("train", "train_domains", "test_domains")
    @classmethod
    def _domains(cls, value: Optional[str | list[str]]) -> Optional[str | list[str]]:
        for text in [value] if isinstance(value, str) else (value or []):
            problem = domain_problem(text)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("roots")
    @classmethod
    def _root_datasets(cls, value: dict[str, str]) -> dict[str, str]:
        from typing import get_args

        from adlab.core.suggest import closest_first

        known = get_args(DatasetName)
        for dataset in value:
            if dataset not in known:
                raise ValueError(f"cross_domain.roots names no dataset {dataset!r}; datasets"
                                 f"{closest_first(dataset, known)}")
        return value


class VisualParams(PipelineParams):
    count: int = Field(default=2, ge=0, description="heatmap overlays per test domain")


class PatchCoreStudyParams(PipelineParams):
    mode: Literal["standard", "cross_domain"] = "standard"
    backbone: BackboneParams = Field(default_factory=BackboneParams)
    fusion: FusionParams = Field(default_factory=FusionParams)
    memory_bank: MemoryBankParams = Field(default_factory=MemoryBankParams)
    data: DataParams = Field(default_factory=DataParams)
    cross_domain: CrossDomainParams = Field(default_factory=CrossDomainParams)
    image_size: int = Field(default=224, ge=16, le=2048)
    batch_size: int = Field(default=8, ge=1)
    seed: int = 0
    visuals: VisualParams = Field(default_factory=VisualParams)
    metrics: MetricsParams = Field(default_factory=MetricsParams)
    outputs: OutputsParams = Field(default_factory=OutputsParams)
    sweep: dict[str, list[Any]] = Field(default_factory=dict, description="dotted param -> values; "
                                        "one chained child run per combination")
    sweep_child: bool = Field(default=False, description="set by the expansion on each child run")

    @field_validator("sweep")
    @classmethod
    def _sweep_values(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if key.split(".")[0] in ("sweep", "sweep_child", "mode"):
                raise ValueError(f"sweep key {key!r} cannot be swept; use separate configs")
            if not isinstance(values, list) or not values:
                raise ValueError(f"sweep.{key} must be a non-empty list of values")
        return value

    @model_validator(mode="after")
    def _mode_fields(self) -> "PatchCoreStudyParams":
        cd = self.cross_domain
        if self.mode == "standard" and (cd.train or cd.train_domains or cd.test_domains):
            raise ValueError("cross_domain.train/train_domains/test_domains apply to mode "
                             "cross_domain only; set mode: cross_domain or remove them")
        if cd.train is not None and self.train_domains() and cd.train not in self.train_domains():
            raise ValueError(f"cross_domain.train {cd.train!r} is not one of the train domains "
                             f"{self.train_domains()}")
        return self

    def train_domains(self) -> list[str]:
        """The cross-domain rows (needs named categories or explicit train_domains)."""
        if self.cross_domain.train_domains:
            return list(self.cross_domain.train_domains)
        return self.data.category_list() or []

    def test_domains(self) -> list[str]:
        return list(self.cross_domain.test_domains or self.train_domains())
