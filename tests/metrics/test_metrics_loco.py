"""``adlab metrics --loco``: AU-sPRO and per-type image AUROC of MVTec LOCO AD maps on disk,
checked against a brute-force computation written here from the official definitions."""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from adlab.errors import AdlabError
from adlab.cli.metrics_loco import evaluate_loco
from adlab.metrics.loco_eval import OFFICIAL_SPRO_LIMITS
from adlab.metrics.resize import resize_bilinear

TYPES = ("logical_anomalies", "structural_anomalies")
SHORT = {"logical_anomalies": "logical", "structural_anomalies": "structural"}
# Two relative and two absolute saturation rules; 200 on a 1-pixel defect gives int(0.5) = 0,
# which sPRO raises to one pixel; 100 saturates above any defect here, so it becomes the area.
CONFIG = [
    {"defect_name": "missing_item", "pixel_value": 255, "saturation_threshold": 1.0,
     "relative_saturation": True},
    {"defect_name": "wrong_count", "pixel_value": 200, "saturation_threshold": 0.5,
     "relative_saturation": True},
    {"defect_name": "scratch", "pixel_value": 150, "saturation_threshold": 9,
     "relative_saturation": False},
    {"defect_name": "contamination", "pixel_value": 100, "saturation_threshold": 400,
     "relative_saturation": False},
]
BY_VALUE = {e["pixel_value"]: e for e in CONFIG}


@dataclass
class WrittenImage:
    anomaly_type: str
    stem: str
    anomaly_map: np.ndarray  # as written to the TIFF
    defects: list[tuple[np.ndarray, int]] = field(default_factory=list)  # (mask, pixel value)


def _defect_boxes(rng: np.random.Generator, size: tuple[int, int], index: int
                  ) -> list[tuple[slice, slice, int]]:
    """Rectangles (overlapping sometimes) with pixel values that use every saturation rule:
    image 0 a relative half, image 1 a 1-pixel defect (int(0.5) = 0 -> 1) and an absolute cap
    above its area, image 2 an absolute 9-pixel cap below its area and a full relative one."""
    height, width = size
    values = {0: [200], 1: [200, 100], 2: [150, 255]}.get(index, [255])
    boxes = []
    for value in values:
        h, w = int(rng.integers(4, 9)), int(rng.integers(4, 9))
        y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
        boxes.append((slice(y, y + h), slice(x, x + w), value))
    if index == 1:
        boxes[0] = (slice(3, 4), slice(5, 6), 200)
    return boxes


def write_category(root: Path, maps_dir: Path, name: str, size: tuple[int, int], seed: int, *,
                   counts: dict[str, int] | None = None, quantize: bool = False,
                   map_size: tuple[int, int] | None = None) -> list[WrittenImage]:
    """A LOCO-layout category (train/good, test/<type>, ground_truth/<type>/<stem>/NNN.png,
    defects_config.json) and one TIFF map per test image; returns what was written."""
    rng = np.random.default_rng(seed)
    counts = counts or {"good": 3, "logical_anomalies": 3, "structural_anomalies": 3}
    cat = root / name
    (cat / "train" / "good").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(cat / "train" / "good" / "000.png")
    (cat / "defects_config.json").write_text(json.dumps(CONFIG))
    images = []
    for anomaly_type, count in counts.items():
        (cat / "test" / anomaly_type).mkdir(parents=True, exist_ok=True)
        (maps_dir / name / "test" / anomaly_type).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            stem = f"{i:03d}"
            Image.fromarray(np.full((*size, 3), 40 * i, np.uint8)).save(
                cat / "test" / anomaly_type / f"{stem}.png")
            amap = rng.random(size) * 0.6
            defects = []
            if anomaly_type != "good":
                gt = cat / "ground_truth" / anomaly_type / stem
                gt.mkdir(parents=True)
                for j, (ys, xs, value) in enumerate(_defect_boxes(rng, size, i)):
                    values = np.zeros(size, np.uint8)
                    values[ys, xs] = value
                    Image.fromarray(values).save(gt / f"{j:03d}.png")
                    defects.append((values > 0, value))
                    amap[ys, xs] += rng.uniform(0.0, 0.8)
            if quantize:  # many tied scores, between and within classes
                amap = np.round(amap * 10) / 10
            amap = amap.astype(np.float32)
            if map_size is not None:
                amap = amap[::size[0] // map_size[0], ::size[1] // map_size[1]].copy()
            tifffile.imwrite(maps_dir / name / "test" / anomaly_type / f"{stem}.tiff", amap)
            images.append(WrittenImage(anomaly_type, stem, amap, defects))
    return images


# ---------------------------------------------------------------- brute-force reference

def _saturation(area: int, value: int) -> float:
    entry = BY_VALUE[value]
    if entry["relative_saturation"]:
        sat = int(entry["saturation_threshold"] * area)
    else:
        sat = min(entry["saturation_threshold"], area)
    return max(float(sat), 1.0)


def brute_spro(images: list[WrittenImage], limit: float) -> float:
    """Threshold at every distinct score t (a pixel is predicted when score >= t): sPRO = mean
    over defects of min(TP / S, 1), FPR over the pixels of no defect; the curve from (0, 0),
    trapezoids up to the limit, the last one cut with a linearly interpolated height."""
    negatives, defects = [], []
    for im in images:
        union = np.zeros(im.anomaly_map.shape, bool)
        for mask, value in im.defects:
            union |= mask
            defects.append((np.sort(im.anomaly_map[mask]), _saturation(int(mask.sum()), value)))
        negatives.append(im.anomaly_map[~union])
    neg = np.sort(np.concatenate(negatives))
    thresholds = np.unique(np.concatenate([neg] + [d for d, _ in defects]))[::-1]
    fpr = (len(neg) - np.searchsorted(neg, thresholds, side="left")) / len(neg)
    per_defect = [np.minimum((len(d) - np.searchsorted(d, thresholds, side="left")) / s, 1.0)
                  for d, s in defects]
    xs = np.concatenate(([0.0], fpr))
    ys = np.concatenate(([0.0], np.mean(per_defect, axis=0)))
    area = 0.0
    for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]):
        if x0 >= limit:
            break
        if x1 <= limit:
            area += (x1 - x0) * (y0 + y1) / 2
        else:
            y_limit = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            area += (limit - x0) * (y0 + y_limit) / 2
            break
    return area / limit


