"""Real anomalib training on a CUDA device (skipped without one): the training batches go through
the GPU, the CPU-side ONNX export reproduces the GPU-trained model scored on the GPU, and a
worker started with ``--device cuda:0`` runs a queued study there."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adlab.metrics.gpu import cuda_usable
from adlab.pipelines.anomalib.params import AnomalibParams
from adlab.pipelines.local import LocalRunContext

pytestmark = [pytest.mark.gpu, pytest.mark.heavy,
              pytest.mark.skipif(not cuda_usable(), reason="no CUDA device")]

PADIM = {"model": "padim", "model_params": {"backbone": "resnet18", "pre_trained": False}}


@pytest.mark.parametrize("overrides", [{}, PADIM], ids=["patchcore", "padim"])
def test_fit_on_cuda_then_cpu_export_matches_the_gpu_model(synth_root: Path, make_params,
                                                            tmp_path: Path, overrides: dict) -> None:
    import torch

    from adlab.data import load_category
    from adlab.pipelines.components.export import ScoreMapGraph, export_bundle
    from adlab.pipelines.components.infer import decode, load_scorer
    from adlab.pipelines.anomalib.models import build_model
    from adlab.pipelines.anomalib.train import train_model

    params = AnomalibParams.model_validate(make_params(synth_root, **overrides))
    ctx = LocalRunContext(params=params, output_dir=tmp_path, device="cuda:0")
    data = load_category("synthetic", synth_root, "woven")
    built = build_model(params)
    seen: set[str] = set()
    hook = built.module.model.feature_extractor.register_forward_hook(
        lambda module, inputs, output: seen.add(inputs[0].device.type))
    result = train_model(built, data.train, [], params=params, ctx=ctx, workdir=tmp_path / "w",
                         label="woven")
    hook.remove()
    assert seen == {"cuda"} and result.fit_s > 0  # every training batch went through the GPU
    # Lightning moves the module back to the CPU when fit ends; score with it on the GPU again.
    images = decode([s.image_path for s in data.test[:4]], params.size_hw)
    with torch.no_grad():
        gpu_score, gpu_map = ScoreMapGraph(built.module.eval().cuda())(torch.from_numpy(images).cuda())
    bundle = export_bundle(built.module, tmp_path / "bundle", size_hw=params.size_hw, batch_size=4,
                           memory_bank="in_graph", model_type=params.model)
    onnx_score, onnx_map = load_scorer(bundle.bundle_dir, device="cuda:0").score(images)
    scale = max(1.0, float(np.abs(onnx_map).max()))
    # cuDNN may use TF32 convolutions on the GPU, so allow a relative difference of 1e-2.
    assert np.abs(gpu_score.cpu().numpy() - onnx_score).max() <= 1e-2 * scale
    assert np.abs(gpu_map.cpu().numpy() - onnx_map).max() <= 1e-2 * scale


def test_pipeline_run_on_cuda_trains_on_the_gpu(synth_root: Path, make_params, tmp_path: Path) -> None:
    import torch

    from adlab.metrics import METRIC_KEYS
    from adlab.pipelines import get_pipeline

    params = make_params(synth_root, export={"memory_bank": "faiss"})  # faiss search after a GPU fit
    params["data"] = {**params["data"], "categories": "washer"}
    ctx = LocalRunContext(params=AnomalibParams.model_validate(params), output_dir=tmp_path / "run",
                          device="cuda:0")
    torch.cuda.reset_peak_memory_stats()
    get_pipeline("anomalib").load_runner()(ctx)
    assert torch.cuda.max_memory_allocated() > 0  # the backbone ran on the GPU
    for key in (*METRIC_KEYS, "fit_s", "infer_ms_per_image"):
        assert np.isfinite(ctx.metric_value(key, "washer")), key
    assert ctx.info["parity"]["washer"]["max_abs_map"] <= 1e-3
    assert ctx.info["parity"]["washer"]["mode"] == "faiss"
    import onnxruntime as ort

    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in ort.get_available_providers() \
        else "CPUExecutionProvider"
    assert ctx.info["onnx_providers"][0] == expected


def test_worker_on_cuda_runs_a_queued_study(synth_root: Path, engine) -> None:
    from adlab.config.loader import build_run_specs
    from adlab.db.queries import list_runs, run_detail, run_events
    from adlab.queue import enqueue

    study = {"pipeline": "anomalib", "study": "cuda-smoke", "image_size": 64,
             "data": {"dataset": "synthetic", "root": str(synth_root), "categories": ["woven"]},
             "train": {"max_epochs": 1, "batch_size": 4}, "inference": {"batch_size": 4},
             "visuals": {"count": 1},
             "conditions": [
                 {"name": "patchcore", "config": {"model": "patchcore", "model_params": {
                     "backbone": "resnet18", "layers": ["layer2", "layer3"], "pre_trained": False,
                     "coreset_sampling_ratio": 0.5}}},
                 {"name": "padim", "config": PADIM}]}
    assert len(enqueue(engine, build_run_specs(study)).created) == 2
    worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--device", "cuda:0",
                             "--until-empty"], capture_output=True, text=True, timeout=900,
                            env=os.environ.copy())
    assert worker.returncode == 0, worker.stderr
    for run in list_runs(engine):
        assert run.status == "succeeded", (run.name, run.error)
        assert run.device == "cuda:0"
        detail = run_detail(engine, run_id=run.id)
        metrics = {(m["key"], m["scope"]): m["value"] for m in detail["metrics"]}
        assert 0.0 <= metrics[("image_auroc", "woven")] <= 1.0 and metrics[("fit_s", "woven")] > 0
        messages = [e["message"] for e in run_events(engine, run_id=run.id)]
        assert any("starting on cuda:0" in m for m in messages), messages
