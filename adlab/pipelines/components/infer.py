"""Score images with an exported bundle through onnxruntime (no torch, no anomalib import).

Images are decoded by a thread pool one batch ahead, so decoding overlaps inference. The
CUDA execution provider is used when asked for and available, else the CPU one.
"""
from __future__ import annotations

import json
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from adlab.errors import NotFoundError, PipelineError
from adlab.pipelines.components.export import BUNDLE_FILE


def providers_for(device: str = "cpu", provider: str = "auto") -> list[str]:
    """onnxruntime providers: CUDA first when wanted and present, CPU always as the fallback."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    wants_cuda = provider == "cuda" or (provider == "auto" and device.startswith("cuda"))
    if provider == "cuda" and "CUDAExecutionProvider" not in available:
        raise PipelineError("inference.provider is cuda but this onnxruntime has no CUDA provider; "
                            "install onnxruntime-gpu or set inference.provider: auto")
    if wants_cuda and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _session(path: Path, providers: list[str], device: str, *, spin: bool = True) -> object:
    """``spin=False`` when other CPU work (faiss) runs between calls: idle onnxruntime threads
    would otherwise keep spinning and take the cores that work needs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    provider_options = []
    for name in providers:
        if name == "CUDAExecutionProvider":
            provider_options.append({"device_id": int(device.partition(":")[2] or 0)})
        else:
            provider_options.append({})
    return ort.InferenceSession(str(path), sess_options=options, providers=providers,
                                provider_options=provider_options)


class Scorer(Protocol):
    batch_size: int
    size_hw: tuple[int, int]
    meta: dict

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N,3,H,W)`` float32 in [0,1], N <= batch_size -> scores (N,), maps (N,H,W)."""


def _pad(images: np.ndarray, batch_size: int) -> np.ndarray:
    n = images.shape[0]
    if n == batch_size:
        return images
    if n > batch_size:
        raise ValueError(f"batch of {n} images exceeds the exported batch size {batch_size}")
    pad = np.zeros((batch_size - n, *images.shape[1:]), dtype=images.dtype)
    return np.concatenate([images, pad], axis=0)


class GraphScorer:
    """in_graph bundle: one session, image -> (score, map)."""

    def __init__(self, bundle_dir: Path, meta: dict, device: str, provider: str) -> None:
        self.meta = meta
        self.batch_size = int(meta["batch_size"])
        self.size_hw = (int(meta["image_size"][0]), int(meta["image_size"][1]))
        self.providers = providers_for(device, provider)
        self.session = _session(bundle_dir / "model.onnx", self.providers, device)

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = images.shape[0]
        score, amap = self.session.run(["score", "anomaly_map"], {"image": _pad(images, self.batch_size)})
        return score[:n], amap[:n]


class FaissPatchcoreScorer:
    """faiss bundle: ONNX patch features -> faiss search -> ONNX map head."""

    def __init__(self, bundle_dir: Path, meta: dict, device: str, provider: str) -> None:
        from adlab.pipelines.components.faiss_search import build_index

        self.meta = meta
        self.batch_size = int(meta["batch_size"])
        self.size_hw = (int(meta["image_size"][0]), int(meta["image_size"][1]))
        self.grid = (int(meta["feature_grid"][0]), int(meta["feature_grid"][1]))
        self.num_neighbors = int(meta["num_neighbors"])
        self.providers = providers_for(device, provider)
        self.features = _session(bundle_dir / "features.onnx", self.providers, device, spin=False)
        self.head = _session(bundle_dir / "head.onnx", self.providers, device, spin=False)
        bank = np.load(bundle_dir / "memory_bank.npy")
        self.index = build_index(bank, device=device if "CUDAExecutionProvider" in self.providers else "cpu")

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from adlab.pipelines.components.faiss_search import patchcore_scores

        n = images.shape[0]
        (feats,) = self.features.run(["features"], {"image": _pad(images, self.batch_size)})
        scores, patch = patchcore_scores(feats[:n], self.index, self.num_neighbors)
        patch = patch.reshape(n, 1, *self.grid)
        (amap,) = self.head.run(["anomaly_map"], {"patch_scores": _pad(patch, self.batch_size)})
        return scores, amap[:n]


def read_bundle_meta(bundle_dir: Path) -> dict:
    path = Path(bundle_dir) / BUNDLE_FILE
    if not path.is_file():
        raise NotFoundError(f"{bundle_dir} is not an exported adlab model (no {BUNDLE_FILE}); "
                            f"point at a run's bundle folder (…/<category>/bundle)")
    return json.loads(path.read_text())


def load_scorer(bundle_dir: Path, *, device: str = "cpu", provider: str = "auto") -> Scorer:
    bundle_dir = Path(bundle_dir)
    meta = read_bundle_meta(bundle_dir)
    if meta.get("mode") == "faiss":
        return FaissPatchcoreScorer(bundle_dir, meta, device, provider)
    return GraphScorer(bundle_dir, meta, device, provider)


def decode(paths: Sequence[Path], size_hw: tuple[int, int]) -> np.ndarray:
    """Images -> ``(N,3,H,W)`` float32 in [0,1], resized in float as training resizes them
    (antialiased bilinear, :func:`adlab.data.imageio.load_image_float`), never rounded to 8 bit."""
    from adlab.data.imageio import load_image_float

    arrays = [load_image_float(Path(p), size_hw) for p in paths]
    return np.stack(arrays).transpose(0, 3, 1, 2).copy()


def prefetched_batches(paths: Sequence[Path], size_hw: tuple[int, int], batch_size: int,
                       threads: int, ahead: int = 2) -> Iterator[tuple[int, np.ndarray]]:
    """``(start index, decoded batch)`` in order, with ``ahead`` batches decoding in the background."""
    starts = list(range(0, len(paths), batch_size))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending: deque[tuple[int, Future]] = deque()
        for start in starts:
            pending.append((start, pool.submit(decode, paths[start:start + batch_size], size_hw)))
            if len(pending) > ahead:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()


@dataclass
class ScoredImages:
    scores: np.ndarray  # (N,)
    maps: np.ndarray  # (N,H,W) float32
    infer_s: float  # time inside the scorer
    wall_s: float  # whole loop, decoding included
    timings_ms: list[float] = field(default_factory=list)  # per batch, scorer only

    @property
    def ms_per_image(self) -> float:
        return 1000.0 * self.infer_s / max(1, len(self.scores))


def score_paths(scorer: Scorer, paths: Sequence[Path], *, threads: int = 2,
                on_batch: Callable[[int, int], None] | None = None) -> ScoredImages:
    """Score every image in ``paths`` (order kept); ``on_batch(done, total)`` after each batch."""
    n = len(paths)
    h, w = scorer.size_hw
    scores = np.zeros(n, dtype=np.float32)
    maps = np.zeros((n, h, w), dtype=np.float32)
    infer_s, batch_ms = 0.0, []
    start_wall = time.perf_counter()
    for start, images in prefetched_batches(paths, scorer.size_hw, scorer.batch_size, threads):
        t0 = time.perf_counter()
        s, m = scorer.score(images)
        elapsed = time.perf_counter() - t0
        infer_s += elapsed
        batch_ms.append(1000.0 * elapsed)
        scores[start:start + len(s)] = s
        maps[start:start + len(s)] = m
        if on_batch:
            on_batch(min(start + len(s), n), n)
    return ScoredImages(scores=scores, maps=maps, infer_s=infer_s,
                        wall_s=time.perf_counter() - start_wall, timings_ms=batch_ms)
