"""The real thing: anomalib training via queue -> worker (child process) -> ONNX ->
onnxruntime -> adlab metrics -> database, for PatchCore and PaDiM."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from adlab.data.synth import generate_synthetic
from adlab.db.queries import list_runs, run_artifacts, run_detail
from adlab.metrics import METRIC_KEYS
from adlab.worker.context import file_digest, resolve_artifact_path

STUDY = """
pipeline: anomalib
study: e2e
group_keys: [model]
data: {{dataset: synthetic, root: {root}, categories: all, split_runs: per_category}}
image_size: 64
train: {{max_epochs: 1, batch_size: 4}}
inference: {{batch_size: 4}}
visuals: {{count: 1}}
conditions:
  - name: patchcore
    config:
      model: patchcore
      model_params: {{backbone: resnet18, layers: [layer2, layer3], pre_trained: false, coreset_sampling_ratio: 0.5}}
  - name: padim
    config:
      model: padim
      model_params: {{backbone: resnet18, layers: [layer1, layer2], pre_trained: false}}
"""


@pytest.mark.heavy
@pytest.mark.representative
def test_patchcore_and_padim_through_queue_and_worker(tmp_path, engine, cli):
    root = tmp_path / "synthetic"
    generate_synthetic(root, categories=["woven"], seed=1, image_size=64, n_train=10,
                       n_test_good=4, n_test_defect=6)
    cfg = tmp_path / "study.yaml"
    cfg.write_text(STUDY.format(root=root))
    queued = cli("queue", str(cfg), "--json", check=True)
    created = json.loads(queued.stdout)["created"]
    assert len(created) == 2
    worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty"],
                            capture_output=True, text=True, timeout=900, env=os.environ.copy())
    assert worker.returncode == 0, worker.stderr
    runs = {r.name: r for r in list_runs(engine)}
    assert set(runs) == {"patchcore", "padim"}, runs
    for name, run in runs.items():
        assert run.status == "succeeded", (name, run.error)
        detail = run_detail(engine, run_id=run.id)
        metrics = {(m["key"], m["scope"]): m["value"] for m in detail["metrics"]}
        for key in ("image_auroc", "pixel_auroc", "aupro", "pixel_ap"):
            assert 0.0 <= metrics[(key, "woven")] <= 1.0 and (key, "") in metrics
        assert metrics[("parity_score_max_abs", "woven")] <= 1e-3
        assert detail["headline_metric"] == "image_auroc"
        assert detail["versions"]["anomalib"] == "2.7.0" and detail["device"] == "cpu"
        arts = {a["kind"]: a for a in run_artifacts(engine, run_id=run.id)}
        assert {"onnx", "predictions", "thresholds", "heatmap", "anomaly_maps"} <= set(arts)
        onnx = resolve_artifact_path(arts["onnx"]["path"])
        assert (arts["onnx"]["sha256"], arts["onnx"]["bytes"]) == file_digest(onnx)
        records = json.loads(resolve_artifact_path(arts["predictions"]["path"]).read_text())
        assert len(records) == 10
        rec = records[0]
        assert set(rec) >= {"image_path", "anomaly_score", "is_anomaly", "threshold_used",
                            "defect_location", "metadata"}
        assert set(rec["defect_location"]) >= {"has_defect", "region", "bbox", "center", "area_ratio"}
        assert rec["metadata"]["model_type"] == name and rec["metadata"]["class_name"] == "woven"
    assert runs["patchcore"].group_hash != runs["padim"].group_hash
    assert runs["patchcore"].partition_hash == runs["padim"].partition_hash
    assert set(METRIC_KEYS) >= {"image_auroc", "pixel_auroc", "aupro"}
