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
    for table in data["parity_matrix"].values():  # what each case measured, and rows measured apart
        for row in table["rows"]:
            assert not row.get("note") or f"Case {row['model']}: " in text
            assert not row.get("measured_at") or f"Note: {row['model']}: measured apart" in text


def test_a_partial_rerun_keeps_the_header_and_stamps_its_rows(tmp_path: Path) -> None:
    from adlab.pipelines.anomalib import parity_matrix as pm

    path = tmp_path / "matrix.json"
    versions = {"anomalib": "2.7.0", "torch": "2.14.1"}

    def table(device: str, when: str, *models: str, **extra: str) -> pm.MatrixTable:
        rows = [pm.MatrixRow(model=m, status="ok", export_ok=True, parity_score=1e-7, load=[1.0, 2.5])
                for m in models]
        return pm.MatrixTable(device=device, rows=rows, versions={**versions, **extra},
                              measured_at=when, wall_s=60.0)

    pm.save_table(table("cpu (A, 2 cores)", "day 1", "padim", "stfpm"), "cpu", path)
    pm.save_table(table("cpu (B, 2 cores)", "day 2", "winclip", open_clip_torch="3.3.0"), "cpu", path)
    stored = json.loads(path.read_text())["tables"]["cpu"]
    assert (stored["device"], stored["measured_at"], stored["versions"]) == ("cpu (A, 2 cores)", "day 1", versions)
    rows = {r["model"]: r for r in stored["rows"]}
    assert [r["model"] for r in stored["rows"]] == [m for m in MODELS if m in rows]  # factory order
    assert rows["padim"]["measured_at"] == "" and rows["padim"]["device"] == ""
    assert (rows["winclip"]["device"], rows["winclip"]["measured_at"],
            rows["winclip"]["versions"]) == ("cpu (B, 2 cores)", "day 2", {"open_clip_torch": "3.3.0"})
    assert pm.apart_notes(stored) == ["winclip: measured apart from this table's run, day 2, "
                                      "cpu (B, 2 cores), load 1.0-2.5, open_clip_torch 3.3.0"]
    assert pm.markdown_table(stored).endswith("\n\n" + pm.apart_notes(stored)[0] + ".")
    # A run over every stored model is the table's run again: its header, no stamps.
    pm.save_table(table("cpu (B, 2 cores)", "day 3", "padim", "stfpm", "winclip"), "cpu", path)
    stored = json.loads(path.read_text())["tables"]["cpu"]
    assert (stored["device"], stored["measured_at"]) == ("cpu (B, 2 cores)", "day 3")
    assert pm.apart_notes(stored) == [] and all(r["measured_at"] == "" for r in stored["rows"])
