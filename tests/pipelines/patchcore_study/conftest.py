"""Shared fixtures: a tiny synthetic dataset and the example study files with test overrides."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adlab.data.synth import generate_synthetic

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two categories, 64x64, 6 train / 3 good + 4 defective test images each."""
    root = tmp_path_factory.mktemp("patchcore_study_data") / "synthetic"
    generate_synthetic(root, categories=["woven", "wood"], seed=0, image_size=64, n_train=6,
                       n_test_good=3, n_test_defect=4)
    return root


def tiny_overrides(root: Path) -> list[tuple[str, Any]]:
    """What turns an example study into a test-sized one (random weights, 64 px)."""
    return [("data.root", str(root)), ("data.categories", ["woven", "wood"]), ("image_size", 64),
            ("batch_size", 4), ("backbone.pretrained", False), ("visuals.count", 1),
            ("memory_bank.coreset_ratio", 0.25), ("cross_domain.max_patches", 256)]


def tiny_params(root: Path, **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "backbone": {"name": "resnet18", "pretrained": False},
        "fusion": {"strategy": "concat"},
        "memory_bank": {"method": "coreset", "coreset_ratio": 0.25},
        "data": {"dataset": "synthetic", "root": str(root), "categories": ["woven", "wood"]},
        "cross_domain": {"max_patches": 256},
        "image_size": 64, "batch_size": 4, "visuals": {"count": 1},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@pytest.fixture
def tiny_sets(synth_root: Path) -> list[tuple[str, Any]]:
    return tiny_overrides(synth_root)


@pytest.fixture
def make_config(synth_root: Path):
    return lambda **sections: tiny_params(synth_root, **sections)


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES
