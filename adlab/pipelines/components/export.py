"""Export a trained anomalib model to an ONNX *bundle* that onnxruntime scores without torch.

A bundle is a folder with ``bundle.json`` and either
- ``model.onnx`` (in_graph): image batch -> (score, anomaly map), everything inside the graph; or
- ``features.onnx`` + ``head.onnx`` + ``memory_bank.npy`` (faiss, PatchCore only): the graph
  yields patch features, faiss searches the memory bank, a tiny graph turns patch distances
  into the anomaly map. This keeps multi-GB memory banks out of the ONNX file (anomalib users
  report > 2 GB exports and onnxruntime asking for 288 GB buffers).

Exports use torch's dynamo exporter (anomalib 2.7 supports only that), opset 18 and static
shapes: the batch size is fixed at export time and partial batches are padded at inference.
"""
from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from adlab.errors import PipelineError

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 1
OPSET = 18


class ScoreMapGraph(nn.Module):
    """Any anomalib module -> ``(score (B,), anomaly_map (B,H,W))`` at the input resolution."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.module(image)
        amap = out.anomaly_map
        if amap is None:
            raise PipelineError(f"{type(self.module).__name__} produces no anomaly map; adlab "
                                f"needs one for pixel metrics and defect locations")
        if amap.dim() == 4:
            amap = amap[:, 0]
        if tuple(amap.shape[-2:]) != tuple(image.shape[-2:]):
            amap = nn.functional.interpolate(amap[:, None], size=image.shape[-2:], mode="bilinear",
                                             align_corners=False)[:, 0]
        score = out.pred_score if out.pred_score is not None else amap.amax(dim=(-2, -1))
        return score.reshape(image.shape[0]).float(), amap.float()


class PatchcoreFeatureGraph(nn.Module):
    """PatchCore up to the memory-bank search: image -> patch embeddings ``(B, h*w, C)``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.pre_processor = module.pre_processor
        self.core = module.model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.pre_processor(image) if self.pre_processor else image
        x = x.type(self.core.memory_bank.dtype)
        features = self.core.feature_extractor(x)
        features = {layer: self.core.feature_pooler(f) for layer, f in features.items()}
        embedding = self.core.generate_embedding(features)
        b, c, h, w = embedding.shape
        return embedding.permute(0, 2, 3, 1).reshape(b, h * w, c)


class PatchcoreMapHead(nn.Module):
    """Patch distances ``(B,1,h,w)`` -> anomaly map ``(B,H,W)`` (upsampling + Gaussian blur)."""

    def __init__(self, module: nn.Module, size_hw: tuple[int, int]) -> None:
        super().__init__()
        self.generator = module.model.anomaly_map_generator
        self.size_hw = size_hw

    def forward(self, patch_scores: torch.Tensor) -> torch.Tensor:
        return self.generator(patch_scores, self.size_hw)[:, 0]


@dataclass
class ExportResult:
    bundle_dir: Path
    files: dict[str, Path]  # role -> file ("onnx", "onnx_data", "memory_bank", ...)
    meta: dict[str, Any]


def _export_graph(graph: nn.Module, example: torch.Tensor, path: Path, input_name: str,
                  output_names: list[str]) -> None:
    graph = graph.eval()
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), torch.no_grad():
            torch.onnx.export(graph, (example,), str(path), dynamo=True, opset_version=OPSET,
                              input_names=[input_name], output_names=output_names,
                              external_data=True, verbose=False)
    except PipelineError:
        raise
    except Exception as exc:
        tail = log.getvalue().strip().splitlines()[-3:]
        raise PipelineError(f"ONNX export of {type(graph).__name__} failed: {type(exc).__name__}: "
                            f"{str(exc)[:300]} {' | '.join(tail)}") from None


