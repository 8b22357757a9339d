"""Per-image inference: onnxruntime (adlab's path) vs anomalib's TorchInferencer, and faiss vs
the in-graph memory-bank search, measured in one run on the same images and models.

    .venv/bin/python benchmarks/bench_inference.py [--images 12] [--image-size 224]

Models are trained here on adlab's synthetic data with random-init backbones (no downloads):
PatchCore (wide_resnet50_2, layer2+3 -> 1536-d patches) and PaDiM (resnet18). For the search
comparison PatchCore's memory bank is replaced by a 20,000 x 1536 bank, then exported both ways.
Prints milliseconds per image and ratios (baseline / adlab: > 1 means adlab is faster).
"""
from __future__ import annotations

import adlab  # noqa: F401  (mmap threshold before torch)

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def per_image_ms(fn: Callable[[int], object], n: int, warmup: int = 2) -> float:
    for i in range(warmup):
        fn(i % n)
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=12, help="timed images per measurement")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--bank", type=int, default=20_000, help="memory bank rows for the search comparison")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (models, exports)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from anomalib.deploy import TorchInferencer

    from adlab.data import load_category
    from adlab.data.synth import generate_synthetic
    from adlab.pipelines.components.export import export_bundle
    from adlab.pipelines.components.infer import decode, load_scorer
    from adlab.pipelines.anomalib.models import build_model
    from adlab.pipelines.anomalib.params import AnomalibParams
    from adlab.pipelines.anomalib.train import train_model
    from adlab.pipelines.local import LocalRunContext

    work = Path(tempfile.mkdtemp(prefix="adlab_bench_"))
    size = args.image_size
    generate_synthetic(work / "synthetic", categories=1, image_size=size, n_train=8,
                       n_test_good=max(2, args.images // 2), n_test_defect=max(2, args.images - args.images // 2))
    category = sorted(p.name for p in (work / "synthetic").iterdir() if p.is_dir())[0]
    data = load_category("synthetic", work / "synthetic", category)
    paths = [s.image_path for s in data.test][: args.images]
    images = decode(paths, (size, size))
    n = len(paths)
    print(f"{n} test images at {size}x{size}, torch threads {torch.get_num_threads()}, work dir {work}")

    models = {
        "patchcore": {"backbone": "wide_resnet50_2", "layers": ["layer2", "layer3"], "pre_trained": False,
                      "coreset_sampling_ratio": 0.1},
        "padim": {"backbone": "resnet18", "pre_trained": False},
    }
    trained = {}
    for name, model_params in models.items():
        params = AnomalibParams.model_validate({
            "model": name, "model_params": model_params, "image_size": size,
            "data": {"dataset": "synthetic", "root": str(work / "synthetic"), "categories": category},
            "train": {"batch_size": 4}, "inference": {"batch_size": 1}})
        ctx = LocalRunContext(params=params, output_dir=work / name)
        built = build_model(params)
        train_model(built, data.train, [], params=params, ctx=ctx, workdir=work / name, label=category)
        trained[name] = built.module.eval()

        bundle = export_bundle(built.module, work / name / "bundle", size_hw=(size, size), batch_size=1,
                               memory_bank="in_graph", model_type=name)
        scorer = load_scorer(bundle.bundle_dir)
        pt_path = built.module.to_torch(work / name / "torch")
        os.environ["TRUST_REMOTE_CODE"] = "1"  # the pickle was written by this process just now
        inferencer = TorchInferencer(path=pt_path, device="cpu")
        tensors = [torch.from_numpy(images[i]) for i in range(n)]

        def run_torch(i: int, inferencer=inferencer, tensors=tensors) -> object:  # noqa: ANN001
            with torch.no_grad():
                return inferencer.predict(tensors[i])

        ort_ms = per_image_ms(lambda i, s=scorer: s.score(images[i:i + 1]), n)
        torch_ms = per_image_ms(run_torch, n)
        print(f"{name:10s} onnxruntime {ort_ms:8.1f} ms/image | TorchInferencer {torch_ms:8.1f} ms/image "
              f"| ratio torch/ort = {torch_ms / ort_ms:5.2f}x")

    # faiss vs in-graph search over a large bank (PatchCore WRN50 features are 1536-d).
    module = trained["patchcore"]
    dim = int(module.model.memory_bank.shape[1])
    rng = np.random.default_rng(0)
    module.model.memory_bank = torch.from_numpy(rng.normal(size=(args.bank, dim)).astype(np.float32))
    scorers = {}
    for mode in ("in_graph", "faiss"):
        bundle = export_bundle(module, work / f"bank_{mode}", size_hw=(size, size), batch_size=1,
                               memory_bank=mode, model_type="patchcore")
        mb = sum(p.stat().st_size for k, p in bundle.files.items() if k != "bundle") / 2**20
        scorers[mode] = load_scorer(bundle.bundle_dir)
        print(f"bank {args.bank}x{dim} {mode:8s} export size {mb:8.1f} MiB")
    graph_ms = per_image_ms(lambda i: scorers["in_graph"].score(images[i:i + 1]), n)
    faiss_ms = per_image_ms(lambda i: scorers["faiss"].score(images[i:i + 1]), n)
    diff = max(float(np.abs(scorers["faiss"].score(images[i:i + 1])[0] -
                            scorers["in_graph"].score(images[i:i + 1])[0]).max()) for i in range(min(n, 4)))
    print(f"bank {args.bank}x{dim}: in-graph {graph_ms:8.1f} ms/image | faiss {faiss_ms:8.1f} ms/image "
          f"| ratio in-graph/faiss = {graph_ms / faiss_ms:5.2f}x (max |score diff| {diff:.2e})")

    # The search alone: anomalib's torch brute force vs faiss on the same patch features.
    from adlab.pipelines.components.faiss_search import build_index

    feats = scorers["faiss"].features.run(["features"], {"image": images[:1]})[0][0]
    index = build_index(module.model.memory_bank.numpy())
    query = torch.from_numpy(feats)
    with torch.no_grad():
        torch_search = per_image_ms(lambda i: module.model.nearest_neighbors(query, n_neighbors=1), 5, 1)
    faiss_search = per_image_ms(lambda i: index.search(feats, 1), 5, 1)
    print(f"search only ({feats.shape[0]} patches): torch {torch_search:8.1f} ms | faiss {faiss_search:8.1f} ms "
          f"| ratio torch/faiss = {torch_search / faiss_search:5.2f}x")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
