"""Memory-bank variants on one set of real patch features: build time, size, and AUROC.

Features: adlab's synthetic data (one category), a random-init backbone (offline), fused by
concatenation as PatchCore does. The baseline is the full kNN bank (every patch), measured in
the same run; each variant prints its build time, rows x dims, megabytes, the ratio of its
size to the baseline's, the faiss search time per image and its image/pixel AUROC.

    python benchmarks/bench_memory_banks.py [--backbone resnet18] [--size 128] [--train 40]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import adlab  # noqa: F401  (mmap threshold before torch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--train", type=int, default=40)
    ap.add_argument("--category", default="woven")
    args = ap.parse_args()

    import numpy as np

    from adlab.data import load_category, load_mask
    from adlab.data.synth import generate_synthetic
    from adlab.metrics import evaluate
    from adlab.pipelines.components.faiss_search import build_index
    from adlab.pipelines.patchcore_study.backbones import build_extractor
    from adlab.pipelines.patchcore_study.fusion import Fusion
    from adlab.pipelines.patchcore_study.memory_bank import build_bank
    from adlab.pipelines.patchcore_study.params import BackboneParams, FusionParams, MemoryBankParams
    from adlab.pipelines.patchcore_study.patchcore import FittedPatchCore, fit, score

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        generate_synthetic(root, categories=[args.category], seed=0, image_size=args.size,
                           n_train=args.train, n_test_good=10, n_test_defect=15)
        data = load_category("synthetic", root, args.category)
        extractor = build_extractor(BackboneParams(name=args.backbone, pretrained=False),
                                    image_size=args.size, device="cpu", seed=0)
        fusion = Fusion.from_params(FusionParams(strategy="concat"), extractor.layers, extractor.layer_dims)
        base = fit(extractor, fusion, MemoryBankParams(method="knn"), [s.image_path for s in data.train],
                   size=args.size, batch_size=8, seed=0, device="cpu", max_source_rows=64)
        # The full feature set is the knn bank itself.
        features = base.bank.bank
        paths = [s.image_path for s in data.test]
        labels = [s.label for s in data.test]
        masks = np.stack([load_mask(s, (args.size, args.size)) for s in data.test])
        print(f"features: {features.shape[0]} patches x {features.shape[1]} dims "
              f"({args.backbone}, random init, {args.size} px, {len(data.train)} train images, "
              f"extraction {base.extract_s:.2f} s)")
        variants = [("knn (baseline)", MemoryBankParams(method="knn"))]
        variants += [(f"coreset {r:g}", MemoryBankParams(method="coreset", coreset_ratio=r)) for r in (0.01, 0.1, 0.25)]
        variants += [(f"pca {d}", MemoryBankParams(method="pca", pca_dim=d)) for d in (32, 128)]
        variants += [(f"kmeans {k}", MemoryBankParams(method="kmeans", kmeans_k=k)) for k in (256, 1024)]
        head = f"{'variant':<16}{'build s':>9}{'rows':>8}{'dims':>6}{'MB':>8}{'size/base':>10}{'search ms/img':>15}{'img AUROC':>11}{'px AUROC':>10}"
        print(head)
        print("-" * len(head))
        base_bytes = None
        for name, params in variants:
            bank = build_bank(features, params, seed=0)
            index = build_index(bank.bank)
            model = FittedPatchCore(extractor=extractor, fusion=fusion, bank=bank, index=index,
                                    source_sample=base.source_sample, grid=base.grid,
                                    n_train=base.n_train, n_patches=base.n_patches, extract_s=0.0)
            start = time.perf_counter()
            scored = score(model, paths, labels, size=args.size, batch_size=8, num_neighbors=9,
                           max_normal_rows=64, seed=0)
            ms = 1000 * (time.perf_counter() - start) / len(paths)
            report = evaluate(scored.maps, masks, scores=scored.scores, labels=np.asarray(labels),
                              metrics=("image_auroc", "pixel_auroc"), device="cpu")
            base_bytes = base_bytes or bank.bank.nbytes
            print(f"{name:<16}{bank.build_s:>9.3f}{bank.size:>8}{bank.dim:>6}{bank.megabytes:>8.2f}"
                  f"{bank.bank.nbytes / base_bytes:>10.3f}{ms:>15.1f}"
                  f"{report.values['image_auroc']:>11.3f}{report.values['pixel_auroc']:>10.3f}")
        print("search ms/img includes feature extraction, fusion and map smoothing (the same "
              "for every variant); AUROC is of random-init features on synthetic data.")


if __name__ == "__main__":
    main()
