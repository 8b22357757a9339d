"""Every model of the anomalib factory through the whole pipeline, tiny, random-init and offline:
fit -> ONNX export -> parity check -> onnxruntime scoring (the cases behind the parity matrix),
the recorded ``inference.engine: torch`` fallback, and DRAEM's validation loss on normal-only
validation with adlab's own textures as its anomaly source."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adlab.pipelines.anomalib import parity_matrix as pm

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pm.make_data(tmp_path_factory.mktemp("every_model"))


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("random_weights")


def _maps(ctx) -> tuple[np.ndarray, np.ndarray]:
    from adlab.pipelines.components.predictions import load_anomaly_maps

    maps, _, scores = load_anomaly_maps(ctx.output_dir / "woven" / "anomaly_maps.npz")
    return scores, maps


@pytest.mark.parametrize("model", pm.MODELS)
def test_model_trains_exports_and_scores_with_onnxruntime(model: str, tiny_data: Path,
                                                         weights_dir: Path, tmp_path: Path) -> None:
    if model == "winclip":
        pytest.importorskip("open_clip", reason="WinCLIP is built on open_clip_torch (adlab's "
                                                "anomalib extra installs it)")
    ctx = pm.run_tiny(pm.tiny_config(model, tiny_data, weights_dir), tmp_path / "run")
    parity = ctx.info["parity"]["woven"]
    assert parity["samples"] == 2
    assert max(parity["max_abs_score"], parity["max_abs_map"]) <= parity["tolerance"] == 1e-3
    assert ctx.info["inference_engine"] == {"engine": "onnxruntime", "export": "onnx"}
    assert ctx.info["onnx_providers"] == ["CPUExecutionProvider"]
    assert ctx.metric_value("export_s", "woven") > 0 and ctx.metric_value("infer_ms_per_image", "woven") > 0
    assert 0.0 <= ctx.metric_value("image_auroc", "woven") <= 1.0
    assert {"onnx", "bundle", "anomaly_maps", "predictions"} <= {a["kind"] for a in ctx.artifacts}
    scores, maps = _maps(ctx)
    size = pm.tiny_cases()[model].image_size
    assert scores.shape == (pm.N_TEST_GOOD + pm.N_TEST_DEFECT,) and np.isfinite(scores).all()
    assert maps.shape == (len(scores), size, size) and np.isfinite(maps).all()
    expected_source = "file" if pm.tiny_cases()[model].weights else "random-init"
    assert ctx.info["weights"]["source"] == expected_source


def test_torch_engine_skips_the_export_and_is_recorded(tiny_data: Path, weights_dir: Path,
                                                       tmp_path: Path) -> None:
    onnx = pm.run_tiny(pm.tiny_config("padim", tiny_data, weights_dir), tmp_path / "onnx")
    torch_run = pm.run_tiny(pm.tiny_config("padim", tiny_data, weights_dir, engine="torch"),
                            tmp_path / "torch")
    assert torch_run.info["inference_engine"]["engine"] == "torch"
    assert torch_run.info["inference_engine"]["export"] == "skipped"
    assert torch_run.info["parity"]["woven"]["export"] == "skipped"
    assert not any(a["kind"] in ("onnx", "onnx_data", "bundle") for a in torch_run.artifacts)
    assert not (tmp_path / "torch" / "woven" / "bundle").exists()
    with pytest.raises(KeyError):
        torch_run.metric_value("export_s", "woven")
    assert any("inference.engine is torch" in message for _, message in torch_run.logs)
    # Same seed, same data: the torch scores are the ONNX scores up to the parity error.
    (s_onnx, m_onnx), (s_torch, m_torch) = _maps(onnx), _maps(torch_run)
    assert np.abs(s_onnx - s_torch).max() <= 1e-3
    assert np.allclose(m_onnx, m_torch, rtol=2e-3, atol=1e-3)  # maps are stored as float16
    assert torch_run.metric_value("image_auroc", "woven") == pytest.approx(
        onnx.metric_value("image_auroc", "woven"))


def test_draem_stops_on_validation_loss_with_adlab_textures(tiny_data: Path, weights_dir: Path,
                                                             tmp_path: Path) -> None:
    """Seed 002's case: DRAEM logs no validation loss of its own; adlab computes its training
    objective on normal-only validation images (held out of train: the dataset has no
    validation split) and stops on it, with anomalies pasted from generated textures."""
    from adlab.data.synth.texture_folder import TEXTURE_MATERIALS, texture_folder

    config = pm.tiny_config("draem", tiny_data, weights_dir)
    config["train"] = {"max_epochs": 2, "batch_size": 4, "early_stopping": {"patience": 1}}
    config["data"] = {**config["data"], "val_fraction": 0.25}
    ctx = pm.run_tiny(config, tmp_path / "draem")
    val_losses = [v for k, v, scope, _ in ctx.metrics if k == "val_loss" and scope == "woven"]
    assert len(val_losses) == ctx.metric_value("epochs_run", "woven") >= 1
    assert all(np.isfinite(v) and v > 0 for v in val_losses)
    assert ctx.metric_value("best_val_loss", "woven") == pytest.approx(min(val_losses))
    assert any("2 validation image(s), early stopping on val_loss" in m for _, m in ctx.logs)
    assert ctx.metric_value("parity_map_max_abs", "woven") <= 1e-3
    textures = texture_folder(seed=0)
    assert sorted(p.name for p in textures.iterdir()) == sorted(TEXTURE_MATERIALS)
    assert len(list(textures.rglob("*.png"))) == 8 * len(TEXTURE_MATERIALS)
