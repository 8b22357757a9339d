"""Which CUDA devices this machine has, found without importing torch or creating a CUDA
context: the worker parent forks its runs (and its zygote), and a parent that initialised CUDA
hands its children a GPU they cannot use. A ``--device cuda:K`` that does not exist is refused
at worker start, instead of every run failing (or running on the wrong device) later.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from adlab.errors import AdlabError

NVIDIA_SMI_TIMEOUT_S = 20.0
_PROC_GPUS = Path("/proc/driver/nvidia/gpus")


def cuda_device_count() -> int:
    """The NVIDIA GPUs this machine shows: ``nvidia-smi -L`` (what the driver lets this
    container use), else the driver's /proc entries, else the /dev/nvidiaN nodes; 0 if none."""
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True,
                                 timeout=NVIDIA_SMI_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0:
            return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
    if _PROC_GPUS.is_dir():
        return sum(1 for _ in _PROC_GPUS.iterdir())
    return sum(1 for p in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", p.name))


def check_cuda_index(device: str, index: int, count: int | None = None) -> None:
    """Refuse ``--device`` naming GPU ``index`` when this machine has no such GPU."""
    count = cuda_device_count() if count is None else count
    if index < count:
        return
    if count == 0:
        raise AdlabError(f"--device {device}: this machine has no CUDA device; use --device "
                         "cpu, or start the worker on a machine with a GPU")
    have = "cuda:0" if count == 1 else f"cuda:0..cuda:{count - 1}"
    raise AdlabError(f"--device {device}: cuda:{index} does not exist; devices: {have} "
                     "(one worker per device)")
