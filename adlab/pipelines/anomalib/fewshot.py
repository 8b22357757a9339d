"""Services the anomalib pipeline offers other pipelines by name (``SPEC.services``).

``mmad_ad`` fits a few-shot model per MMAD category through the anomalib model factory and
Engine fit; it reaches them here, through the registry, never through this package's modules.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from adlab.pipelines.base import RunContext


@dataclass(frozen=True)
class FittedModel:
    """A fitted anomalib module, ready for :func:`adlab.pipelines.components.export.export_bundle`."""

    module: Any  # anomalib AnomalibModule, in eval mode
    model_type: str  # the canonical model name ("patchcore")
    size_hw: tuple[int, int]
    weights: dict[str, Any]  # provenance, as in the anomalib run's ``weights`` info


def canonical_model_name(name: str) -> str:
    """The registered model name for ``name`` ("Patchcore" -> "patchcore"); unknown -> ConfigError."""
    from adlab.pipelines.anomalib.model_params import resolve_model

    return resolve_model(name).name


def fit_normals(ctx: RunContext, images: Sequence[Path], *, model: str, model_params: dict[str, Any],
                weights: str | None, image_size: Any, batch_size: int, category: str,
                workdir: Path, label: str) -> FittedModel:
    """Fit ``model`` for one epoch on normal ``images`` in ``workdir`` (emptied first)."""
    from adlab.data.types import Sample
    from adlab.pipelines.anomalib.models import build_model
    from adlab.pipelines.anomalib.params import AnomalibParams
    from adlab.pipelines.anomalib.train import train_model

    ap = AnomalibParams.model_validate({
        "model": model, "model_params": model_params, "weights": weights,
        "image_size": image_size, "train": {"max_epochs": 1, "batch_size": min(8, len(images)),
                                            "checkpoint": False},
        "inference": {"batch_size": batch_size}})
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    built = build_model(ap)
    samples = [Sample(image_path=p, mask_paths=(), label=0, defect_type="good", category=category,
                      split="train") for p in images]
    train_model(built, samples, [], params=ap, ctx=ctx, workdir=workdir, label=label)
    shutil.rmtree(workdir / "engine", ignore_errors=True)
    shutil.rmtree(workdir / "checkpoints", ignore_errors=True)
    return FittedModel(module=built.module, model_type=ap.model, size_hw=ap.size_hw,
                       weights=built.weights)