def export_bundle(module: nn.Module, out_dir: Path, *, size_hw: tuple[int, int], batch_size: int,
                  memory_bank: str, model_type: str, extra_meta: dict[str, Any] | None = None) -> ExportResult:
    """Export ``module`` (eval mode, on CPU) into ``out_dir`` and write ``bundle.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    module = module.eval().cpu()
    h, w = size_hw
    example = torch.rand(batch_size, 3, h, w)
    files: dict[str, Path] = {}
    meta: dict[str, Any] = {"format": BUNDLE_FORMAT, "model_type": model_type, "mode": memory_bank,
                            "batch_size": batch_size, "image_size": [h, w], "opset": OPSET,
                            "input": "image (B,3,H,W) float32 RGB in [0,1]",
                            **(extra_meta or {})}
    if memory_bank == "in_graph":
        path = out_dir / "model.onnx"
        _export_graph(ScoreMapGraph(module), example, path, "image", ["score", "anomaly_map"])
        files["onnx"] = path
    elif memory_bank == "faiss":
        core = module.model
        bank = core.memory_bank.detach().cpu().float().numpy()
        features = PatchcoreFeatureGraph(module)
        with torch.no_grad():
            grid = _feature_grid(features, module, example)
        path = out_dir / "features.onnx"
        _export_graph(features, example, path, "image", ["features"])
        files["onnx"] = path
        head = out_dir / "head.onnx"
        _export_graph(PatchcoreMapHead(module, size_hw), torch.rand(batch_size, 1, *grid), head,
                      "patch_scores", ["anomaly_map"])
        files["onnx_head"] = head
        bank_path = out_dir / "memory_bank.npy"
        np.save(bank_path, np.ascontiguousarray(bank))
        files["memory_bank"] = bank_path
        meta.update({"feature_grid": list(grid), "num_neighbors": int(core.num_neighbors),
                     "memory_bank_shape": list(bank.shape)})
    else:
        raise PipelineError(f"export.memory_bank must be in_graph or faiss, got {memory_bank!r}")
    for onnx_file in list(files.values()):
        data = onnx_file.with_name(onnx_file.name + ".data")
        if data.exists():
            files[f"{onnx_file.stem}_data"] = data
    (out_dir / BUNDLE_FILE).write_text(json.dumps(meta, indent=2))
    files["bundle"] = out_dir / BUNDLE_FILE
    return ExportResult(bundle_dir=out_dir, files=files, meta=meta)


def _feature_grid(features: PatchcoreFeatureGraph, module: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    x = module.pre_processor(example[:1]) if module.pre_processor else example[:1]
    feats = features.core.feature_extractor(x.type(features.core.memory_bank.dtype))
    first = feats[features.core.layers[0]]
    return int(first.shape[-2]), int(first.shape[-1])


def update_bundle_meta(bundle_dir: Path, **values: Any) -> None:
    """Add facts known only after scoring (thresholds, dataset names) to ``bundle.json``."""
    path = bundle_dir / BUNDLE_FILE
    meta = json.loads(path.read_text())
    meta.update(values)
    path.write_text(json.dumps(meta, indent=2))


def torch_reference(module: nn.Module, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and maps of the torch model itself, for the parity check."""
    graph = ScoreMapGraph(module.eval().cpu())
    with torch.no_grad():
        score, amap = graph(torch.from_numpy(images))
    return score.numpy(), amap.numpy()


def parity_errors(module: nn.Module, scorer: Any, images: np.ndarray) -> tuple[float, float]:
    """Max |ONNX - torch| over ``images`` for the image score and the anomaly map: the one
    parity rule for trained and imported models alike (batched like the scorer)."""
    score_diff = map_diff = 0.0
    for start in range(0, len(images), scorer.batch_size):
        batch = images[start:start + scorer.batch_size]
        ref_s, ref_m = torch_reference(module, batch)
        got_s, got_m = scorer.score(batch)
        score_diff = max(score_diff, float(np.abs(ref_s - got_s).max()))
        map_diff = max(map_diff, float(np.abs(ref_m - got_m).max()))
    return score_diff, map_diff
