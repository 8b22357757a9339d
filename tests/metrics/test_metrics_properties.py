"""Property tests: adlab's metrics equal scikit-learn and independent references of the official
AU-PRO / sPRO algorithms to 1e-6 on random inputs with ties, several regions, diagonal
neighbours, empty masks and different image sizes."""
from __future__ import annotations

import math
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from adlab.metrics import evaluate, spro
from adlab.metrics.pixel_order import rank_scores
from metrics_reference import (brute_force_curve, official_aupro, regions_of,
                                     sklearn_f1_max, trapezoid_to)

TOL = 1e-6
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Few distinct levels force ties (within and across classes); floats exercise the general case.
tied_values = st.integers(0, 4).map(float)
float_values = st.floats(-3, 3, width=32, allow_nan=False, allow_infinity=False)
limits = st.one_of(st.sampled_from([0.3, 1.0, 0.5, 0.05]), st.floats(0.01, 1.0))


@st.composite
def image_sets(draw, same_size: bool = True):
    """(maps, masks): lists of 2-D float32 maps and boolean masks."""
    n = draw(st.integers(1, 4))
    values = draw(st.sampled_from([tied_values, float_values]))
    density = draw(st.sampled_from([0.0, 0.1, 0.3, 0.6]))
    shape = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    maps, masks = [], []
    for _ in range(n):
        if not same_size:
            shape = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
        maps.append(draw(hnp.arrays(np.float32, shape, elements=values)))
        bits = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1)))
        masks.append(bits < density)
    return maps, masks


def _flat(maps, masks):
    return (np.concatenate([m.ravel() for m in maps]).astype(np.float64),
            np.concatenate([k.ravel() for k in masks]))


@SETTINGS
@given(data=image_sets(same_size=False), limit=limits)
def test_pixel_metrics_match_references(data, limit):
    maps, masks = data
    report = evaluate(maps, masks, fpr_limit=limit, device="cpu")
    scores, truth = _flat(maps, masks)
    if truth.all() or not truth.any():
        assert math.isnan(report.values["pixel_auroc"])
        assert "pixel_auroc" in report.undefined and "aupro" in report.undefined
        return
    assert report.values["pixel_auroc"] == pytest.approx(roc_auc_score(truth, scores), abs=TOL)
    assert report.values["pixel_ap"] == pytest.approx(
        average_precision_score(truth, scores), abs=TOL)
    assert report.values["pixel_f1_max"] == pytest.approx(sklearn_f1_max(truth, scores), abs=TOL)
    assert report.values["aupro"] == pytest.approx(official_aupro(maps, masks, limit), abs=TOL)
    fprs, pros = brute_force_curve(maps, [regions_of(k) for k in masks])
    assert report.values["aupro"] == pytest.approx(trapezoid_to(fprs, pros, limit) / limit,
                                                   abs=TOL)


@SETTINGS
@given(data=image_sets())
def test_image_metrics_match_sklearn(data):
    maps, masks = data
    report = evaluate(np.stack(maps), np.stack(masks), device="cpu")
    scores = np.array([m.max() for m in maps], dtype=np.float64)
    labels = np.array([k.any() for k in masks])
    if labels.all() or not labels.any():
        assert "image_auroc" in report.undefined
    else:
        assert report.values["image_auroc"] == pytest.approx(roc_auc_score(labels, scores),
                                                             abs=TOL)
    if labels.any():
        assert report.values["image_ap"] == pytest.approx(
            average_precision_score(labels, scores), abs=TOL)
        assert report.values["image_f1_max"] == pytest.approx(sklearn_f1_max(labels, scores),
                                                              abs=TOL)
        # The returned threshold reaches the best F1 when predicting score >= threshold.
        predicted = scores >= report.thresholds["image_f1_max"]
        tp = int((predicted & labels).sum())
        f1 = 2 * tp / (predicted.sum() + labels.sum())
        assert f1 == pytest.approx(report.values["image_f1_max"], abs=TOL)
    else:
        assert math.isnan(report.values["image_ap"]) and "image_ap" in report.undefined


