"""Real models: tiny random-weight Qwen2.5-VL and LLaVA checkpoints loaded from a folder by
transformers, and the AD coupling with a tiny PatchCore fitted per category (anomalib Engine,
ONNX export, onnxruntime scoring) feeding an MMAD run through the queue."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from adlab.db.queries import get_run, list_runs, run_artifacts, run_metrics
from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.run import run as run_mmad
from mmad_loopback import LoopbackServer, Script
from mmad_tiny_vlms import build_tiny_llava, build_tiny_qwen

pytestmark = pytest.mark.heavy

TINY_PATCHCORE = {"image_size": 64, "max_templates": 3, "holdout": 1,
                  "model_params": {"backbone": "resnet18", "layers": ["layer2", "layer3"],
                                   "pre_trained": False, "coreset_sampling_ratio": 0.5}}


@pytest.mark.parametrize("build,batch_mode", [(build_tiny_qwen, True), (build_tiny_llava, False)])
def test_tiny_local_vlm_answers_every_question(mmad_tree, tmp_path, build, batch_mode):
    root, truth = mmad_tree
    model_dir = build(tmp_path / "model")
    params = MmadParams.model_validate({
        "llm": str(model_dir), "data_root": str(root), "protocol": "adlab",  # batch mode
        "eval": {"few_shot": 1, "max_tokens": 6, "batch_mode": batch_mode, "max_images": 6},
        "local": {"batch_size": 3}})
    ctx = LocalRunContext(params=params, output_dir=tmp_path / "out")
    run_mmad(ctx)
    stored = ctx.state.items("answer:")
    asked = ctx.metric_value("questions")
    assert len(stored) == asked and ctx.metric_value("errors") == 0
    assert all(r["raw"] is not None and r["tokens_in"] > 0 for r in stored.values())
    assert sum(r["tokens_out"] for r in stored.values()) > 0
    # random weights: whatever the letters, the score matches MMAD scoring of the export
    from adlab.metrics.mmad import score_answers

    [answers] = [f for f in (tmp_path / "out").glob("answers_*.json") if not f.name.endswith(".meta.json")]
    exported = json.loads(answers.read_text())
    assert ctx.metric_value("accuracy") == pytest.approx(score_answers(exported)["Average"]["Average"])
    assert "hf" in ctx.logs[2][1] and "batches of 3" in ctx.logs[2][1]


def test_ad_model_runs_first_on_the_sample_and_feeds_the_prompts(cli, engine, mmad_tree, tmp_path):
    root, truth = mmad_tree
    seen: list[str] = []
    with LoopbackServer(Script(answers=truth)) as server:
        original = server._openai_text

        def spy(body):
            text, n = original(body)
            seen.append(text)
            return text, n

        server._openai_text = spy
        config = {"pipeline": "mmad", "ad_model": "patchcore", "llm": "gpt-4o",
                  "data_root": str(root),
                  "api": {"base_url": server.url + "/v1", "backoff_s": 0.05},
                  "eval": {"few_shot": 1, "sample_per_folder": 2, "sample_seed": 3},
                  "ad": {"fit": TINY_PATCHCORE}}
        path = tmp_path / "experiment.yaml"
        path.write_text(yaml.safe_dump(config))
        created = json.loads(cli("queue", str(path), "--json", check=True).stdout)["created"]
        assert len(created) == 2
        worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty",
                                 "--poll", "0.2"], env={**os.environ, "OPENAI_API_KEY": "k"},
                                capture_output=True, text=True, timeout=300)
        assert worker.returncode == 0, worker.stderr[-2000:]
        runs = {r.pipeline: get_run(engine, run_id=r.id) for r in list_runs(engine)}
        ad_run, mmad_run = runs["mmad_ad"], runs["mmad"]
        assert ad_run.status == "succeeded" and mmad_run.status == "succeeded", mmad_run.error
        assert get_run(engine, run_id=mmad_run.id).depends_on == ad_run.id
        preds = next(Path(a["path"]) for a in run_artifacts(engine, run_id=ad_run.id)
                     if a["kind"] == "predictions")
        preds = preds if preds.is_absolute() else Path(os.environ["ADLAB_ARTIFACTS"]) / preds
        records = json.loads(preds.read_text())
        sampled = json.loads((Path(mmad_run.output_dir) / "sampled_mmad.json").read_text())
        assert [r["image_path"] for r in records] == list(sampled)  # exactly the sampled images
        assert all(r["metadata"]["model_type"] == "patchcore" for r in records)
        assert len(seen) == sum(len(v["conversation"]) for v in sampled.values())
        assert all("anomaly detection model (patchcore)" in t for t in seen)
        ad_metrics = {(m["key"], m["scope"]) for m in run_metrics(engine, run_id=ad_run.id)}
        assert ("image_auroc", "") in ad_metrics and ("verdict_accuracy", "DS-A") in ad_metrics
        assert mmad_run.name == "patchcore_gpt-4o_1shot"

        # an earlier AD run id skips AD inference; its predictions feed the new run
        path.write_text(yaml.safe_dump({**config, "eval": {**config["eval"], "few_shot": 0},
                                        "ad": {"output": ad_run.id}}))
        [again] = json.loads(cli("queue", str(path), "--json", check=True).stdout)["created"]
        worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty",
                                 "--poll", "0.2"], env={**os.environ, "OPENAI_API_KEY": "k"},
                                capture_output=True, text=True, timeout=120)
        assert worker.returncode == 0, worker.stderr[-2000:]
        rerun = get_run(engine, run_id=again)
        assert rerun.status == "succeeded" and rerun.depends_on == ad_run.id
        assert len(list_runs(engine, pipeline="mmad_ad")) == 1

    # the fitted bundles serve as ad.checkpoints for a new AD run (no fit: onnxruntime only)
    from adlab.pipelines.mmad.ad_params import MmadAdParams
    from adlab.pipelines.mmad.ad_predict import run as run_ad

    params = MmadAdParams.model_validate({"ad_model": "patchcore", "data_root": str(root),
                                          "checkpoints": [str(Path(ad_run.output_dir) / "models")]})
    ctx = LocalRunContext(params=params, output_dir=tmp_path / "from_checkpoints")
    run_ad(ctx)
    assert all("(checkpoint)" in m for _, m in ctx.logs if "scored" in m)
    again_records = json.loads((tmp_path / "from_checkpoints" / "predictions.json").read_text())
    by_image = {r["image_path"]: r["anomaly_score"] for r in again_records}
    for r in records:
        assert by_image[r["image_path"]] == pytest.approx(r["anomaly_score"], abs=1e-5)
