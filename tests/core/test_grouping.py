"""One seed-like rule, used by the default group and by every comparison view."""
from __future__ import annotations

import pytest

from adlab.core.grouping import group_hash, group_pins_key, is_seed_like, partition_hash


@pytest.mark.parametrize("key", ["seed", "train.seed", "model.init_seed", "data.split_seed",
                                 "name", "run.name", "description"])
def test_seed_like_keys(key):
    assert is_seed_like(key)


@pytest.mark.parametrize("key", ["sample_seed", "eval.sample_seed", "seeds", "seeded",
                                 "lr", "model.name_prefix", "names"])
def test_not_seed_like_keys(key):
    assert not is_seed_like(key)


def test_non_group_keys_are_seed_like_for_that_pipeline():
    assert is_seed_like("data.root", ["data.root"]) and is_seed_like("inference.batch", ["inference"])
    assert not is_seed_like("data.rooted", ["data.root"]) and not is_seed_like("data.root")


def _flat(**over):
    return {"dataset": "visa", "lr": 2e-4, "seed": 0, "model.init_seed": 1, "eval.sample_seed": 7,
            "out": "/tmp/a", **over}


def _group(flat):
    return group_hash("p", flat, group_keys=None, partition_keys=["dataset"], non_group_keys=["out"])


def test_default_group_leaves_out_exactly_the_seed_like_keys():
    base = _group(_flat())
    assert _group(_flat(seed=3, **{"model.init_seed": 9}, out="/tmp/b")) == base
    assert _group(_flat(**{"eval.sample_seed": 8})) != base  # another evaluation sample
    assert _group(_flat(lr=3e-4)) != base
    assert _group(_flat(lr=0.0002)) == base
    assert _group(_flat(dataset="mpdd")) != base
    assert partition_hash("p", _flat(lr=1.0), ["dataset"]) == partition_hash("p", _flat(), ["dataset"])


def test_pins_follow_the_same_rule():
    kw = dict(group_keys=None, partition_keys=["dataset"], non_group_keys=["out"])
    assert group_pins_key("lr", **kw) and group_pins_key("dataset", **kw)
    assert not group_pins_key("model.init_seed", **kw) and not group_pins_key("out", **kw)
    assert group_pins_key("eval.sample_seed", **kw)


def test_compare_and_report_use_the_core_rule():
    """No second seed-like rule remains in the analysis layer."""
    import adlab.analysis.compare as compare
    import adlab.analysis.report.sections as sections

    assert not hasattr(compare, "_is_seed_like") and not hasattr(compare, "SEED_LIKE")
    assert sections.is_seed_like is is_seed_like and compare.is_seed_like is is_seed_like