@st.composite
def loco_sets(draw):
    n = draw(st.integers(1, 3))
    shape = (draw(st.integers(2, 6)), draw(st.integers(2, 6)))
    values = draw(st.sampled_from([tied_values, float_values]))
    maps, defects, areas = [], [], []
    for _ in range(n):
        maps.append(draw(hnp.arrays(np.float32, shape, elements=values)))
        image_defects, image_areas = [], []
        for _ in range(draw(st.integers(0, 2))):
            mask = draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
            if not mask.any():
                continue
            image_defects.append(mask)
            image_areas.append(draw(st.floats(0.5, 1.5 * mask.sum())))
        defects.append(image_defects)
        areas.append(image_areas)
    return maps, defects, areas


@SETTINGS
@given(data=loco_sets(), limit=limits)
def test_spro_matches_brute_force(data, limit):
    maps, defects, areas = data
    n_defects = sum(len(d) for d in defects)
    normal = sum(int((~np.any(np.array(d), axis=0)).sum()) if d else m.size
                 for m, d in zip(maps, defects))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = spro(maps, defects, areas, fpr_limit=limit)
    if n_defects == 0 or normal == 0:
        assert math.isnan(value)
        return
    saturation = [[max(a, 1.0) for a in image_areas] for image_areas in areas]
    fprs, ys = brute_force_curve(maps, defects, saturation)
    assert value == pytest.approx(trapezoid_to(fprs, ys, limit) / limit, abs=TOL)


@SETTINGS
@given(data=image_sets(), limit=limits)
def test_spro_with_region_masks_and_full_saturation_equals_aupro(data, limit):
    """With one defect per 8-connected region and S = region size, sPRO is AU-PRO."""
    maps, masks = data
    defects = [regions_of(k) for k in masks]
    areas = [[float(d.sum()) for d in ds] for ds in defects]
    if not any(defects) or all(k.all() for k in masks):
        return
    expected = evaluate(maps, masks, fpr_limit=limit, metrics=("aupro",), device="cpu")
    assert spro(maps, defects, areas, fpr_limit=limit) == pytest.approx(
        expected.values["aupro"], abs=TOL)


def test_torch_path_ranks_exactly_like_numpy():
    torch = pytest.importorskip("torch")
    from adlab.metrics._inputs import prepare_pixels
    from adlab.metrics.evaluate import _pixel_metrics, MetricReport
    from adlab.metrics.gpu import rank_arrays_torch, rank_pixels_torch
    from adlab.metrics.pixels import rank_pixels_cpu

    rng = np.random.default_rng(3)
    maps = rng.integers(0, 50, (12, 16, 16)).astype(np.float32)
    masks = rng.random((12, 16, 16)) < 0.15
    neg, pos, w = maps[~masks], maps[masks], rng.random(int(masks.sum()))
    a = rank_scores(neg, pos, w)
    b = rank_arrays_torch(neg, pos, w, "cpu")
    for field in ("values", "counts", "below", "tied"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)
    assert a.negatives.kth_largest(7) == b.negatives.kth_largest(7)

    inputs = prepare_pixels(maps, masks)
    keys = ("pixel_auroc", "aupro", "pixel_f1_max", "pixel_ap")
    reports = []
    for ranked, regions in (rank_pixels_cpu(inputs, with_regions=True),
                            rank_pixels_torch(inputs, with_regions=True, device="cpu")):
        report = MetricReport({}, {}, 12, 0, maps.size)
        _pixel_metrics(ranked, regions, keys, 0.3, report)
        reports.append(report.values)
    for key in keys:
        assert reports[0][key] == pytest.approx(reports[1][key], abs=1e-12)
    assert torch.__version__


@pytest.mark.gpu
def test_cuda_path_equals_cpu_path():
    from adlab.metrics.gpu import cuda_usable

    if not cuda_usable():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(7)
    maps = rng.random((40, 64, 64)).astype(np.float32).round(3)  # rounding adds ties
    masks = np.zeros((40, 64, 64), dtype=bool)
    masks[20:, 10:30, 5:25] = True
    cpu = evaluate(maps, masks, device="cpu").values
    gpu = evaluate(maps, masks, device="cuda").values
    assert gpu == pytest.approx(cpu, abs=1e-9)
