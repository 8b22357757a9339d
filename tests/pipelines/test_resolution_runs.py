"""Real runs on data larger than ``image_size`` (96 px images, 64 px model): the pixel metrics a
run records equal an independent computation from its stored float32 maps and the original
masks (read with PIL), at ``metrics.resolution: mask`` (torch-upsampled maps) and ``model``
(torch-nearest masks); ``adlab metrics --maps-dir`` on the run's TIFFs agrees; and
``thresholds.source: validation`` thresholds are the normal validation images' maximum."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from resolution_reference import independent_pixel_metrics, torch_nearest
from sklearn.metrics import roc_auc_score

from adlab.data.synth import generate_synthetic
from adlab.metrics import evaluate
from adlab.pipelines.components.predictions import load_anomaly_maps
from adlab.pipelines.local import LocalRunContext

PIXEL_KEYS = ("pixel_auroc", "aupro", "pixel_ap")


@pytest.fixture(scope="module")
def big_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big") / "synthetic"
    generate_synthetic(root, categories=["woven"], seed=5, image_size=96, n_train=6,
                       n_test_good=3, n_test_defect=4)
    return root


def _mask_of(image: str, root: Path) -> np.ndarray:
    """The ground truth straight from the MVTec-layout folders (zeros for good images)."""
    path = Path(image)
    gt = root / "woven" / "ground_truth" / path.parent.name / f"{path.stem}_mask.png"
    if not gt.is_file():
        return np.zeros(Image.open(path).size[::-1], np.uint8)
    return np.asarray(Image.open(gt))


def _study(root: Path, out: Path, resolution: str) -> LocalRunContext:
    from adlab.pipelines.patchcore_study.params import PatchCoreStudyParams
    from adlab.pipelines.patchcore_study.run import run

    config = {"backbone": {"name": "resnet18", "pretrained": False},
              "memory_bank": {"method": "coreset", "coreset_ratio": 0.25},
              "data": {"dataset": "synthetic", "root": str(root), "categories": ["woven"]},
              "image_size": 64, "batch_size": 4, "visuals": {"count": 0},
              "metrics": {"resolution": resolution}, "outputs": {"tiff_maps": True}}
    ctx = LocalRunContext(params=PatchCoreStudyParams.model_validate(config), output_dir=out)
    run(ctx)
    return ctx


def _stored(ctx: LocalRunContext) -> tuple[np.ndarray, list[str], np.ndarray]:
    npz = next(a["path"] for a in ctx.artifacts if a["kind"] == "anomaly_maps")
    return load_anomaly_maps(npz)


@pytest.mark.heavy  # the representative LOCO queue test pins mask resolution in CI
def test_study_at_mask_resolution_equals_upsample_then_evaluate(big_root, tmp_path, cli):
    ctx = _study(big_root, tmp_path / "mask", "mask")
    maps, paths, scores = _stored(ctx)
    assert maps.dtype == np.float32 and maps.shape == (7, 64, 64)
    masks = [_mask_of(p, big_root) for p in paths]
    assert {m.shape for m in masks} == {(96, 96)}
    for key, value in independent_pixel_metrics(maps, masks).items():
        assert ctx.metric_value(key, "woven") == pytest.approx(value, abs=1e-6), key
    # recomputed from the stored file with adlab's own evaluation: the very same numbers
    labels = np.asarray([m.any() for m in masks])
    again = evaluate(list(maps), masks, scores=scores, labels=labels)
    for key, value in again.values.items():
        assert ctx.metric_value(key, "woven") == value, key

    tiffs = [a["path"] for a in ctx.artifacts if a["kind"] == "tiff_maps"]
    assert len(tiffs) == 7 and all(Image.open(p).size == (96, 96) for p in tiffs)
    maps_dir = Path(tiffs[0]).parents[3]
    official = cli("metrics", "--maps-dir", str(maps_dir), "--dataset-root", str(big_root),
                   "--json", check=True)
    from_tiffs = json.loads(official.stdout)["per_category"]["woven"]
    for key in (*PIXEL_KEYS, "pixel_f1_max"):
        assert from_tiffs[key] == pytest.approx(ctx.metric_value(key, "woven"), abs=1e-12), key


def test_study_at_model_resolution_uses_torch_nearest_masks(big_root, tmp_path):
    ctx = _study(big_root, tmp_path / "model", "model")
    maps, paths, _ = _stored(ctx)
    small = [torch_nearest(_mask_of(p, big_root), (64, 64)) > 0 for p in paths]
    y = np.concatenate([m.reshape(-1) for m in small])
    expected = roc_auc_score(y, maps.reshape(-1))
    assert ctx.metric_value("pixel_auroc", "woven") == pytest.approx(expected, abs=1e-6)
    from resolution_reference import anomalib_aupro

    assert ctx.metric_value("aupro", "woven") == pytest.approx(
        anomalib_aupro(list(maps), small), abs=1e-6)


@pytest.mark.heavy
def test_validation_thresholds_are_the_normal_validation_maximum(tmp_path):
    from adlab.data.synth.loco import generate_synthetic_loco
    from adlab.pipelines import get_pipeline
    from adlab.pipelines.anomalib.params import AnomalibParams
    from adlab.pipelines.components.predict import predict_images
    from adlab.pipelines.components.predictions import VALIDATION_NORMAL_QUANTILE

    root = tmp_path / "mvtec_loco"
    generate_synthetic_loco(root, categories=["woven"], seed=4, image_size=80, n_train=6,
                            n_val=3, n_test_good=2, n_logical=2, n_structural=2)
    config = {"model": "patchcore",
              "model_params": {"backbone": "resnet18", "layers": ["layer2", "layer3"],
                               "pre_trained": False, "coreset_sampling_ratio": 0.5},
              "data": {"dataset": "mvtec_loco", "root": str(root), "categories": "woven"},
              "image_size": 64, "train": {"max_epochs": 1, "batch_size": 4},
              "inference": {"batch_size": 4}, "visuals": {"count": 0},
              "thresholds": {"source": "validation"}}
    ctx = LocalRunContext(params=AnomalibParams.model_validate(config), output_dir=tmp_path / "r")
    get_pipeline("anomalib").load_runner()(ctx)
    assert ctx.info["threshold_source"] == VALIDATION_NORMAL_QUANTILE
    bundle = tmp_path / "r" / "woven" / "bundle"
    val_images = sorted((root / "woven" / "validation" / "good").glob("*.png"))
    val_scores = [r["anomaly_score"] for r in predict_images(bundle, val_images)]
    assert ctx.metric_value("image_threshold", "woven") == pytest.approx(max(val_scores),
                                                                         abs=1e-5)
    records = json.loads((tmp_path / "r" / "predictions.json").read_text())
    assert {r["threshold_source"] for r in records} == {VALIDATION_NORMAL_QUANTILE}
    assert len(records) == 6  # test images only; validation images are not judged
    doc = yaml.safe_load((tmp_path / "r" / "thresholds.yaml").read_text())
    assert doc["source"] == VALIDATION_NORMAL_QUANTILE
    assert ctx.metric_value("spro@0.3", "woven") is not None
