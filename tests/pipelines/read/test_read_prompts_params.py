"""Prompt leakage rule, params validation and the comparison partition (no torch needed)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from adlab.config.loader import build_run_specs
from adlab.pipelines import get_pipeline
from adlab.pipelines.read import prompts
from adlab.pipelines.read.params import ReadParams

LEAKY = prompts.READ_MVTEC_LEAKY_TEMPLATE


def test_default_prompts_do_not_name_the_defect():
    for mode in ("read", "baseline"):
        params = ReadParams(mode=mode)
        assert "{defect_type}" not in params.question_template
        assert not params.leaks_defect_type
        assert prompts.render(params.question_template, "metal_nut", "scratch").count("scratch") == 0
        assert "metal nut" in prompts.render(params.question_template, "metal_nut", "scratch")


def test_defect_name_needs_the_explicit_flag():
    with pytest.raises(ValidationError, match="allow_defect_name"):
        ReadParams(prompt={"template": LEAKY})
    with pytest.raises(ValidationError, match="allow_defect_name"):
        ReadParams(mode="baseline", prompt={"normal_template": "a {defect_type} free {class_name}"})
    params = ReadParams(prompt={"template": LEAKY, "allow_defect_name": True})
    assert params.leaks_defect_type
    assert prompts.render(params.question_template, "metal_nut", "color") == "Segment the color on the metal nut."
    # The flag alone does not mark a run: only a template that uses the defect name leaks.
    assert not ReadParams(prompt={"allow_defect_name": True}).leaks_defect_type


def test_unknown_template_field_and_bad_point_thresholds():
    with pytest.raises(ValidationError, match="unknown field"):
        ReadParams(prompt={"template": "Segment the {anomaly} on the {class_name}."})
    with pytest.raises(ValidationError, match="t_neg"):
        ReadParams(points={"t_pos": 0.3, "t_neg": 0.5})
    with pytest.raises(ValidationError, match="mllm_path is not used"):
        ReadParams(mode="baseline", mllm_path="/x")


def _spec(tmp_path, **config):
    base = {"pipeline": "read", "data": {"dataset": "synthetic", "root": str(tmp_path), "categories": ["woven"]},
            "mllm_path": "/weights/read"}
    base.update(config)
    return build_run_specs(base)[0]


def test_leaky_runs_and_modes_fall_in_their_own_partition(tmp_path):
    spec = get_pipeline("read")
    assert spec.headline_metric == "image_auroc"
    assert {"data.dataset", "data.category_set", "mode", "prompt.leaks_defect_type"} <= set(spec.partition_keys)
    clean = _spec(tmp_path)
    other_prompt = _spec(tmp_path, prompt={"template": "Find the defect on the {class_name}."})
    leaky = _spec(tmp_path, prompt={"template": LEAKY, "allow_defect_name": True})
    baseline = _spec(tmp_path, mode="baseline", mllm_path=None, clip_path="/weights/clip",
                     sam_checkpoint="/weights/sam.pth")
    other_data = _spec(tmp_path, data={"dataset": "synthetic", "root": str(tmp_path), "categories": ["wood"]})
    assert clean.flat["prompt.leaks_defect_type"] is False and leaky.flat["prompt.leaks_defect_type"] is True
    assert clean.partition_hash == other_prompt.partition_hash  # class-only prompts compare
    assert len({clean.partition_hash, leaky.partition_hash, baseline.partition_hash,
                other_data.partition_hash}) == 4
    # Weight paths do not split groups: the same protocol with other weights ranks together.
    moved = _spec(tmp_path, mllm_path="/elsewhere/read")
    assert moved.group_hash == clean.group_hash
