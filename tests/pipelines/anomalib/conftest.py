"""Shared fixtures: one tiny synthetic dataset per session and helpers to build params."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adlab.data.synth import generate_synthetic


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two categories, 64x64, 10 train / 4 good + 6 defective test images each."""
    root = tmp_path_factory.mktemp("anomalib_data") / "synthetic"
    generate_synthetic(root, categories=2, seed=0, image_size=64, n_train=10, n_test_good=4,
                       n_test_defect=6)
    return root


def tiny_params(root: Path, **overrides: Any) -> dict[str, Any]:
    """A params dict for a fast PatchCore run (random-init resnet18, 64 px)."""
    config: dict[str, Any] = {
        "model": "patchcore",
        "model_params": {"backbone": "resnet18", "layers": ["layer2", "layer3"],
                         "pre_trained": False, "coreset_sampling_ratio": 0.5},
        "data": {"dataset": "synthetic", "root": str(root), "categories": "all",
                 "split_runs": "joint"},
        "image_size": 64,
        "train": {"max_epochs": 1, "batch_size": 4},
        "inference": {"batch_size": 4},
        "visuals": {"count": 2},
    }
    for key, value in overrides.items():
        config[key] = value
    return config


@pytest.fixture
def make_params():
    return tiny_params