def brute_auroc(positives: list[float], negatives: list[float]) -> float:
    """Pairwise comparisons: a positive above a negative counts 1, a tie one half."""
    if not positives or not negatives:
        return math.nan
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def expected_category(images: list[WrittenImage], limits=OFFICIAL_SPRO_LIMITS) -> dict[str, float]:
    good = [im for im in images if im.anomaly_type == "good"]
    good_scores = [float(im.anomaly_map.max()) for im in good]
    out: dict[str, float] = {}
    for limit in limits:
        per_type = {}
        for anomaly_type in TYPES:
            subset = [im for im in images if im.anomaly_type == anomaly_type]
            per_type[anomaly_type] = brute_spro(subset + good, limit) if subset else math.nan
            out[f"spro_{SHORT[anomaly_type]}@{float(limit)}"] = per_type[anomaly_type]
        out[f"spro@{float(limit)}"] = float(np.nanmean(list(per_type.values())))
    for anomaly_type in TYPES:
        scores = [float(im.anomaly_map.max()) for im in images if im.anomaly_type == anomaly_type]
        out[f"auroc_{SHORT[anomaly_type]}"] = brute_auroc(scores, good_scores)
    out["auroc_all"] = brute_auroc(
        [float(im.anomaly_map.max()) for im in images if im.anomaly_type != "good"], good_scores)
    out["auroc_mean"] = (out["auroc_logical"] + out["auroc_structural"]) / 2
    return out


def _close(actual, expected) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return actual == pytest.approx(expected, abs=1e-9)


@pytest.fixture
def loco(tmp_path: Path):
    """Two categories: 'box' 32x32 with heavily tied scores, 'bottle' 24x40 continuous."""
    root, maps_dir = tmp_path / "loco", tmp_path / "maps"
    spec = {"box": write_category(root, maps_dir, "box", (32, 32), seed=0, quantize=True),
            "bottle": write_category(root, maps_dir, "bottle", (24, 40), seed=1)}
    return root, maps_dir, spec


def _json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# ---------------------------------------------------------------- tests

def test_api_matches_brute_force(loco):
    root, maps_dir, spec = loco
    reports = evaluate_loco(maps_dir, root)
    assert list(reports) == ["bottle", "box", "mean"]
    for name, images in spec.items():
        expected = expected_category(images)
        report = reports[name]
        assert set(report.values) == set(expected)
        for key, value in expected.items():
            assert _close(report.values[key], value), (name, key, report.values[key], value)
            assert 0.0 < report.values[key] <= 1.0
        assert report.undefined == {} and report.notes == {}
        assert report.counts == {"n_images": 9, "n_good": 3, "n_logical": 3,
                                 "n_structural": 3,
                                 "n_defects": sum(len(im.defects) for im in images)}
    for key, value in reports["mean"].values.items():
        assert value == pytest.approx(
            (reports["box"].values[key] + reports["bottle"].values[key]) / 2, abs=1e-12)
    # the limits matter: the area up to 0.01 is not the area up to 1
    assert reports["box"].values["spro@0.01"] != reports["box"].values["spro@1.0"]


