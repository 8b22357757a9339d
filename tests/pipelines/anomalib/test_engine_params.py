"""The torch-engine fallback and DRAEM's offline anomaly source as config (no torch), the
texture folder they rely on, and ``adlab models --anomalib`` over the stored parity matrix."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from adlab.pipelines.anomalib.params import AnomalibParams
from adlab.pipelines.anomalib.parity_matrix import MATRIX_FILE, MODELS, load_matrix


def test_inference_engine_defaults_to_onnxruntime_and_takes_torch() -> None:
    assert AnomalibParams.model_validate({}).inference.engine == "onnxruntime"
    params = AnomalibParams.model_validate({"inference": {"engine": "torch"}})
    assert params.inference.engine == "torch"
    with pytest.raises(ValidationError, match="onnxruntime"):
        AnomalibParams.model_validate({"inference": {"engine": "openvino"}})


def test_faiss_memory_bank_needs_the_onnx_engine() -> None:
    with pytest.raises(ValidationError, match="inference.engine: torch skips the export"):
        AnomalibParams.model_validate({"export": {"memory_bank": "faiss"},
                                       "inference": {"engine": "torch"}})


def test_draem_anomaly_source_is_one_of_a_folder_or_synthetic(tmp_path: Path) -> None:
    params = AnomalibParams.model_validate({"model": "draem",
                                            "model_params": {"anomaly_source": "synthetic"}})
    assert params.model_params["anomaly_source"] == "synthetic" and params.model_params["dtd_dir"] is None
    with pytest.raises(ValidationError, match="dtd_dir must not be set"):
        AnomalibParams.model_validate({"model": "draem", "model_params": {
            "anomaly_source": "synthetic", "dtd_dir": str(tmp_path)}})
    with pytest.raises(ValidationError, match="anomaly_source"):
        AnomalibParams.model_validate({"model": "draem", "model_params": {"anomaly_source": "dtd"}})


def test_texture_folder_is_written_once_in_dtd_layout(tmp_path: Path) -> None:
    from adlab.data.synth.texture_folder import TEXTURE_MATERIALS, texture_folder

    folder = texture_folder(per_material=2, size=32, seed=3, cache_dir=tmp_path)
    files = sorted(folder.rglob("*.png"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(TEXTURE_MATERIALS)
    assert len(files) == 2 * len(TEXTURE_MATERIALS)
    first = np.asarray(Image.open(files[0]))
    assert first.shape == (32, 32, 3) and first.std() > 1.0  # a texture, not a flat image
    stamp = files[0].stat().st_mtime_ns
    assert texture_folder(per_material=2, size=32, seed=3, cache_dir=tmp_path) == folder
    assert files[0].stat().st_mtime_ns == stamp  # reused, not rewritten
    assert [p.name for p in (tmp_path / "textures").iterdir()] == [folder.name]  # no staging left
    other = texture_folder(per_material=2, size=32, seed=4, cache_dir=tmp_path)
    assert not np.array_equal(np.asarray(Image.open(sorted(other.rglob("*.png"))[0])), first)


def test_models_anomalib_lists_every_model_with_the_stored_matrix(cli) -> None:
    proc = cli("models", "--anomalib", "--json", check=True)
    data = json.loads(proc.stdout)
    assert [m["name"] for m in data["models"]] == list(MODELS)
    assert data["matrix_file"] == str(MATRIX_FILE)
    assert data["parity_matrix"] == (load_matrix() or {"tables": {}})["tables"]
    for table in data["parity_matrix"].values():
        assert {r["model"] for r in table["rows"]} <= set(MODELS)
    text = cli("models", "--anomalib", check=True).stdout
    assert "patchcore" in text and "winclip" in text
