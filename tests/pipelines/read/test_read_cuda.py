"""The ``read`` pipeline on a CUDA device (skipped without one): the tiny READ MLLM loads in
bfloat16 on the GPU, SAM encodes there, and the ONNX decoder still reproduces the torch decoder
that runs on the GPU."""
from __future__ import annotations

import pytest

from adlab.metrics import METRIC_KEYS
from adlab.metrics.gpu import cuda_usable
from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.read.params import ReadParams
from adlab.pipelines.read.run import run

pytestmark = [pytest.mark.gpu, pytest.mark.heavy,
              pytest.mark.skipif(not cuda_usable(), reason="no CUDA device")]


def test_mllm_loads_in_bfloat16_on_the_gpu(tiny_weights):
    import torch

    from adlab.pipelines.read.model.mllm import ReadMllm

    mllm = ReadMllm.load(str(tiny_weights.read), str(tiny_weights.clip), device="cuda")
    assert mllm.info["dtype"] == "bfloat16"
    params = [*mllm.llava.parameters(), *mllm.projection.parameters()]
    assert all(p.device.type == "cuda" and p.dtype == torch.bfloat16 for p in params)
    size = mllm.image_size
    answer = mllm.answer(torch.rand(1, 3, size, size), "Is there a defect? Please output the mask.",
                         max_new_tokens=4)
    assert answer.seg_embedding.dtype.name == "float32" and answer.similarity.shape == (mllm.num_patches,)


@pytest.mark.parametrize("mode", ["read", "baseline"])
def test_pipeline_on_cuda(tiny_weights, tmp_path, mode):
    import torch

    tw = tiny_weights
    config = {"mode": mode, "sam_type": str(tw.sam_config), "clip_path": str(tw.clip), "eval_size": 48,
              "data": {"dataset": "synthetic", "root": str(tw.data), "categories": ["woven"]},
              "visuals": 1}
    if mode == "read":
        config["mllm_path"] = str(tw.read)
    else:
        config["sam_checkpoint"] = str(tw.sam_weights)
    ctx = LocalRunContext(params=ReadParams.model_validate(config), output_dir=tmp_path / "out",
                          device="cuda:0")
    torch.cuda.reset_peak_memory_stats()
    run(ctx)
    assert torch.cuda.max_memory_allocated() > 0
    for key in METRIC_KEYS:
        assert 0.0 <= ctx.metric_value(key, "woven") <= 1.0, key
    # torch decoder on the GPU vs the ONNX decoder (CPU provider unless onnxruntime-gpu is there)
    assert ctx.metric_value("decoder_parity_max_abs", "woven") < 1e-3
    if mode == "read":
        assert ctx.info["weights"]["dtype"] == "bfloat16"
