"""What a metric means and what an artifact is: declared once, never guessed elsewhere.

A pipeline declares a :class:`MetricInfo` for every metric key it records (its spec's
``metrics``). Comparison, pivots and reports read the direction and scale from that
declaration. Metrics nobody declared (imported CSVs, answer files) fall back to
:func:`infer_metric_info`, the only name rule in adlab, or to ``--lower-is-better``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Mapping


class Direction(str, Enum):
    """Which way a metric improves."""

    HIGHER = "higher"
    LOWER = "lower"
    NONE = "none"  # a fact, not a score (counts, thresholds): never ranked as better/worse


class Scale(str, Enum):
    """How a value is written: deltas of fractions are shown in percentage points (×100)."""

    FRACTION = "fraction"  # in [0, 1] (AUROC, AP, F1)
    PERCENT = "percent"  # in [0, 100] (MMAD accuracy)
    RAW = "raw"  # seconds, megabytes, distances, counts


@dataclass(frozen=True)
class MetricInfo:
    """The meaning of one metric key."""

    direction: Direction = Direction.HIGHER
    scale: Scale = Scale.FRACTION
    unit: str = ""
    description: str = ""

    @property
    def higher_is_better(self) -> bool:
        """Ranking order; a NONE metric is listed in descending order when asked for."""
        return self.direction is not Direction.LOWER


def fraction(description: str = "") -> MetricInfo:
    """A higher-is-better score in [0, 1]."""
    return MetricInfo(Direction.HIGHER, Scale.FRACTION, "", description)


def percent(description: str = "") -> MetricInfo:
    """A higher-is-better score in percent."""
    return MetricInfo(Direction.HIGHER, Scale.PERCENT, "%", description)


def cost(unit: str, description: str = "") -> MetricInfo:
    """A lower-is-better quantity (time, size, loss, distance, error)."""
    return MetricInfo(Direction.LOWER, Scale.RAW, unit, description)


def fact(unit: str = "", description: str = "") -> MetricInfo:
    """A recorded fact that is not a quality score (counts, thresholds, epochs)."""
    return MetricInfo(Direction.NONE, Scale.RAW, unit, description)


# The standard anomaly-detection scores (the keys of ``adlab.metrics.evaluate``), declared once
# for every pipeline that reports them: all higher-is-better fractions.
AD_METRICS: Mapping[str, MetricInfo] = {
    "image_auroc": fraction("image-level AUROC"),
    "pixel_auroc": fraction("pixel-level AUROC"),
    "aupro": fraction("area under the per-region overlap curve (FPR <= limit), normalised"),
    "image_f1_max": fraction("best image-level F1 over thresholds"),
    "pixel_f1_max": fraction("best pixel-level F1 over thresholds"),
    "image_ap": fraction("image-level average precision"),
    "pixel_ap": fraction("pixel-level average precision"),
}


def cross_domain_scope(train: str, test: str) -> str:
    """The metric scope of a model trained on domain ``train`` and scored on domain ``test``."""
    return f"train={train}/test={test}"


def cross_domain_metrics(keys: Iterable[str]) -> dict[str, MetricInfo]:
    """Run-level summaries of a cross-domain run for each AD score in ``keys``: its mean where
    train and test domain agree, where they differ, and the gap (in minus cross)."""
    out: dict[str, MetricInfo] = {}
    for k in keys:
        out[f"in_domain_{k}"] = fraction(f"mean {k} where train and test domain agree")
        out[f"cross_domain_{k}"] = fraction(f"mean {k} where train and test domain differ")
        out[f"domain_gap_{k}"] = MetricInfo(Direction.LOWER, Scale.FRACTION, "",
                                            f"in-domain minus cross-domain {k}")
    return out


# The one name rule for metrics nobody declared: a separated word of the name
# (``_ . - /`` or space) that means "lower is better".
LOWER_IS_BETTER_WORDS = frozenset({
    "loss", "error", "errors", "err", "latency", "time", "seconds", "sec", "s", "ms", "fpr",
    "fnr", "miss", "overkill", "mb", "gb", "bytes", "memory", "eer", "mae", "mse", "rmse", "abs",
    "mmd", "wasserstein", "distance", "drift",
})


def infer_metric_info(key: str, lower_is_better: Iterable[str] = ()) -> MetricInfo:
    """The meaning of an undeclared metric: named in ``lower_is_better``, else the name rule.

    The scale of an undeclared metric is unknown (RAW); callers that need fraction vs percent
    for deltas decide from the stored values.
    """
    if key in set(lower_is_better):
        return MetricInfo(Direction.LOWER, Scale.RAW)
    words = set(re.split(r"[_.\-/ ]+", key.lower()))
    if words & LOWER_IS_BETTER_WORDS:
        return MetricInfo(Direction.LOWER, Scale.RAW)
    return MetricInfo(Direction.HIGHER, Scale.RAW)


def resolve_metric_info(key: str, declared: Mapping[str, MetricInfo] | None = None,
                        lower_is_better: Iterable[str] = ()) -> MetricInfo:
    """A declared metric's info (``--lower-is-better`` still overrides), else the name rule."""
    lower = set(lower_is_better)
    info = (declared or {}).get(key)
    if info is None:
        return infer_metric_info(key, lower)
    if key in lower and info.direction is not Direction.LOWER:
        return MetricInfo(Direction.LOWER, info.scale, info.unit, info.description)
    return info


class ArtifactKind(str, Enum):
    """Every kind of file a run records; a pipeline that writes a new kind adds it here."""

    CHECKPOINT = "checkpoint"
    ONNX = "onnx"
    ONNX_DATA = "onnx_data"
    MEMORY_BANK = "memory_bank"
    BUNDLE = "bundle"
    ANOMALY_MAPS = "anomaly_maps"
    TIFF_MAPS = "tiff_maps"
    HEATMAP = "heatmap"
    VISUAL = "visual"
    THRESHOLDS = "thresholds"
    PREDICTIONS = "predictions"
    SUBSET = "subset"
    ANSWERS = "answers"
    ANSWERS_META = "answers_meta"
    MASK_LOGITS = "mask_logits"
    METADATA = "metadata"
    STUDY_ROWS = "study_rows"
    CROSS_DOMAIN_MATRIX = "cross_domain_matrix"
    CURVES = "curves"
    PLOT_ROC = "plot_roc"
    PLOT_PR = "plot_pr"
    PLOT_BARS = "plot_bars"
    PLOT_MATRIX = "plot_matrix"
    PLOT_DIMENSION = "plot_dimension"
    PLOT_COMPARISON = "plot_comparison"
    PLOT_FUSION = "plot_fusion"
    LOG = "log"
    REPORT = "report"
    OTHER = "other"

    @classmethod
    def parse(cls, value: "str | ArtifactKind") -> "ArtifactKind":
        """The kind named by ``value``; an unknown name is one sentence listing the known ones."""
        if isinstance(value, ArtifactKind):
            return value
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(k.value for k in cls)
            raise ValueError(f"unknown artifact kind {value!r}; known kinds: {known}") from None