def test_cli_json_table_limits_and_category(loco, cli):
    root, maps_dir, spec = loco
    out = _json(cli("metrics", "--loco", "--maps-dir", str(maps_dir), "--dataset-root",
                    str(root), "--json"))
    keys = [f"spro@{limit}" for limit in OFFICIAL_SPRO_LIMITS]
    assert list(out)[:5] == keys
    assert set(out["per_category"]) == {"box", "bottle"}
    assert out["spro_limits"] == list(OFFICIAL_SPRO_LIMITS)
    assert out["n_images"] == 18 and out["undefined"] == {}
    assert out["n_defects"] == sum(len(im.defects) for ims in spec.values() for im in ims)
    for name, images in spec.items():
        for key, value in expected_category(images).items():
            assert _close(out["per_category"][name][key], value), (name, key)
    for key in ("spro@0.3", "auroc_logical", "auroc_structural", "auroc_all"):
        per = [out["per_category"][n][key] for n in ("box", "bottle")]
        assert out[key] == pytest.approx(sum(per) / 2, abs=1e-12)

    own = _json(cli("metrics", "--loco", "--maps-dir", str(maps_dir), "--dataset-root",
                    str(root), "--category", "box", "--spro-limit", "0.2", "--spro-limit",
                    "0.05", "--json"))
    assert set(own["per_category"]) == {"box"}
    assert own["spro_limits"] == [0.05, 0.2]
    assert [k for k in own if k.startswith("spro")] == [
        "spro@0.05", "spro@0.2", "spro_logical@0.05", "spro_logical@0.2",
        "spro_structural@0.05", "spro_structural@0.2", "spro_limits"]
    expected = expected_category(spec["box"], limits=(0.05, 0.2))
    for key, value in expected.items():
        assert _close(own[key], value), key

    table = cli("metrics", "--loco", "--maps-dir", str(maps_dir), "--dataset-root", str(root))
    assert table.returncode == 0, table.stderr
    for text in ("box", "bottle", "mean", "spro@0.3", "spro_structural@0.01", "auroc_all"):
        assert text in table.stdout


def test_maps_of_another_size_are_resized_to_the_masks(tmp_path: Path):
    root, small_dir, full_dir = tmp_path / "loco", tmp_path / "small", tmp_path / "full"
    images = write_category(root, small_dir, "box", (32, 32), seed=2, map_size=(16, 16))
    for im in images:  # the same maps, resized beforehand to the ground-truth grid
        path = full_dir / "box" / "test" / im.anomaly_type / f"{im.stem}.tiff"
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, resize_bilinear(im.anomaly_map, (32, 32)))
    small = evaluate_loco(small_dir, root)["box"]
    full = evaluate_loco(full_dir, root)["box"]
    for key, value in full.values.items():
        if key.startswith("spro"):
            assert small.values[key] == pytest.approx(value, abs=1e-12), key
    # image scores are the maxima of the maps as written, before resizing
    scores = {t: [float(im.anomaly_map.max()) for im in images if im.anomaly_type == t]
              for t in ("good", *TYPES)}
    for anomaly_type in TYPES:
        assert small.values[f"auroc_{SHORT[anomaly_type]}"] == pytest.approx(
            brute_auroc(scores[anomaly_type], scores["good"]), abs=1e-12)
    assert small.values["auroc_all"] == pytest.approx(
        brute_auroc(scores[TYPES[0]] + scores[TYPES[1]], scores["good"]), abs=1e-12)


