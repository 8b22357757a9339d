"""``inference.engine: torch``: score with the trained torch model itself, without an ONNX export.

This is the explicit fallback for a model whose ONNX export anomalib cannot produce (or whose
export does not reproduce the model): the run says so in its info and log, skips the export
(no bundle, so no MMAD hand-off from it) and scores through the same graph the parity check
compares ONNX against, so scores and maps mean the same as with onnxruntime.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from adlab.errors import PipelineError

FALLBACK_HINT = ("set inference.engine: torch to score with the torch model instead "
                 "(no ONNX bundle; recorded in the run's info)")


class TorchScorer:
    """The :class:`~adlab.pipelines.components.infer.Scorer` protocol over a torch module."""

    def __init__(self, module: torch.nn.Module, *, size_hw: tuple[int, int], batch_size: int,
                 device: str = "cpu") -> None:
        from adlab.pipelines.components.export import ScoreMapGraph

        self.device = torch.device(device if device.startswith("cuda") and torch.cuda.is_available()
                                   else "cpu")
        self.graph = ScoreMapGraph(module.eval()).to(self.device).eval()
        self.batch_size = batch_size
        self.size_hw = size_hw
        self.providers = [f"torch:{self.device}"]
        self.meta: dict[str, Any] = {"engine": "torch", "image_size": list(size_hw),
                                     "batch_size": batch_size}
        # One warm-up batch (lazy kernel set-up), as the parity check warms an ONNX session,
        # so per-image times of the two engines compare steady states.
        self.score(np.zeros((batch_size, 3, *size_hw), dtype=np.float32))

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            score, amap = self.graph(torch.from_numpy(images).to(self.device))
        return score.float().cpu().numpy(), amap.float().cpu().numpy()


def engine_record(engine: str) -> dict[str, Any]:
    """What the run records about how it scored (``ctx.set_info("inference_engine", ...)``)."""
    if engine == "torch":
        return {"engine": "torch", "export": "skipped",
                "why": "inference.engine: torch in the run config (explicit fallback)"}
    return {"engine": "onnxruntime", "export": "onnx"}


def with_fallback_hint(exc: PipelineError) -> PipelineError:
    """An export or parity failure, with the way to still score the model."""
    return PipelineError(f"{exc}; {FALLBACK_HINT}")
