"""Params validation, the spec's expansion/naming, and the example study files (no torch)."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from adlab.config.loader import build_run_specs, load_run_specs
from adlab.errors import ConfigError
from adlab.pipelines import get_pipeline
from adlab.pipelines.anomalib.model_params import MODEL_REGISTRY, resolve_model
from adlab.pipelines.anomalib.params import AnomalibParams

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_registry_covers_the_required_models() -> None:
    required = {"patchcore", "padim", "efficient_ad", "draem", "dinomaly", "winclip", "stfpm",
                "fastflow", "reverse_distillation"}
    assert required <= set(MODEL_REGISTRY)


def test_unknown_model_param_names_model_key_and_allowed_keys() -> None:
    with pytest.raises(ValidationError) as err:
        AnomalibParams.model_validate({"model": "padim", "model_params": {"coreset_sampling_ratio": 0.1}})
    text = str(err.value)
    assert "'padim'" in text and "coreset_sampling_ratio" in text
    assert "allowed keys: backbone, layers, n_features, pre_trained" in text


def test_model_params_are_stored_complete_with_defaults() -> None:
    p = AnomalibParams.model_validate({"model": "Patchcore", "model_params": {"backbone": "resnet18"}})
    assert p.model == "patchcore"
    assert p.model_params == {"backbone": "resnet18", "layers": ["layer2", "layer3"], "pre_trained": True,
                              "coreset_sampling_ratio": 0.1, "num_neighbors": 9}


def test_pass_through_accepts_any_anomalib_image_model() -> None:
    p = AnomalibParams.model_validate({"model": "Cflow", "model_params": {"backbone": "resnet18"}})
    assert p.model == "cflow" and p.model_info.class_name == "Cflow"
    assert p.model_params == {"backbone": "resnet18"}
    assert resolve_model("mh_patchcore").class_name == "MHPatchcore"
    with pytest.raises(ValueError, match="unknown model 'yolo'"):
        resolve_model("yolo")


@pytest.mark.parametrize("config, message", [
    ({"model": "patchcore", "train": {"learning_rate": 0.1}}, "has no optimizer"),
    ({"model": "padim", "train": {"early_stopping": {"patience": 2}}}, "early_stopping does not apply"),
    ({"model": "padim", "export": {"memory_bank": "faiss"}}, "faiss applies to patchcore only"),
    ({"model": "efficient_ad", "train": {"batch_size": 4}}, "batch_size: 1"),
    ({"model": "patchcore", "image_size": 8}, "between 16 and 4096"),
    ({"model": "patchcore", "data": {"categories": []}}, "at least one category"),
    ({"model": "patchcore", "train": {"epochs": 3}}, "Extra inputs are not permitted"),
])
def test_invalid_combinations_are_rejected(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AnomalibParams.model_validate(config)


def test_per_category_expands_all_categories_on_disk(synth_root: Path, make_params) -> None:
    raw = {"pipeline": "anomalib", **make_params(synth_root)}
    raw["data"] = {**raw["data"], "split_runs": "per_category"}
    specs = build_run_specs(raw)
    assert [s.params.data.categories for s in specs] == ["washer", "woven"]
    assert [s.name for s in specs] == ["patchcore_synthetic_washer", "patchcore_synthetic_woven"]
    assert specs[0].partition_hash != specs[1].partition_hash  # categories never ranked together
    assert specs[0].flat["data.category_set"] == ["washer"]


def test_joint_run_partition_is_the_resolved_category_set(synth_root: Path, make_params) -> None:
    joint_all = build_run_specs({"pipeline": "anomalib", **make_params(synth_root)})
    listed = make_params(synth_root)
    listed["data"] = {**listed["data"], "categories": ["woven", "washer"]}
    joint_listed = build_run_specs({"pipeline": "anomalib", **listed})
    assert len(joint_all) == len(joint_listed) == 1
    assert joint_all[0].partition_hash == joint_listed[0].partition_hash
    assert joint_all[0].flat["data.category_set"] == ["washer", "woven"]


def test_seed_and_search_mode_do_not_split_groups(synth_root: Path, make_params) -> None:
    base = make_params(synth_root)
    other = {**base, "seed": 7, "export": {"memory_bank": "faiss"}}
    a = build_run_specs({"pipeline": "anomalib", **base})[0]
    b = build_run_specs({"pipeline": "anomalib", **other})[0]
    assert a.group_hash == b.group_hash


def test_all_without_a_data_root_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADLAB_DATA_ROOT", raising=False)
    raw = {"pipeline": "anomalib", "model": "padim", "data": {"dataset": "mvtec_ad"}}
    with pytest.raises(ConfigError, match="cannot list the categories of 'mvtec_ad'"):
        build_run_specs(raw)


def test_spec_is_registered_and_import_light() -> None:
    import subprocess
    import sys

    spec = get_pipeline("anomalib")
    assert spec.runner == "adlab.pipelines.anomalib.run:run"
    code = ("import sys, adlab.pipelines as p; p.get_pipeline('anomalib'); "
            "print(any(m in sys.modules for m in ('torch', 'anomalib', 'onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("anomalib_*.yaml")), ids=lambda p: p.name)
def test_example_files_validate(path: Path, synth_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADLAB_DATA_ROOT", str(synth_root.parent))
    specs = load_run_specs(path)
    assert specs and all(s.pipeline == "anomalib" for s in specs)
