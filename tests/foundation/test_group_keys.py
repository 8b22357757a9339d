"""Group keys are checked against the runs a study makes: a key that reads no parameter is
refused (it would put every run in one group by None), while a prefix of dotted parameters
(``model_params`` for ``model_params.*``) is a real grouping."""
from __future__ import annotations

import pytest

from adlab.config.loader import build_run_specs
from adlab.core.grouping import names_param
from adlab.errors import ConfigError


def test_a_key_reads_a_parameter_exactly_or_as_the_prefix_of_some():
    flat = ["model", "model_params.backbone", "data.categories"]
    assert names_param("model", flat)
    assert names_param("model_params", flat)  # the sub-tree of every model_params.* value
    assert names_param("model_params.backbone", flat)
    assert not names_param("model_param", flat)  # a prefix of a name, not of a dotted key
    assert not names_param("model_params.layers", flat)


def test_an_unknown_key_is_refused_naming_the_closest_parameters_first():
    with pytest.raises(ConfigError) as info:
        build_run_specs({"pipeline": "diag", "grid": {"value": [1, 2]}},
                        source="s.yaml", group_keys_override=["vlaue"])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("config s.yaml: group key 'vlaue' (--group-keys) is not a "
                              "parameter of pipeline 'diag'; its parameters (closest first): "
                              "value, "), message


def test_parameters_of_each_condition_and_prefixes_are_accepted():
    raw = {"pipeline": "diag", "group_keys": ["label", "value"],
           "conditions": [{"name": "a", "config": {"value": 1}},
                          {"name": "b", "config": {"value": 2, "label": "x"}}]}
    specs = build_run_specs(raw, source="s.yaml")
    assert [s.group_keys for s in specs] == [["label", "value"], ["label", "value"]]
    assert specs[0].group_hash != specs[1].group_hash

    anomalib = build_run_specs({"pipeline": "anomalib", "model": "padim",
                                "group_keys": ["model", "model_params", "train"],
                                "data": {"categories": ["bottle"]}}, source="a.yaml")
    assert anomalib[0].group_keys == ["model", "model_params", "train"]


def test_a_condition_key_is_checked_against_that_condition_runs():
    raw = {"pipeline": "diag", "conditions": [{"name": "a"},
                                              {"name": "b", "group_keys": ["lr"]}]}
    with pytest.raises(ConfigError, match=r"condition 'b': group key 'lr' \(`group_keys:` of "
                                          r"the condition\)"):
        build_run_specs(raw, source="s.yaml")
