"""Params of the ``read`` pipeline (pydantic only: imported when runs are queued).

Weights are local paths only (nothing is downloaded): ``mllm_path`` is a READ or LISA checkpoint
folder as released (config.json, weights, tokenizer), ``sam_checkpoint`` a SAM state dict (.pth)
whose architecture ``sam_type`` names (a registry name or a JSON file describing a reduced
encoder), ``clip_path`` a CLIP folder (the baseline's model; READ's vision tower when the
checkpoint does not hold it).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from adlab.pipelines.base import PipelineParams
from adlab.pipelines.components.ad_params import MetricsParams, OutputsParams
from adlab.pipelines.dataset_params import DatasetName, DatasetSelection
from adlab.pipelines.read import prompts

class ReadDataParams(DatasetSelection):
    dataset: DatasetName = "mvtec_ad"


class PromptParams(PipelineParams):
    template: Optional[str] = Field(
        default=None, description="the question (read) or anomaly text (baseline); {class_name}, "
                                  "and {defect_type} only with allow_defect_name. null = the mode's default")
    normal_template: str = Field(default=prompts.DEFAULT_BASELINE_NORMAL_TEMPLATE,
                                 description="baseline only: the normal text subtracted from the anomaly text")
    allow_defect_name: bool = Field(
        default=False, description="allow {defect_type} (the test folder name) in the prompt: leaks "
                                   "the answer; such runs are marked and form their own partition")
    answer: Literal["generate", "fixed"] = Field(
        default="generate", description="generate: the LLM answers (greedy) and its <SEG> is used; "
                                        "fixed: the answer 'Sure, it is [SEG].' is teacher-forced")
    max_new_tokens: int = Field(default=32, ge=1, le=512)


class PointParams(PipelineParams):
    """SasP: points from the similarity map (READ-7B's defaults)."""

    enabled: bool = Field(default=True, description="false: the <SEG> embedding alone prompts SAM (LISA)")
    num_points: int = Field(default=30, ge=1, le=256)
    t_pos: float = Field(default=0.8, gt=0.0, le=1.0, description="normalised similarity >= t_pos: positive point")
    t_neg: float = Field(default=0.2, ge=0.0, lt=1.0, description="normalised similarity <= t_neg: negative point")
    down_sample: int = Field(default=2, ge=1, le=8, description="similarity grid down-sampling before picking")

    @model_validator(mode="after")
    def _ordered(self) -> "PointParams":
        if self.t_neg >= self.t_pos:
            raise ValueError(f"points.t_neg ({self.t_neg}) must be below points.t_pos ({self.t_pos})")
        return self


class DecoderParams(PipelineParams):
    backend: Literal["onnx", "torch"] = Field(
        default="onnx", description="onnx: SAM's prompt encoder + mask decoder run in onnxruntime")
    provider: Literal["auto", "cpu", "cuda"] = "auto"
    parity_samples: int = Field(default=2, ge=0, description="images decoded by torch too, to check ONNX")
    parity_tolerance: float = Field(default=1e-3, gt=0.0, description="max abs logit difference allowed")


class ScoreParams(PipelineParams):
    reduction: Literal["max", "mean", "topk_mean"] = Field(
        default="max", description="image score from sigmoid(mask logits)")
    topk_fraction: float = Field(default=0.01, gt=0.0, le=1.0, description="topk_mean: fraction of pixels")


class ReadParams(PipelineParams):
    mode: Literal["read", "baseline"] = Field(
        default="read", description="read: LLaVA + <SEG> + SasP + SAM; baseline: CLIP similarity points into SAM")
    mllm_path: Optional[str] = Field(default=None, description="READ or LISA checkpoint folder (read mode)")
    sam_checkpoint: Optional[str] = Field(
        default=None, description="SAM state dict .pth (baseline; read mode when the READ checkpoint lacks SAM)")
    sam_type: str = Field(default="vit_h", description="vit_h | vit_l | vit_b, or a JSON file describing the encoder")
    clip_path: Optional[str] = Field(default=None, description="CLIP folder (save_pretrained layout)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="LLM dtype; auto: bfloat16 on CUDA, float32 on CPU")
    data: ReadDataParams = Field(default_factory=ReadDataParams)
    prompt: PromptParams = Field(default_factory=PromptParams)
    points: PointParams = Field(default_factory=PointParams)
    decoder: DecoderParams = Field(default_factory=DecoderParams)
    score: ScoreParams = Field(default_factory=ScoreParams)
    eval_size: Optional[int] = Field(default=256, ge=16, le=4096,
                                     description="metrics.resolution: model only: maps and masks "
                                                 "resized to this square size for metrics; null = "
                                                 "original size (all images must share it)")
    metrics: MetricsParams = Field(default_factory=MetricsParams,
                                   description="mask (default): the logits (already at each "
                                               "image's size) against each mask at its own size")
    outputs: OutputsParams = Field(default_factory=OutputsParams)
    visuals: int = Field(default=4, ge=0, description="image / mask / ground-truth PNGs per category")
    seed: int = 0

    @model_validator(mode="after")
    def _prompts_and_weights(self) -> "ReadParams":
        allow = self.prompt.allow_defect_name
        prompts.check_template(self.question_template, allow_defect_name=allow, where="prompt.template")
        if self.mode == "baseline":
            prompts.check_template(self.prompt.normal_template, allow_defect_name=allow,
                                   where="prompt.normal_template")
            if self.mllm_path:
                raise ValueError("mllm_path is not used by mode: baseline (CLIP + SAM only); remove it "
                                 "or set mode: read")
        return self

    @property
    def question_template(self) -> str:
        if self.prompt.template is not None:
            return self.prompt.template
        return prompts.DEFAULT_READ_TEMPLATE if self.mode == "read" else prompts.DEFAULT_BASELINE_TEMPLATE

    @property
    def leaks_defect_type(self) -> bool:
        """True when a prompt names the ground-truth defect type (the public READ protocol)."""
        texts = [self.question_template] + ([self.prompt.normal_template] if self.mode == "baseline" else [])
        return prompts.uses_defect_name(*texts)
