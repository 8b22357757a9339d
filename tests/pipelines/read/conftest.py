"""Tiny random-weight READ, CLIP and SAM written once per session in their real formats, and a
small synthetic MVTec-layout dataset."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class TinyWeights:
    clip: Path
    sam_weights: Path
    sam_config: Path
    read: Path
    lisa: Path  # LISA-style: LLaVA-v1 linear projector, no SAM weights inside
    data: Path


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> TinyWeights:
    from adlab.data.synth import generate_synthetic
    from adlab.pipelines.read.tiny import write_tiny_clip, write_tiny_read, write_tiny_sam

    base = tmp_path_factory.mktemp("read_weights")
    clip = write_tiny_clip(base / "clip")
    sam_weights, sam_config = write_tiny_sam(base / "sam")
    read = write_tiny_read(base / "read", sam_config_path=sam_config)
    lisa = write_tiny_read(base / "lisa", projector="linear", include_sam=False,
                           vision_tower="openai/clip-vit-large-patch14", architecture="LISAForCausalLM", seed=1)
    data = base / "synthetic"
    generate_synthetic(data, categories=["woven", "washer"], seed=3, image_size=48, n_train=1,
                       n_test_good=2, n_test_defect=3)
    return TinyWeights(clip=clip, sam_weights=sam_weights, sam_config=sam_config, read=read, lisa=lisa,
                       data=data)
