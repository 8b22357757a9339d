"""Params of ``anomalib_import``: seed 000's trained checkpoints as one AD run (pydantic only).

Seed 000 keeps one anomalib PatchCore per category under
``checkpoints/patchcore_224/<Dataset>/<category>/model.pt`` with ``config.yaml`` (which
categories) and ``thresholds.yaml`` (``global`` + ``categories: {<Dataset>/<category>: t}``).
"""
from __future__ import annotations

from typing import Optional, Union

from pydantic import Field, field_validator

from adlab.pipelines.base import PipelineParams


class AnomalibImportParams(PipelineParams):
    checkpoints: str = Field(description="folder holding <Dataset>/<category>/model.pt (or .ckpt)")
    config: Optional[str] = Field(default=None, description="the seed's config.yaml: data.datasets "
                                  "{<Dataset>: [categories]} limits what is imported")
    thresholds: Optional[str] = Field(default=None, description="the seed's thresholds.yaml "
                                      "(global + per <Dataset>/<category>)")
    model: str = Field(default="patchcore", description="anomalib model the checkpoints hold")
    image_size: Union[int, tuple[int, int]] = Field(default=224, description="exported input size")
    weights: Optional[str] = Field(default=None, description="torchvision backbone state dict for "
                                   "the seed's standalone PatchCore model.pt (it holds no backbone)")
    batch_size: int = Field(default=8, ge=1, le=256, description="exported batch size")
    data_root: Optional[str] = Field(default=None, description="images for the parity check: "
                                     "<data_root>/<Dataset>/<category>/**; else seeded noise")
    parity_samples: int = Field(default=4, ge=1)
    parity_tolerance: float = Field(default=1e-3, gt=0.0)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        from adlab.pipelines.anomalib.model_params import resolve_model

        return resolve_model(value).name

    @property
    def size_hw(self) -> tuple[int, int]:
        if isinstance(self.image_size, int):
            return (self.image_size, self.image_size)
        return (int(self.image_size[0]), int(self.image_size[1]))
