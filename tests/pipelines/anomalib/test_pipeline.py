"""Real anomalib training (random-init resnet18, tiny synthetic data) through the whole pipeline:
fit -> ONNX -> parity -> onnxruntime scoring -> metrics, thresholds, predictions, heatmaps."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from adlab.errors import PipelineError
from adlab.metrics import METRIC_KEYS
from adlab.pipelines.anomalib.params import AnomalibParams
from adlab.pipelines.components.predictions import validate_record
from adlab.pipelines.local import LocalRunContext

pytestmark = pytest.mark.heavy


def _run(params: dict, out: Path, ctx: LocalRunContext | None = None) -> LocalRunContext:
    from adlab.pipelines import get_pipeline

    spec = get_pipeline("anomalib")
    ctx = ctx or LocalRunContext(params=AnomalibParams.model_validate(params), output_dir=out)
    spec.load_runner()(ctx)
    return ctx


def test_patchcore_joint_run_end_to_end(synth_root: Path, make_params, tmp_path: Path) -> None:
    from adlab.pipelines.components.predict import predict_images, predict_with_run

    ctx = _run(make_params(synth_root), tmp_path / "run")
    categories = ["washer", "woven"]
    for scope in [*categories, ""]:
        for key in (*METRIC_KEYS, "fit_s", "export_s", "infer_ms_per_image"):
            assert np.isfinite(ctx.metric_value(key, scope)), (key, scope)
    assert ctx.metric_value("image_auroc", "") == pytest.approx(
        np.mean([ctx.metric_value("image_auroc", c) for c in categories]))
    kinds = {a["kind"] for a in ctx.artifacts}
    assert {"onnx", "onnx_data", "bundle", "checkpoint", "anomaly_maps", "heatmap", "thresholds",
            "predictions"} <= kinds
    assert all(len(a["sha256"]) == 64 for a in ctx.artifacts)
    assert ctx.info["weights"]["source"] == "random-init"
    for category in categories:
        parity = ctx.info["parity"][category]
        assert parity["samples"] == 4 and max(parity["max_abs_score"], parity["max_abs_map"]) <= 1e-3

    records = json.loads((tmp_path / "run" / "predictions.json").read_text())
    assert len(records) == 2 * 10
    for record in records:
        validate_record(record)
        assert record["image_path"].startswith("synthetic/")
        assert record["metadata"]["dataset"] == "synthetic" and record["metadata"]["model_type"] == "patchcore"
    assert any(r["defect_location"]["has_defect"] for r in records)
    thresholds = yaml.safe_load((tmp_path / "run" / "thresholds.yaml").read_text())
    assert set(thresholds["categories"]) == {"synthetic/washer", "synthetic/woven"}
    assert isinstance(thresholds["global"], float)

    # Arbitrary image lists (the MMAD hand-off) reproduce the run's own records.
    woven = [r for r in records if r["metadata"]["class_name"] == "woven"][:3]
    paths = [synth_root.parent / r["image_path"] for r in woven]
    again = predict_images(tmp_path / "run" / "woven" / "bundle", paths, relative_to=synth_root.parent,
                           out_path=tmp_path / "mmad_ad.json")
    assert [r["image_path"] for r in again] == [r["image_path"] for r in woven]
    assert [r["anomaly_score"] for r in again] == pytest.approx([r["anomaly_score"] for r in woven], abs=1e-5)
    assert json.loads((tmp_path / "mmad_ad.json").read_text()) == again
    routed = predict_with_run(tmp_path / "run", [paths[0], synth_root / "washer" / "test" / "good" / "000.png"],
                              data_root=synth_root.parent)
    assert [r["metadata"]["class_name"] for r in routed] == ["woven", "washer"]

    # A re-claimed run (a new attempt: no results, the saved progress) resumes: finished
    # categories are not trained again, and their results are recorded again, once each.
    before = sum(a["kind"] == "checkpoint" for a in ctx.artifacts)
    again = LocalRunContext(params=ctx.params, output_dir=tmp_path / "run", state=ctx.state)
    _run({}, tmp_path / "run", ctx=again)
    assert sum(a["kind"] == "checkpoint" for a in again.artifacts) == before
    assert sum("already done" in m for _, m in again.logs) == 2
    for scope in categories:
        assert again.metric_value("fit_s", scope) == ctx.metric_value("fit_s", scope)


def test_padim_single_category_run(synth_root: Path, make_params, tmp_path: Path) -> None:
    params = make_params(synth_root, model="padim",
                         model_params={"backbone": "resnet18", "pre_trained": False})
    params["data"] = {**params["data"], "categories": "washer"}
    ctx = _run(params, tmp_path / "padim")
    assert 0.0 <= ctx.metric_value("image_auroc", "washer") <= 1.0
    assert ctx.info["parity"]["washer"]["max_abs_map"] <= 1e-3
    assert ctx.info["categories"] == ["washer"]
    heatmaps = [a for a in ctx.artifacts if a["kind"] == "heatmap"]
    assert len(heatmaps) == 2 and all(a["path"].read_bytes()[:4] == b"\x89PNG" for a in heatmaps)


def test_faiss_search_matches_the_in_graph_memory_bank(synth_root: Path, make_params, tmp_path: Path) -> None:
    from adlab.data import load_category
    from adlab.pipelines.components.export import export_bundle
    from adlab.pipelines.components.infer import load_scorer, score_paths
    from adlab.pipelines.anomalib.models import build_model
    from adlab.pipelines.anomalib.train import train_model

    params = AnomalibParams.model_validate(make_params(synth_root))
    ctx = LocalRunContext(params=params, output_dir=tmp_path)
    data = load_category("synthetic", synth_root, "woven")
    built = build_model(params)
    train_model(built, data.train, [], params=params, ctx=ctx, workdir=tmp_path / "w", label="woven")
    paths = [s.image_path for s in data.test]
    results = {}
    for mode in ("in_graph", "faiss"):
        bundle = export_bundle(built.module, tmp_path / mode, size_hw=(64, 64), batch_size=4,
                               memory_bank=mode, model_type="patchcore")
        results[mode] = score_paths(load_scorer(bundle.bundle_dir), paths)
    assert not (tmp_path / "faiss" / "model.onnx").exists()
    assert np.abs(results["faiss"].scores - results["in_graph"].scores).max() < 1e-4
    assert np.abs(results["faiss"].maps - results["in_graph"].maps).max() < 1e-4


def test_parity_beyond_tolerance_fails_the_run(synth_root: Path, make_params, tmp_path: Path) -> None:
    params = make_params(synth_root, export={"parity_tolerance": 1e-12, "parity_samples": 2})
    params["data"] = {**params["data"], "categories": "woven"}
    with pytest.raises(PipelineError, match="exceeds export.parity_tolerance 1e-12"):
        _run(params, tmp_path / "strict")


def test_fastflow_early_stopping_on_validation_loss(synth_root: Path, make_params, tmp_path: Path) -> None:
    params = make_params(synth_root, model="fastflow",
                         model_params={"backbone": "resnet18", "pre_trained": False, "flow_steps": 1},
                         train={"max_epochs": 2, "batch_size": 4, "learning_rate": 1e-3,
                                "early_stopping": {"patience": 1}})
    params["data"] = {**params["data"], "categories": "washer"}
    ctx = _run(params, tmp_path / "ff")
    val_losses = [m for m in ctx.metrics if m[0] == "val_loss" and m[2] == "washer"]
    assert len(val_losses) == int(ctx.metric_value("epochs_run", "washer")) >= 1
    assert ctx.metric_value("best_val_loss", "washer") == pytest.approx(min(v for _, v, _, _ in val_losses))
    assert ctx.metric_value("parity_map_max_abs", "washer") <= 1e-3
