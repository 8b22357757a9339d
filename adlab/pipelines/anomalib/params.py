"""Params of the ``anomalib`` pipeline (pydantic only: imported when runs are queued)."""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from adlab.pipelines.anomalib.model_params import (
    ModelInfo, ModelParams, resolve_model, validate_model_params,
)
from adlab.pipelines.base import PipelineParams
from adlab.pipelines.components.ad_params import MetricsParams, OutputsParams, ThresholdParams
from adlab.pipelines.dataset_params import DatasetName, TrainableSelection  # noqa: F401



class DataParams(TrainableSelection):
    split_runs: Literal["per_category", "joint"] = Field(
        default="per_category",
        description="per_category: one run per category; joint: one run trains and scores each category")
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0,
                                description="normal training images held out for validation loss "
                                            "(and validation thresholds) when the dataset has no "
                                            "validation split")


class EarlyStoppingParams(PipelineParams):
    """Stop on validation loss (validation data is normal-only, so AUROC cannot be used)."""

    patience: int = Field(default=3, ge=1)
    min_delta: float = Field(default=0.0, ge=0.0)


class TrainParams(PipelineParams):
    max_epochs: int = Field(default=1, ge=1)
    batch_size: int = Field(default=8, ge=1)
    learning_rate: Optional[float] = Field(default=None, gt=0.0)
    early_stopping: Optional[EarlyStoppingParams] = None
    num_workers: int = Field(default=0, ge=0)
    checkpoint: bool = Field(default=True, description="keep the Lightning checkpoint as an artifact")


class ExportParams(PipelineParams):
    parity_samples: int = Field(default=4, ge=1)
    parity_tolerance: float = Field(default=1e-3, gt=0.0, description="max abs difference of score and map")
    memory_bank: Literal["in_graph", "faiss"] = Field(
        default="in_graph",
        description="faiss: PatchCore's memory bank stays out of the ONNX graph and faiss searches it")


class InferenceParams(PipelineParams):
    engine: Literal["onnxruntime", "torch"] = Field(
        default="onnxruntime",
        description="torch: score with the trained torch model and skip the ONNX export (the "
                    "recorded fallback where a model's export is broken; the run has no bundle)")
    batch_size: int = Field(default=8, ge=1)
    provider: Literal["auto", "cpu", "cuda"] = "auto"
    decode_threads: int = Field(default=2, ge=1, description="threads decoding images ahead of inference")


class CrossDomainParams(PipelineParams):
    """Train on the run's one category (the source domain), then score other domains with it."""

    test_domains: Optional[Union[Literal["auto"], list[str]]] = Field(
        default=None,
        description='categories of data.dataset scored with the model trained on data.categories; '
                    '"auto": every other category on disk (seed 002\'s target_domains)')


class VisualParams(PipelineParams):
    count: int = Field(default=4, ge=0, description="heatmap overlays written per category")


class AnomalibParams(PipelineParams):
    model: str = "patchcore"
    model_params: dict[str, Any] = Field(default_factory=dict)
    weights: Optional[str] = Field(default=None, description="local pretrained weights file where the model needs one")
    data: DataParams = Field(default_factory=DataParams)
    image_size: Union[int, tuple[int, int]] = 256
    seed: int = 0
    train: TrainParams = Field(default_factory=TrainParams)
    export: ExportParams = Field(default_factory=ExportParams)
    inference: InferenceParams = Field(default_factory=InferenceParams)
    visuals: VisualParams = Field(default_factory=VisualParams)
    cross_domain: CrossDomainParams = Field(default_factory=CrossDomainParams)
    metrics: MetricsParams = Field(default_factory=MetricsParams)
    outputs: OutputsParams = Field(default_factory=OutputsParams)
    thresholds: ThresholdParams = Field(default_factory=ThresholdParams)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return resolve_model(value).name

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, value: Union[int, tuple[int, int]]) -> Union[int, tuple[int, int]]:
        sizes = (value,) if isinstance(value, int) else value
        if any(s < 16 or s > 4096 for s in sizes):
            raise ValueError("image_size must be between 16 and 4096 pixels")
        return value

    @model_validator(mode="after")
    def _model_specific(self) -> "AnomalibParams":
        info = self.model_info
        validated = validate_model_params(info, self.model_params)
        # Store the full, explicit parameter set: a default change in a later release cannot
        # silently change what a queued run meant, and grouping sees every value.
        self.model_params = validated.model_dump(mode="json")
        if not info.trainable and self.train.learning_rate is not None:
            raise ValueError(f"model {info.name!r} has no optimizer, so train.learning_rate "
                             f"cannot be set; remove it")
        if not info.trainable and self.train.early_stopping is not None:
            raise ValueError(f"model {info.name!r} is not trained by gradient descent, so "
                             f"train.early_stopping does not apply; remove it")
        if info.name == "efficient_ad" and self.train.batch_size != 1:
            raise ValueError("model 'efficient_ad' trains with train.batch_size: 1 only; set it to 1")
        if self.cross_domain.test_domains is not None and self.data.split_runs != "per_category":
            raise ValueError("cross_domain.test_domains trains one run per source domain, so "
                             "data.split_runs must be per_category")
        if self.export.memory_bank == "faiss" and self.inference.engine == "torch":
            raise ValueError("export.memory_bank: faiss is an ONNX export mode, but "
                             "inference.engine: torch skips the export; use one or the other")
        if self.export.memory_bank == "faiss" and info.name != "patchcore":
            raise ValueError(f"export.memory_bank: faiss applies to patchcore only, not "
                             f"{info.name!r}; use in_graph")
        return self

    @property
    def model_info(self) -> ModelInfo:
        return resolve_model(self.model)

    @property
    def typed_model_params(self) -> ModelParams:
        return validate_model_params(self.model_info, self.model_params)

    @property
    def size_hw(self) -> tuple[int, int]:
        if isinstance(self.image_size, int):
            return (self.image_size, self.image_size)
        return (int(self.image_size[0]), int(self.image_size[1]))
