"""What a result depends on: code revision, package versions, device. Recorded on every run."""
from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

TRACKED_PACKAGES = ("adlab", "torch", "torchvision", "anomalib", "onnxruntime", "onnxruntime-gpu",
                    "onnx", "faiss-cpu", "faiss-gpu-cu12", "transformers", "segment-anything",
                    "numpy", "scipy", "lightning", "timm", "open-clip-torch")


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@functools.lru_cache(maxsize=4)
def git_state(path: str | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout holding ``path`` (default: adlab's own source)."""
    where = Path(path) if path else Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, bool(status) if status is not None else None
