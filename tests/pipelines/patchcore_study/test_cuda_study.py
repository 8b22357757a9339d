"""The PatchCore study on a CUDA device (skipped without one): feature extraction and the greedy
coreset run on the GPU and select the same patches as on the CPU."""
from __future__ import annotations

import numpy as np
import pytest

from adlab.metrics import METRIC_KEYS
from adlab.metrics.gpu import cuda_usable
from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.patchcore_study.params import PatchCoreStudyParams
from adlab.pipelines.patchcore_study.run import run

pytestmark = [pytest.mark.gpu, pytest.mark.heavy,
              pytest.mark.skipif(not cuda_usable(), reason="no CUDA device")]


def test_greedy_coreset_on_cuda_picks_the_cpu_rows():
    from adlab.pipelines.patchcore_study.memory_bank import greedy_coreset

    features = np.random.default_rng(0).standard_normal((3000, 96)).astype(np.float32)
    cpu = greedy_coreset(features, 200, projection_dim=32, seed=1, device="cpu")
    gpu = greedy_coreset(features, 200, projection_dim=32, seed=1, device="cuda")
    assert len(set(cpu.tolist())) == 200
    assert np.array_equal(cpu, gpu)


def test_study_run_on_cuda_matches_the_cpu_run(tmp_path, make_config):
    import torch

    config = make_config(data={"categories": ["woven"]})
    results = {}
    for device in ("cpu", "cuda:0"):
        ctx = LocalRunContext(params=PatchCoreStudyParams.model_validate(config),
                              output_dir=tmp_path / device.replace(":", ""), device=device)
        torch.cuda.reset_peak_memory_stats()
        run(ctx)
        results[device] = ctx
    assert torch.cuda.max_memory_allocated() > 0  # the cuda run used the GPU
    cpu, gpu = results["cpu"], results["cuda:0"]
    assert gpu.metric_value("bank_size", "woven") == cpu.metric_value("bank_size", "woven")
    for key in METRIC_KEYS:
        # TF32 convolutions on the GPU move features slightly; rankings barely change
        assert gpu.metric_value(key, "woven") == pytest.approx(cpu.metric_value(key, "woven"), abs=0.05), key
