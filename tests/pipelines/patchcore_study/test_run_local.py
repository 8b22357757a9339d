"""The run function with the in-memory context: every bank variant, resume, errors, plots."""
from __future__ import annotations

import numpy as np
import pytest

from adlab.errors import PipelineError
from adlab.metrics import METRIC_KEYS
from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.patchcore_study.params import PatchCoreStudyParams
from adlab.pipelines.patchcore_study.run import run


def _ctx(tmp_path, config, **kw) -> LocalRunContext:
    return LocalRunContext(params=PatchCoreStudyParams.model_validate(config), output_dir=tmp_path / "out", **kw)


@pytest.mark.parametrize("bank", [{"method": "knn"}, {"method": "coreset", "coreset_ratio": 0.1},
                                  {"method": "pca", "pca_dim": 16}, {"method": "kmeans", "kmeans_k": 32}])
def test_each_bank_variant_scores_and_records_size(tmp_path, make_config, bank):
    ctx = _ctx(tmp_path, make_config(memory_bank=bank, data={"categories": ["woven"]}))
    run(ctx)
    patches = ctx.metric_value("train_patches", "woven")
    assert patches == 6 * 8 * 8  # 6 images, resnet18 layer2 grid at 64 px
    expected = {"knn": patches, "coreset": np.ceil(0.1 * patches), "pca": patches, "kmeans": 32}
    assert ctx.metric_value("bank_size", "woven") == expected[bank["method"]]
    assert ctx.metric_value("bank_dim", "woven") == (16 if bank["method"] == "pca" else 384)
    assert ctx.metric_value("feature_dim") == 384
    for key in METRIC_KEYS:
        assert 0.0 <= ctx.metric_value(key, "woven") <= 1.0
        assert ctx.metric_value(key) == ctx.metric_value(key, "woven")
    assert ctx.metric_value("bank_build_s") >= 0 and ctx.metric_value("infer_ms_per_image") > 0
    assert ctx.info["search_backend"] == "faiss-cpu"
    kinds = [a["kind"] for a in ctx.artifacts]
    for kind in ("plot_roc", "plot_pr", "plot_bars", "curves", "heatmap", "anomaly_maps"):
        assert kind in kinds


def test_resume_skips_finished_categories_and_plots_are_deterministic(tmp_path, make_config):
    first = _ctx(tmp_path, make_config())
    run(first)
    again = _ctx(tmp_path, make_config(), state=first.state)
    run(again)
    assert sum("already done" in m for _, m in again.logs) == 2
    # no bank rebuilt: the new attempt re-records the first one's bank stats (replayed, not
    # re-timed) and every per-category result exactly once
    scopes = {s for k, _, s, _ in first.metrics if k == "bank_build_s" and s}
    assert scopes and all(again.metric_value("bank_build_s", s) == first.metric_value("bank_build_s", s)
                          for s in scopes)
    assert sorted(m[:3] for m in again.metrics if m[2]) == sorted(m[:3] for m in first.metrics if m[2])
    for key in ("image_auroc", "pixel_auroc", "feature_dim", "bank_size"):
        assert again.metric_value(key) == first.metric_value(key)
    roc = [a for a in first.artifacts if a["kind"] == "plot_roc"][0]
    roc_again = [a for a in again.artifacts if a["kind"] == "plot_roc"][0]
    assert roc["sha256"] == roc_again["sha256"]


def test_cross_domain_row_run_directly(tmp_path, make_config):
    ctx = _ctx(tmp_path, make_config(mode="cross_domain", cross_domain={"train": "wood"},
                                     fusion={"strategy": "adaptive"}))
    run(ctx)
    own = ctx.metric_value("image_auroc", "train=wood/test=wood")
    other = ctx.metric_value("image_auroc", "train=wood/test=woven")
    assert ctx.metric_value("in_domain_image_auroc") == own
    assert ctx.metric_value("cross_domain_image_auroc") == other
    assert ctx.metric_value("domain_gap_image_auroc") == pytest.approx(own - other)
    assert ctx.metric_value("feature_dim") == 128  # adaptive: common dim = smallest layer
    assert ctx.metric_value("mmd", "train=wood/test=woven") > ctx.metric_value("mmd", "train=wood/test=wood")
    with pytest.raises(PipelineError, match="cross_domain.train is not set"):
        run(_ctx(tmp_path, make_config(mode="cross_domain")))
