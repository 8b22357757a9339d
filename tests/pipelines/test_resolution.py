"""Evaluation resolution as a protocol, checked against torch / torchvision / scikit-learn /
anomalib computations written here (no adlab metric code in the expectations):

- masks are downsampled (``metrics.resolution: model``) by torch's nearest rule, never PIL's;
- test images are resized in float like anomalib's training pre-processor, never rounded;
- at ``mask`` resolution the pixel metrics equal upsample-then-evaluate to 1e-6;
- maps are stored as float32, so the metrics are recomputable from the stored file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from adlab.data.imageio import load_image_float, load_mask, nearest_indices, resize_nearest
from adlab.data.synth import generate_synthetic
from adlab.data.types import Sample
from adlab.metrics import evaluate
from adlab.pipelines.components.evaluation import evaluate_scored, evaluation_masks
from adlab.pipelines.components.infer import decode
from adlab.pipelines.components.predictions import load_anomaly_maps, save_anomaly_maps
from resolution_reference import independent_pixel_metrics, torch_nearest


@pytest.fixture(scope="module")
def big_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """96 px images (larger than the 64 px model resolution used below)."""
    root = tmp_path_factory.mktemp("resolution") / "synthetic"
    generate_synthetic(root, categories=["woven"], seed=3, image_size=96, n_train=2,
                       n_test_good=2, n_test_defect=4)
    return root


def _test_samples(root: Path) -> list[Sample]:
    from adlab.data import load_category

    return load_category("synthetic", root, "woven").test


def test_mask_downsampling_is_torch_nearest_not_pil():
    rng = np.random.default_rng(0)
    differs_from_pil = 0
    for src in (5, 17, 64, 96, 100, 333):
        for dst in (3, 16, 31, 64, 65, 127, 2 * src):
            values = rng.integers(0, 256, size=(src, src + 3)).astype(np.uint8)
            expected = torch_nearest(values, (dst, dst + 1))
            np.testing.assert_array_equal(resize_nearest(values, (dst, dst + 1)), expected)
            pil = np.asarray(Image.fromarray(values).resize((dst + 1, dst), Image.NEAREST))
            differs_from_pil += int(not np.array_equal(pil, expected))
            assert nearest_indices(src, dst).max() < src
    assert differs_from_pil > 0  # the two rules do pick other rows: there is one rule here


def test_masks_on_disk_downsample_by_torch_nearest(big_data: Path):
    for sample in _test_samples(big_data):
        full = load_mask(sample)
        assert full.shape == (96, 96)
        np.testing.assert_array_equal(load_mask(sample, (64, 64)), torch_nearest(full, (64, 64)))


def test_test_images_are_resized_in_float_like_training(big_data: Path):
    from torchvision.transforms.v2 import Resize

    path = _test_samples(big_data)[-1].image_path
    raw = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(raw).permute(2, 0, 1)[None]
    trained = Resize((64, 64), antialias=True)(tensor)[0].numpy()  # anomalib's pre-processor
    decoded = decode([path], (64, 64))[0]
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, trained, atol=1e-6)
    np.testing.assert_array_equal(load_image_float(path, (64, 64)).transpose(2, 0, 1), decoded)
    rounded = np.round(decoded * 255.0) / 255.0  # what uint8 decoding used to feed the model
    assert np.abs(rounded - decoded).max() > 1e-3


def test_mask_resolution_equals_upsample_then_evaluate(big_data: Path):
    samples = _test_samples(big_data)
    rng = np.random.default_rng(1)
    maps = rng.random((len(samples), 64, 64)).astype(np.float32)
    for i, s in enumerate(samples):  # defects score higher on average, with overlap
        maps[i] += 0.8 * torch_nearest(load_mask(s), (64, 64)) * rng.random((64, 64))
    scores = maps.reshape(len(maps), -1).max(axis=1)
    labels = np.asarray([s.label for s in samples])
    report = evaluate_scored(maps, samples, scores, labels, resolution="mask", model_hw=(64, 64))
    masks = [np.asarray(Image.open(s.mask_paths[0])) if s.mask_paths
             else np.zeros((96, 96), np.uint8) for s in samples]
    expected = independent_pixel_metrics(maps, masks)
    for key, value in expected.items():
        assert report.values[key] == pytest.approx(value, abs=1e-6), key
    assert report.n_pixels == len(samples) * 96 * 96

    at_model = evaluate_scored(maps, samples, scores, labels, resolution="model",
                               model_hw=(64, 64))
    small = [torch_nearest(k, (64, 64)) > 0 for k in masks]
    y = np.concatenate([k.reshape(-1) for k in small])
    assert at_model.values["pixel_auroc"] == pytest.approx(roc_auc_score(y, maps.reshape(-1)),
                                                           abs=1e-9)
    assert at_model.n_pixels == len(samples) * 64 * 64
    assert np.stack(evaluation_masks(samples, "model", (64, 64))).shape == (len(samples), 64, 64)


def test_maps_are_stored_float32_so_metrics_recompute_exactly(tmp_path: Path, big_data: Path):
    samples = _test_samples(big_data)
    maps = np.random.default_rng(2).random((len(samples), 64, 64)).astype(np.float32) * 7.3
    scores = maps.reshape(len(maps), -1).max(axis=1)
    path = save_anomaly_maps(tmp_path / "maps.npz", maps, [str(s.image_path) for s in samples],
                             scores)
    stored, names, stored_scores = load_anomaly_maps(path)
    assert stored.dtype == np.float32 and np.array_equal(stored, maps)
    assert names == [str(s.image_path) for s in samples]
    labels = np.asarray([s.label for s in samples])
    first = evaluate_scored(maps, samples, scores, labels, resolution="mask", model_hw=(64, 64))
    again = evaluate(list(stored), [load_mask(s) for s in samples], scores=stored_scores,
                     labels=labels)
    assert again.values == first.values
