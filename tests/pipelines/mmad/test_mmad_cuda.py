"""Local Hugging Face VLMs on a CUDA device (skipped without one): tiny random-weight Qwen2.5-VL
and LLaVA checkpoints load in bfloat16 on the GPU, generate batched answers there, and a whole
MMAD run with the run's device on cuda answers every question."""
from __future__ import annotations

import pytest
from PIL import Image

from adlab.metrics.gpu import cuda_usable
from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.prompting import ImagePart, Message
from adlab.pipelines.mmad.run import run as run_mmad
from mmad_tiny_vlms import build_tiny_llava, build_tiny_qwen

pytestmark = [pytest.mark.gpu, pytest.mark.heavy,
              pytest.mark.skipif(not cuda_usable(), reason="no CUDA device")]


def _prompt(shade: int) -> list[Message]:
    image = ImagePart(Image.new("RGB", (64, 48), (shade, 90, 160)), "mem")
    return [Message("user", ["Inspect the part.", image, "Question: Is there a defect?\nA. Yes\nB. No"])]


@pytest.mark.parametrize("build", [build_tiny_qwen, build_tiny_llava], ids=["qwen2_5_vl", "llava"])
def test_hf_client_generates_in_bfloat16_on_the_gpu(tmp_path, build):
    import torch

    from adlab.pipelines.mmad.clients.hf_local import HFClient

    folder = build(tmp_path / "model")
    client = HFClient(name="tiny", model_id=str(folder), device="cuda", batch_size=2, dtype="auto",
                      max_tokens=5, temperature=0.0)
    assert client.dtype == torch.bfloat16 and torch.cuda.is_bf16_supported()
    weights = list(client.model.parameters())
    assert all(p.device.type == "cuda" and p.dtype == torch.bfloat16 for p in weights)
    answers = client.complete_batch([_prompt(10), _prompt(240)])
    assert len(answers) == 2
    assert all(a.tokens_in > 0 and 0 < a.tokens_out <= 5 for a in answers)
    # Greedy decoding: the same batch again gives the same answers.
    assert [a.text for a in client.complete_batch([_prompt(10), _prompt(240)])] == [a.text for a in answers]
    client.close()


def test_mmad_run_on_cuda_answers_every_question(mmad_tree, tmp_path):
    import torch

    root, _ = mmad_tree
    params = MmadParams.model_validate({
        "llm": str(build_tiny_qwen(tmp_path / "model")), "data_root": str(root),
        "protocol": "adlab",  # batch mode
        "eval": {"few_shot": 1, "max_tokens": 6, "batch_mode": True, "max_images": 6},
        "local": {"batch_size": 3}})
    ctx = LocalRunContext(params=params, output_dir=tmp_path / "out", device="cuda:0")
    torch.cuda.reset_peak_memory_stats()
    run_mmad(ctx)
    assert torch.cuda.max_memory_allocated() > 0
    stored = ctx.state.items("answer:")
    assert len(stored) == ctx.metric_value("questions") and ctx.metric_value("errors") == 0
    assert sum(r["tokens_out"] for r in stored.values()) > 0
