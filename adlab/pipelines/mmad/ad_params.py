"""Params of ``mmad_ad``: the AD model run that feeds an MMAD evaluation (pydantic only).

It carries the MMAD run's sampling parameters so it re-derives exactly the same image list
(:func:`adlab.pipelines.mmad.data.select_images`), and where the per-category AD models come
from: exported models (``checkpoints`` folders or one anomalib run, ``checkpoint_run``), else a
few-shot model fitted per category on that category's normal templates from mmad.json (``fit``).
"""
from __future__ import annotations

from typing import Optional, Union

from pydantic import Field, model_validator

from adlab.pipelines.base import PipelineParams
from adlab.pipelines.mmad.params import FitParams, _refuse_secrets


class MmadAdParams(PipelineParams):
    ad_model: str = Field(default="patchcore", description="anomalib model name (patchcore, padim, ...)")
    data_root: Optional[str] = None
    mmad_json: Optional[str] = None
    sample_per_folder: Optional[int] = Field(default=None, ge=1)
    sample_seed: int = 42
    max_images: Optional[int] = Field(default=None, ge=1)
    checkpoints: Optional[Union[str, list[str]]] = Field(
        default=None, description="folders with <Dataset>/<category>/[bundle/]bundle.json, or "
                                  "anomalib run output folders")
    checkpoint_run: Optional[int] = Field(default=None, description="anomalib run whose bundles to use")
    thresholds: Optional[str] = Field(default=None, description="thresholds.yaml (global + per category)")
    fit: FitParams = Field(default_factory=FitParams)
    batch_size: int = Field(default=8, ge=1, le=256, description="images per onnxruntime call")

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: object) -> object:
        _refuse_secrets(data, "")
        return data

    @model_validator(mode="after")
    def _model_known(self) -> "MmadAdParams":
        from adlab.pipelines import get_pipeline

        self.ad_model = get_pipeline("anomalib").service("canonical_model_name")(self.ad_model)
        return self

    def checkpoint_dirs(self) -> list[str]:
        if self.checkpoints is None:
            return []
        return [self.checkpoints] if isinstance(self.checkpoints, str) else list(self.checkpoints)
