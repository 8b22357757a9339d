"""What a warm worker's zygote imports before it forks a pipeline's runs, and the checks that
keep those forks safe.

The list comes from what the pipeline declares: the distributions of its ``adlab[...]`` extras
(``PipelineSpec.extras``, read back from adlab's metadata by adlab.pipelines.extras), each as
its top-level module, plus the heavy submodules of packages whose top-level import is lazy,
plus the pipeline's runner module. Modules that start a native thread at import are left to the
run (a lock such a thread holds at the fork would be held forever in the run); they cost it a
fraction of a second. The OpenBLAS threads numpy/scipy/OpenCV start at import are fork-safe
(OpenBLAS stops them around fork).
"""
from __future__ import annotations

import functools
import importlib
import re
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

# Packages whose top-level import imports next to nothing: what their users actually import.
DEEP_IMPORTS: dict[str, tuple[str, ...]] = {
    "anomalib": ("lightning.pytorch", "anomalib.models", "anomalib.engine", "anomalib.data",
                 "anomalib.callbacks"),
    "transformers": ("transformers.modeling_utils",),
    # torch's ONNX exporter (torch.onnx.export(dynamo=True) with onnxscript): 3 s of imports
    # at a run's first export otherwise. Private paths: a torch without them is only logged.
    "onnxscript": ("torch.onnx._internal.exporter._core", "torch._functorch.partitioners"),
}
# Left to the run, with the reason: checked by starting a fresh interpreter and counting
# /proc/self/task before and after the import.
IMPORTED_BY_THE_RUN: dict[str, str] = {
    "onnxruntime": "starts a native thread at import (and takes 0.2 s)",
}
# Imported by every warm zygote: what a run's process needs whatever its pipeline.
BASE_MODULES = ("adlab.worker.child",)
# Imported for every pipeline that declares an extra: adlab's own lazy imports its model
# pipelines' runs meet (heatmaps through adlab.pipelines.components.visuals).
WITH_ANY_EXTRA = ("matplotlib.figure",)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


@functools.lru_cache(maxsize=None)
def distribution_module(name: str) -> tuple[str, ...]:
    """The module(s) a distribution is imported as: the one named like it (``torch``), else its
    top-level modules (``faiss-cpu`` -> ``faiss``); empty when it is not installed."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return ()
    text = dist.read_text("top_level.txt")
    tops = [t.strip() for t in text.splitlines()] if text else sorted(
        {Path(str(f)).parts[0].removesuffix(".py") for f in dist.files or ()
         if len(Path(str(f)).parts) > 1 or str(f).endswith(".py")})
    tops = [t for t in tops if t and not t.startswith("_") and not t.endswith((".dist-info", ".data"))
            and "." not in t]
    same = [t for t in tops if _normal(t) == _normal(name)]
    return tuple(same or tops)


def modules_for(extras: tuple[str, ...], runner: str) -> list[str]:
    """Modules to import before forking runs of a pipeline with these extras and runner
    (``module:function``), in import order."""
    from adlab.pipelines.extras import extra_distributions

    wanted: list[str] = []
    for extra in extras:
        for dist in extra_distributions(extra):
            for module in distribution_module(dist):
                if module not in IMPORTED_BY_THE_RUN:
                    wanted += [module, *DEEP_IMPORTS.get(module, ())]
    if extras:
        wanted += WITH_ANY_EXTRA
    wanted.append(runner.partition(":")[0])
    return list(dict.fromkeys(wanted))


@dataclass
class Preloaded:
    """What the zygote has imported so far (each module once), and what failed and why."""

    modules: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def load(self, modules: list[str]) -> list[str]:
        """Import the modules not tried yet; returns those newly imported. A failure is kept
        (the run imports it again and fails with its own message, e.g. a missing extra)."""
        new = []
        start = time.perf_counter()
        for name in modules:
            if name in self.modules or name in self.failed:
                continue
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - the run meets it again and reports it
                self.failed[name] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            self.modules.append(name)
            new.append(name)
        self.seconds += time.perf_counter() - start
        return new


def gpu_touched() -> str | None:
    """Why a fork of this process could not use CUDA, or None: the CUDA driver library is
    loaded (cuInit ran or is about to) or torch initialised CUDA. A forked child of a process
    that initialised CUDA cannot use the GPU."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "torch initialised CUDA"
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    return "the CUDA driver (libcuda) is loaded" if "libcuda.so" in maps else None


def native_threads() -> int:
    """Threads of this process as the kernel counts them (Python's and native ones)."""
    try:
        return len(list(Path("/proc/self/task").iterdir()))
    except OSError:
        return 1