def test_undefined_values_are_null_with_reasons(tmp_path: Path, cli):
    root, maps_dir = tmp_path / "loco", tmp_path / "maps"
    only_logical = write_category(root, maps_dir, "box", (32, 32), seed=3,
                                  counts={"good": 2, "logical_anomalies": 3})
    write_category(root, maps_dir, "bottle", (32, 32), seed=4,
                   counts={"logical_anomalies": 2, "structural_anomalies": 2})
    out = _json(cli("metrics", "--loco", "--maps-dir", str(maps_dir), "--dataset-root",
                    str(root), "--spro-limit", "0.3", "--json"))
    box, bottle = out["per_category"]["box"], out["per_category"]["bottle"]

    assert box["spro_structural@0.3"] is None and box["auroc_structural"] is None
    assert box["undefined"]["spro_structural@0.3"] == \
        "undefined: there is no structural_anomalies test image"
    assert "no structural_anomalies test image" in box["undefined"]["auroc_structural"]
    expected = expected_category(only_logical, limits=(0.3,))
    assert box["spro@0.3"] == pytest.approx(expected["spro_logical@0.3"], abs=1e-9)
    assert box["spro@0.3"] == box["spro_logical@0.3"]
    assert box["auroc_mean"] == box["auroc_logical"] == pytest.approx(
        expected["auroc_logical"], abs=1e-12)
    assert "mean over 1 of 2 anomaly types; undefined in structural_anomalies" in box["notes"]["spro@0.3"]

    # no good image: no AUROC at all, but sPRO still has defect-free pixels in anomalous images
    for key in ("auroc_logical", "auroc_structural", "auroc_all", "auroc_mean"):
        assert bottle[key] is None and "undefined" in bottle["undefined"][key]
    assert "no good test image" in bottle["undefined"]["auroc_all"]
    assert 0.0 < bottle["spro@0.3"] <= 1.0

    assert out["auroc_all"] == box["auroc_all"]
    assert "undefined in bottle" in out["notes"]["auroc_all"]
    assert out["spro_structural@0.3"] == bottle["spro_structural@0.3"]
    assert "undefined in box" in out["notes"]["spro_structural@0.3"]


def _fails(cli, root: Path, maps_dir: Path, *needles: str) -> None:
    proc = cli("metrics", "--loco", "--maps-dir", str(maps_dir), "--dataset-root", str(root),
               "--json")
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in errors[0], proc.stderr


def test_bad_inputs_exit_1_with_one_clear_message(loco, cli):
    root, maps_dir, _ = loco
    gt = root / "box" / "ground_truth" / "structural_anomalies" / "001"

    tiff = maps_dir / "box" / "test" / "logical_anomalies" / "002.tiff"
    moved = tiff.with_name("keep.bin")
    tiff.rename(moved)
    _fails(cli, root, maps_dir, "no anomaly map", str(tiff), "<category>/test/<defect>/")
    moved.rename(tiff)

    mask_path = gt / "000.png"
    original = mask_path.read_bytes()
    unknown = np.zeros((32, 32), np.uint8)
    unknown[4:8, 4:8] = 77
    Image.fromarray(unknown).save(mask_path)
    _fails(cli, root, maps_dir, str(mask_path), "pixel value 77", "defects_config.json",
           '"pixel_value": 77')

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(mask_path)
    _fails(cli, root, maps_dir, str(mask_path), "no defect pixel")

    unknown[0, 0] = 255
    Image.fromarray(unknown).save(mask_path)
    _fails(cli, root, maps_dir, str(mask_path), "several defect pixel values (77, 255)")
    mask_path.write_bytes(original)

    shutil.rmtree(gt)
    _fails(cli, root, maps_dir, "structural_anomalies/001.png", "has no ground truth",
           "000.png")


def test_api_errors_are_adlab_errors(loco):
    root, maps_dir, _ = loco
    (root / "box" / "defects_config.json").write_text(json.dumps(CONFIG[1:]))
    with pytest.raises(AdlabError, match="pixel value 255.*does not list"):
        evaluate_loco(maps_dir, root, ["box"])
    with pytest.raises(AdlabError, match="fpr_limit must lie in"):
        evaluate_loco(maps_dir, root, ["bottle"], spro_limits=[0.0])
    with pytest.raises(AdlabError, match="no category 'tile'"):
        evaluate_loco(maps_dir, root, ["tile"])
    odd = root / "bottle" / "test" / "crack"
    odd.mkdir()
    Image.fromarray(np.zeros((24, 40, 3), np.uint8)).save(odd / "000.png")
    (root / "bottle" / "ground_truth" / "crack" / "000").mkdir(parents=True)
    with pytest.raises(AdlabError, match="crack is neither good, logical_anomalies nor"):
        evaluate_loco(maps_dir, root, ["bottle"])


def test_usage_errors_exit_2(loco, cli):
    root, maps_dir, _ = loco
    both = ("--maps-dir", str(maps_dir), "--dataset-root", str(root))
    assert cli("metrics", "--loco").returncode == 2
    assert cli("metrics", "--loco", "--maps-dir", str(maps_dir)).returncode == 2
    assert cli("metrics", *both, "--spro-limit", "0.3").returncode == 2
    for bad in ("0", "1.5"):
        proc = cli("metrics", "--loco", *both, "--spro-limit", bad)
        assert proc.returncode == 2 and "--spro-limit must lie in (0, 1]" in proc.stderr
    proc = cli("metrics", "--loco", *both, "--fpr-limit", "0.1")
    assert proc.returncode == 2 and "--spro-limit" in proc.stderr
