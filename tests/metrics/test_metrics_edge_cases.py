"""Edge cases: ties, constant maps, empty masks, one-class sets, resizing, mixed resolutions,
bad values, per-category means."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from adlab.errors import AdlabError
from adlab.metrics import (METRIC_KEYS, MetricInputError, UndefinedMetricWarning, aupro,
                           evaluate, evaluate_per_category, f1_max, image_ap, image_auroc,
                           loco_saturation_area, pixel_auroc, spro)
from adlab.metrics.regions import region_pixel_weights
from adlab.metrics.resize import resize_bilinear
from metrics_reference import official_aupro


def _toy(seed: int = 0, n: int = 6, size: int = 12):
    rng = np.random.default_rng(seed)
    maps = rng.random((n, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    masks[n // 2:, 3:7, 4:9] = 1
    maps[n // 2:, 3:7, 4:9] += 0.5
    return maps, masks


def test_constant_maps_give_chance_values():
    maps = np.full((4, 5, 5), 0.7, dtype=np.float32)
    masks = np.zeros((4, 5, 5), dtype=bool)
    masks[2:, 1:3, 1:3] = True
    r = evaluate(maps, masks)
    assert r.values["pixel_auroc"] == 0.5 and r.values["image_auroc"] == 0.5
    # One merged point (1, 1): the PRO curve is the diagonal, area 0.5 * 0.3^2 / 0.3.
    assert r.values["aupro"] == pytest.approx(0.15, abs=1e-12)
    prevalence = masks.mean()
    assert r.values["pixel_ap"] == pytest.approx(prevalence)
    assert r.values["pixel_f1_max"] == pytest.approx(2 * prevalence / (1 + prevalence))
    assert r.values["image_ap"] == pytest.approx(0.5)


def test_perfect_and_inverted_maps():
    maps, masks = _toy()
    perfect = masks.astype(np.float32)
    r = evaluate(perfect, masks)
    assert all(r.values[k] == pytest.approx(1.0) for k in METRIC_KEYS)
    r = evaluate(-perfect, masks, metrics=("pixel_auroc", "aupro"))
    assert r.values["pixel_auroc"] == pytest.approx(0.0)
    assert r.values["aupro"] == pytest.approx(0.0)


def test_no_anomalous_image_is_undefined_not_a_crash():
    maps = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    masks = np.zeros((3, 8, 8), dtype=np.uint8)
    r = evaluate(maps, masks)
    assert all(math.isnan(v) for v in r.values.values())
    assert set(r.undefined) == set(METRIC_KEYS)
    assert "no anomalous image" in r.undefined["image_auroc"]
    assert "no defect region" in r.undefined["aupro"]
    assert r.n_anomalous == 0
    with pytest.warns(UndefinedMetricWarning, match="no anomalous image"):
        assert math.isnan(image_auroc([0.1, 0.2], [0, 0]))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(aupro(maps, masks))


def test_only_anomalous_images():
    maps, masks = _toy()
    r = evaluate(maps[3:], masks[3:])
    assert "no normal image" in r.undefined["image_auroc"]
    assert r.values["image_ap"] == 1.0 and r.values["image_f1_max"] == 1.0
    assert not math.isnan(r.values["aupro"])  # normal pixels exist inside anomalous images


def test_all_pixels_defective_makes_fpr_undefined():
    maps = np.random.default_rng(1).random((2, 4, 4)).astype(np.float32)
    r = evaluate(maps, np.ones((2, 4, 4)), metrics=("aupro", "pixel_auroc", "pixel_ap"))
    assert "false positive rate" in r.undefined["aupro"]
    assert "defect-free pixel" in r.undefined["pixel_auroc"]
    assert r.values["pixel_ap"] == 1.0


def test_ties_across_classes_count_half():
    scores = np.array([0.5, 0.5, 0.5, 0.9])
    labels = np.array([0, 1, 0, 1])
    assert image_auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert image_auroc(scores, labels) == pytest.approx(0.75)


def test_diagonal_pixels_form_one_region():
    mask = np.zeros((5, 5), dtype=bool)
    mask[[0, 1, 2], [0, 1, 2]] = True  # touching only at corners
    weights, count = region_pixel_weights(mask)
    assert count == 1 and np.allclose(weights, 1 / 3)
    amap = np.zeros((5, 5), dtype=np.float32)
    amap[0, 0] = 1.0  # detects a third of the staircase region
    value = aupro([amap], [mask], 1.0)
    assert value == pytest.approx(official_aupro([amap], [mask], 1.0), abs=1e-12)


def test_aupro_regions_weighted_equally_not_by_size():
    big = np.zeros((20, 20), dtype=bool)
    big[:10, :10] = True
    small = np.zeros((20, 20), dtype=bool)
    small[15, 15] = True
    amap = np.zeros((20, 20), dtype=np.float32)
    amap[15, 15] = 1.0  # the small region fully found, the big one not at all
    masks = [big | small]
    expected = official_aupro([amap], masks, 0.3)
    assert aupro([amap], masks) == pytest.approx(expected, abs=1e-12)
    # PRO is 1/2 at FPR 0; the tied zeros then jump to (1, 1): at FPR 0.3 the interpolated
    # PRO is 0.65, so the area is 0.3 * (0.5 + 0.65) / 2, divided by 0.3.
    assert expected == pytest.approx(0.575, abs=1e-12)


def test_fpr_limit_changes_and_validates():
    maps, masks = _toy()
    values = [evaluate(maps, masks, fpr_limit=lim, metrics=("aupro",)).values["aupro"]
              for lim in (0.05, 0.3, 1.0)]
    assert len(set(values)) == 3
    for bad in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(MetricInputError, match="fpr_limit"):
            evaluate(maps, masks, fpr_limit=bad)


def test_maps_are_resized_to_the_mask_like_torch_bilinear():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    small = rng.random((3, 7, 5)).astype(np.float32)
    for size in ((14, 10), (20, 9), (4, 3)):
        mine = resize_bilinear(small, size)
        ref = torch.nn.functional.interpolate(torch.from_numpy(small)[:, None], size=size,
                                              mode="bilinear", align_corners=False)[:, 0]
        np.testing.assert_allclose(mine, ref.numpy(), atol=1e-6)
        assert mine.dtype == np.float32

    masks = rng.random((3, 14, 10)) < 0.2
    r = evaluate(small, masks)
    big = resize_bilinear(small, (14, 10))
    expected = evaluate(big, masks, scores=small.reshape(3, -1).max(axis=1))
    assert r.values == pytest.approx(expected.values, nan_ok=True)
    assert r.n_pixels == masks.size


def test_images_of_different_sizes_in_one_set():
    rng = np.random.default_rng(4)
    shapes = [(6, 6), (9, 4), (3, 11)]
    maps = [rng.random(s).astype(np.float32) for s in shapes]
    masks = [rng.random(s) < 0.3 for s in shapes]
    r = evaluate(maps, masks)
    flat_scores = np.concatenate([m.ravel() for m in maps])
    flat_truth = np.concatenate([k.ravel() for k in masks])
    assert r.values["pixel_auroc"] == pytest.approx(roc_auc_score(flat_truth, flat_scores))
    assert r.values["aupro"] == pytest.approx(official_aupro(maps, masks), abs=1e-9)


def test_categories_with_different_resolutions_and_nan_aware_mean():
    a_maps, a_masks = _toy(1, size=12)
    b_maps, b_masks = _toy(2, size=20)
    c_maps = np.random.default_rng(5).random((3, 8, 8)).astype(np.float32)
    c_masks = np.zeros((3, 8, 8))  # no anomalous image: every metric undefined there
    reports = evaluate_per_category({"a": (a_maps, a_masks), "b": (b_maps, b_masks),
                                     "c": (c_maps, c_masks)})
    assert list(reports) == ["a", "b", "c", "mean"]
    for name, (maps, masks) in {"a": (a_maps, a_masks), "b": (b_maps, b_masks)}.items():
        assert reports[name].values == pytest.approx(evaluate(maps, masks).values)
    mean = reports["mean"]
    for key in METRIC_KEYS:
        assert mean.values[key] == pytest.approx(
            (reports["a"].values[key] + reports["b"].values[key]) / 2)
        assert "2 of 3" in mean.notes[key] and "c" in mean.notes[key]
    assert mean.n_images == 6 + 6 + 3
    only_c = evaluate_per_category({"c": (c_maps, c_masks)})
    assert math.isnan(only_c["mean"].values["aupro"])
    assert only_c["mean"].undefined["aupro"] == "undefined in every category"
    with pytest.raises(MetricInputError, match="reserved"):
        evaluate_per_category({"mean": (a_maps, a_masks)})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_maps_are_a_clear_error(bad):
    maps, masks = _toy()
    maps[4, 2, 2] = bad
    with pytest.raises(MetricInputError, match=r"anomaly_maps\[4\] contains NaN or infinite"):
        evaluate(maps, masks)
    with pytest.raises(MetricInputError, match=r"anomaly_maps\[4\]"):
        evaluate(list(maps), list(masks))
    assert issubclass(MetricInputError, AdlabError) and issubclass(MetricInputError, ValueError)


def test_bad_scores_labels_masks_and_shapes():
    maps, masks = _toy()
    with pytest.raises(MetricInputError, match="scores"):
        evaluate(maps, masks, scores=np.full(6, np.nan))
    with pytest.raises(MetricInputError, match="labels must be 0"):
        evaluate(maps, masks, labels=np.arange(6))
    with pytest.raises(MetricInputError, match="6 images but masks has 5"):
        evaluate(maps, masks[:5])
    with pytest.raises(MetricInputError, match="negative"):
        evaluate(maps, -masks.astype(np.int16))
    with pytest.raises(MetricInputError, match="unknown metric"):
        evaluate(maps, masks, metrics=("auroc",))
    with pytest.raises(MetricInputError, match="shape"):
        evaluate(maps[0, 0], masks[0, 0])
    with pytest.raises(MetricInputError, match="empty"):
        evaluate(np.empty((0, 4, 4)), np.empty((0, 4, 4)))


def test_mask_encodings_and_shapes_are_equivalent():
    maps, masks = _toy()
    base = evaluate(maps, masks).values
    assert evaluate(maps, masks.astype(bool)).values == base
    assert evaluate(maps, masks * 255).values == base
    assert evaluate(maps, masks.astype(np.float32)).values == base
    assert evaluate(maps[:, None], masks[:, None]).values == base  # (N, 1, H, W)
    assert evaluate(maps.astype(np.float16).astype(np.float32), masks).values is not None


def test_given_scores_and_labels_override_defaults():
    maps, masks = _toy()
    scores = np.linspace(0, 1, 6)
    labels = np.array([0, 1, 0, 1, 0, 1])
    r = evaluate(maps, masks, scores, labels, metrics=("image_auroc", "image_ap"))
    assert list(r.values) == ["image_auroc", "image_ap"]
    assert r.values["image_auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert image_ap(scores, labels) == pytest.approx(r.values["image_ap"])
    assert r.n_anomalous == 3


def test_f1_max_returns_the_threshold():
    f1, threshold = f1_max([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert f1 == pytest.approx(0.8) and threshold == pytest.approx(0.35)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        assert all(math.isnan(v) for v in f1_max([0.1, 0.2], [0, 0]))


def test_pixel_auroc_does_not_squash_scores():
    """Raw scores far outside [0, 1]: no sigmoid, so ties are not created."""
    maps = np.array([[[1e6, 2e6], [3e6, 4e6]]], dtype=np.float64)
    masks = np.array([[[0, 0], [1, 1]]])  # a sigmoid would tie all four at 1.0 -> 0.5
    assert pixel_auroc(maps, masks) == pytest.approx(1.0)


def test_report_json_shape():
    maps = np.zeros((2, 3, 3), dtype=np.float32)
    d = evaluate(maps, np.zeros((2, 3, 3))).to_dict()
    assert list(d)[:7] == list(METRIC_KEYS)
    assert all(d[k] is None for k in METRIC_KEYS)
    assert set(d["undefined"]) == set(METRIC_KEYS)


def test_loco_saturation_rule_and_spro_saturates():
    assert loco_saturation_area(200, 0.5, True) == 100.0
    assert loco_saturation_area(200, 50, False) == 50.0
    assert loco_saturation_area(30, 50, False) == 30.0
    amap = np.zeros((10, 10), dtype=np.float32)
    defect = np.zeros((10, 10), dtype=bool)
    defect[:4, :4] = True  # 16 pixels
    amap[0, :4] = 1.0  # 4 of them found at the top threshold
    # Saturation at 4 pixels: sPRO is 1 from FPR 0 on; without saturation only 1/4.
    assert spro([amap], [[defect]], [[4]], fpr_limit=0.3) == pytest.approx(1.0)
    assert spro([amap], [[defect]], [[16]], fpr_limit=0.3) < 0.5
    with pytest.raises(MetricInputError, match="empty"):
        spro([amap], [[np.zeros((10, 10), bool)]], [[4]])
