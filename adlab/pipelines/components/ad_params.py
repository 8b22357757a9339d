"""Params every AD pipeline shares: evaluation resolution, map outputs, threshold source.

Pydantic only (imported when runs are queued). One definition, so ``metrics.resolution``,
``outputs.tiff_maps`` and ``thresholds.source`` mean the same in every pipeline that has them.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from adlab.pipelines.base import PipelineParams

MASK, MODEL = "mask", "model"
Resolution = Literal["mask", "model"]
TEST, VALIDATION = "test", "validation"
ThresholdSource = Literal["test", "validation"]


class MetricsParams(PipelineParams):
    """How pixel metrics are computed (a partition key: runs at different resolutions are
    never ranked together)."""

    resolution: Resolution = Field(
        default="mask",
        description="mask: each anomaly map is upsampled bilinearly (align_corners=False) to its "
                    "ground-truth mask's own size, masks are never resized (the official MVTec "
                    "AD / LOCO protocol); model: masks are brought to the model's resolution with "
                    "torch's nearest rule (anomalib's own metrics)")


class OutputsParams(PipelineParams):
    """Extra files a run writes (they change no metric)."""

    tiff_maps: bool = Field(
        default=False,
        description="write every test image's anomaly map as a float32 TIFF at the image's "
                    "original size in the official layout <category>/test/<defect>/<stem>.tiff "
                    "(read by `adlab metrics --maps-dir`/`--loco` and the official scripts)")


class ThresholdParams(PipelineParams):
    """Where the image/pixel thresholds of the predictions come from."""

    source: ThresholdSource = Field(
        default="test",
        description="test: F1-optimal on the test labels (optimistic, labelled test_labels_f1); "
                    "validation: a quantile of the scores of normal validation images (the "
                    "layout's validation split, else data.val_fraction of the training images, "
                    "held out of training), labelled validation_normal_quantile")
    normal_quantile: float = Field(
        default=1.0, gt=0.0, le=1.0,
        description="validation: the quantile of the normal validation scores (and map pixels) "
                    "used as threshold; 1.0 = their maximum, anomalib's rule when the validation "
                    "set holds no anomalous image")
