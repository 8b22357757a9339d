"""READ end to end: queue -> worker (child process) -> tiny READ/CLIP/SAM loaded from their real
formats -> ONNX decoder in onnxruntime -> adlab metrics -> database. (The baseline mode runs the
same code path after loading; it is run in-process in test_read_pipeline.py.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from adlab.config.loader import build_run_specs
from adlab.db.queries import list_runs, run_artifacts, run_detail
from adlab.queue import enqueue
from adlab.worker.context import file_digest, resolve_artifact_path


@pytest.mark.heavy
@pytest.mark.representative
def test_read_and_leaky_read_through_queue_and_worker(tiny_weights, engine):
    tw = tiny_weights
    study = {
        "pipeline": "read", "study": "read-e2e",
        "data": {"dataset": "synthetic", "root": str(tw.data), "categories": ["woven"]},
        "sam_type": str(tw.sam_config), "clip_path": str(tw.clip), "eval_size": 48, "visuals": 1,
        "conditions": [
            {"name": "read", "config": {"mllm_path": str(tw.read)}},
            {"name": "read_leaky", "config": {"mllm_path": str(tw.read), "prompt": {
                "template": "Segment the {defect_type} on the {class_name}.", "allow_defect_name": True}}},
        ],
    }
    specs = build_run_specs(study)
    assert len(enqueue(engine, specs).created) == 2
    worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty"],
                            capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert worker.returncode == 0, worker.stderr
    runs = {r.name: r for r in list_runs(engine)}
    assert set(runs) == {"read", "read_leaky"}, runs
    for name, run in runs.items():
        assert run.status == "succeeded", (name, run.error)
        detail = run_detail(engine, run_id=run.id)
        metrics = {(m["key"], m["scope"]): m["value"] for m in detail["metrics"]}
        for key in ("image_auroc", "pixel_auroc", "aupro", "image_f1_max", "pixel_f1_max"):
            assert 0.0 <= metrics[(key, "woven")] <= 1.0 and (key, "") in metrics
        assert metrics[("decoder_parity_max_abs", "woven")] < 1e-4
        assert detail["headline_metric"] == "image_auroc"
        arts = {a["kind"]: a for a in run_artifacts(engine, run_id=run.id)}
        assert {"onnx", "mask_logits", "metadata", "visual"} <= set(arts)
        onnx = resolve_artifact_path(arts["onnx"]["path"])
        assert (arts["onnx"]["sha256"], arts["onnx"]["bytes"]) == file_digest(onnx)
        records = [json.loads(line) for line in
                   resolve_artifact_path(arts["metadata"]["path"]).read_text().splitlines()]
        assert len(records) == 5
        leaky = name == "read_leaky"
        assert detail["info"]["prompt_leaks_defect_type"] is leaky
        assert detail["info"]["weights"]["architecture"] == "READForCausalLM"
        for r in records:  # the leaky template names the test folder (``good`` included)
            assert (r["defect_type"].replace("_", " ") in r["prompt"]) is leaky
    assert runs["read"].partition_hash != runs["read_leaky"].partition_hash
    assert specs[0].flat["prompt.leaks_defect_type"] is False and specs[1].flat["prompt.leaks_defect_type"] is True
