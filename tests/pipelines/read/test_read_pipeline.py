"""The ``read`` pipeline run in-process (LocalRunContext) on tiny weights and synthetic data:
logits at the original size, metadata, visuals, metrics per category and mean, resume."""
from __future__ import annotations

import json

import numpy as np
import pytest

from adlab.metrics import METRIC_KEYS
from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.read.outputs import load_logits
from adlab.pipelines.read.params import ReadParams
from adlab.pipelines.read.run import image_score, run


def _params(tiny, mode: str, **extra) -> ReadParams:
    config = {"mode": mode, "sam_type": str(tiny.sam_config), "clip_path": str(tiny.clip), "eval_size": 48,
              "data": {"dataset": "synthetic", "root": str(tiny.data), "categories": ["woven"]}, "visuals": 2}
    if mode == "read":
        config["mllm_path"] = str(tiny.read)
    else:
        config["sam_checkpoint"] = str(tiny.sam_weights)
    config.update(extra)
    return ReadParams.model_validate(config)


def test_image_score_reductions():
    logits = np.array([[-10.0, 0.0], [2.0, 10.0]])
    assert image_score(logits, "max", 0.01) == pytest.approx(1 / (1 + np.exp(-10)))
    assert image_score(logits, "mean", 0.01) == pytest.approx(np.mean(1 / (1 + np.exp(-logits))))
    assert image_score(logits, "topk_mean", 0.5) == pytest.approx(np.mean(1 / (1 + np.exp(-np.array([2.0, 10.0])))))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["read", "baseline"])
def test_pipeline_outputs_and_metrics(tiny_weights, tmp_path, mode):
    params = _params(tiny_weights, mode)
    ctx = LocalRunContext(params=params, output_dir=tmp_path / "out")
    run(ctx)
    for key in METRIC_KEYS:
        assert (key, "woven") in {(k, s) for k, _, s, _ in ctx.metrics} and (key, "") in {(k, s) for k, _, s, _ in ctx.metrics}
    assert 0.0 <= ctx.metric_value("image_auroc") <= 1.0
    assert ctx.metric_value("decoder_parity_max_abs", "woven") < 1e-4
    kinds = [a["kind"] for a in ctx.artifacts]
    assert kinds.count("onnx") == 1 and kinds.count("mask_logits") == 1 and kinds.count("visual") == 2
    assert kinds.count("curves") == 1  # ROC/PR for the report
    logits, names = load_logits(tmp_path / "out" / "woven" / "logits.npz")
    records = [json.loads(line) for line in (tmp_path / "out" / "woven" / "metadata.jsonl").read_text().splitlines()]
    assert len(logits) == len(names) == len(records) == 5
    for array, record in zip(logits, records):
        assert array.shape == (record["height"], record["width"]) == (48, 48)  # original image size
        assert record["score"] == pytest.approx(image_score(array, "max", 0.01), abs=1e-3)
        assert "woven" in record["prompt"] and record["defect_type"] not in record["prompt"].split()
        assert len(record["points"]) == len(record["point_labels"]) > 0
    assert ctx.info["prompt_leaks_defect_type"] is False
    if mode == "read":
        assert 0.0 <= ctx.metric_value("seg_found_fraction") <= 1.0
        assert all(r["answer"] for r in records) and ctx.info["weights"]["sam_weights"] == "mllm checkpoint"
    else:
        assert all(r["answer"] is None for r in records)


@pytest.mark.slow
def test_leaky_prompt_lisa_style_torch_decoder_and_resume(tiny_weights, tmp_path):
    params = _params(tiny_weights, "read", mllm_path=str(tiny_weights.lisa),
                     sam_checkpoint=str(tiny_weights.sam_weights), points={"enabled": False},
                     prompt={"template": "Segment the {defect_type} on the {class_name}.",
                             "allow_defect_name": True, "answer": "fixed"},
                     decoder={"backend": "torch"},
                     data={"dataset": "synthetic", "root": str(tiny_weights.data), "categories": "all"})
    ctx = LocalRunContext(params=params, output_dir=tmp_path / "out")
    run(ctx)
    assert ctx.info["prompt_leaks_defect_type"] is True
    assert any("names the ground-truth defect type" in m for _, m in ctx.logs)
    assert ctx.metric_value("categories") == 2.0
    assert "onnx" not in {a["kind"] for a in ctx.artifacts}
    records = [json.loads(line) for line in (tmp_path / "out" / "washer" / "metadata.jsonl").read_text().splitlines()]
    assert all(r["defect_type"].replace("_", " ") in r["prompt"] for r in records)
    assert all(r["points"] == [] for r in records)  # LISA: the [SEG] embedding alone
    # A re-claimed run reads finished categories back from the partial-result store.
    again = LocalRunContext(params=params, output_dir=tmp_path / "out", state=ctx.state)
    run(again)
    assert sum("already done" in m for _, m in again.logs) == 2
    assert again.metric_value("image_auroc") == pytest.approx(ctx.metric_value("image_auroc"))
