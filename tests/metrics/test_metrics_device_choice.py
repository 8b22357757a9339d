"""Which device ``evaluate(device='auto')`` ranks pixels on: the GPU only in a process that has
already started CUDA (a pipeline that ran a model there); a fresh process such as
``adlab metrics`` stays on the CPU threads and never imports torch for it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from adlab.metrics.gpu import GPU_MIN_PIXELS, cuda_usable

BIG = 4 * GPU_MIN_PIXELS


def _in_fresh_process(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_auto_in_a_fresh_process_is_the_cpu_without_importing_torch(monkeypatch):
    monkeypatch.delenv("ADLAB_METRICS_DEVICE", raising=False)
    out = _in_fresh_process(
        "import sys\n"
        "from adlab.metrics.gpu import choose_device\n"
        f"print(choose_device('auto', {BIG}), 'torch' in sys.modules)\n")
    assert out == "cpu False"


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_usable(), reason="no CUDA device")
def test_auto_uses_the_gpu_once_cuda_is_started(monkeypatch):
    monkeypatch.delenv("ADLAB_METRICS_DEVICE", raising=False)
    out = _in_fresh_process(
        "import torch\n"
        "from adlab.metrics.gpu import choose_device\n"
        f"before = choose_device('auto', {BIG})\n"
        "torch.zeros(1, device='cuda')\n"
        f"print(before, choose_device('auto', {BIG}), choose_device('auto', {GPU_MIN_PIXELS - 1}))\n")
    assert out == "cpu cuda cpu"
