"""Params validation, sweep expansion into chained children, naming and grouping (no torch)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from adlab.config.loader import build_run_specs
from adlab.errors import ConfigError
from adlab.pipelines.patchcore_study.params import PatchCoreStudyParams
from adlab.pipelines.patchcore_study.sweep import position, predecessor


@pytest.mark.parametrize("config,message", [
    ({"fusion": {"strategy": "weighted"}}, "needs fusion.weights"),
    ({"fusion": {"strategy": "concat", "weights": [1, 2]}}, "applies to strategy weighted only"),
    ({"fusion": {"strategy": "concat", "layer": "layer2"}}, "single only"),
    ({"fusion": {"neighbourhood": 2}}, "must be odd"),
    ({"cross_domain": {"train": "woven"}}, "apply to mode cross_domain only"),
    ({"sweep": {"mode": ["standard"]}}, "cannot be swept"),
    ({"sweep": {"backbone.name": []}}, "non-empty list"),
    ({"memory_bank": {"method": "faiss"}}, "method"),
])
def test_bad_params_are_rejected(config, message):
    with pytest.raises(ValidationError, match=message):
        PatchCoreStudyParams.model_validate(config)


def test_sweep_expands_into_a_chain_with_one_row_per_train_domain(make_config):
    raw = {"pipeline": "patchcore_study", "mode": "cross_domain",
           **make_config(sweep={"backbone.name": ["resnet18", "vit_tiny_patch16_224"]})}
    specs = build_run_specs(raw)
    got = [(s.params.backbone.name, s.params.cross_domain.train) for s in specs]
    assert got == [("resnet18", "woven"), ("resnet18", "wood"),
                   ("vit_tiny_patch16_224", "woven"), ("vit_tiny_patch16_224", "wood")]
    assert [position(s.params) for s in specs] == [(i, 4) for i in range(4)]
    assert specs[0].needs == []
    for before, after in zip(specs, specs[1:]):  # each child waits for the previous one
        assert [n.config_hash for n in after.needs] == [before.config_hash]
    assert predecessor(specs[2].params) == specs[1].params
    assert len({s.name for s in specs}) == 4
    # Same train domain, different backbone: same partition and (with group keys) same group.
    assert specs[0].partition_hash == specs[2].partition_hash != specs[1].partition_hash
    grouped = build_run_specs({**raw, "group_keys": ["fusion.strategy"]})
    assert grouped[0].group_hash == grouped[2].group_hash


def test_sweep_values_are_normalised_and_bad_keys_named(make_config):
    raw = {"pipeline": "patchcore_study",
           **make_config(sweep={"fusion": [{"strategy": "single"}, {"strategy": "adaptive"}]})}
    specs = build_run_specs(raw)
    assert [s.params.fusion.strategy for s in specs] == ["single", "adaptive"]
    assert specs[1].params.sweep["fusion"][0]["neighbourhood"] == 3  # defaults stored
    with pytest.raises(ConfigError, match="sweep"):
        build_run_specs({"pipeline": "patchcore_study", **make_config(sweep={"fusion.nope": [1]})})


def test_standard_config_without_sweep_is_one_run(make_config):
    [spec] = build_run_specs({"pipeline": "patchcore_study", **make_config()})
    assert spec.name == "resnet18_concat_coreset" and spec.needs == []
    assert spec.flat["data.category_set"] == ["wood", "woven"]
