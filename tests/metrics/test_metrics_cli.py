"""``adlab metrics``: the .npz contract, the official folder layout, errors and import cost."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adlab.metrics import METRIC_KEYS, evaluate, evaluate_per_category
from adlab.metrics.files import load_npz


def _data(seed: int = 0, n: int = 8, size: int = 16):
    rng = np.random.default_rng(seed)
    maps = rng.random((n, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n // 2, n):
        y, x = rng.integers(0, size - 5, 2)
        masks[i, y:y + 4, x:x + 5] = 1
        maps[i, y:y + 4, x:x + 5] += rng.uniform(0, 1)
    return maps, masks


def _json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_npz_json_contract(tmp_path: Path, cli):
    maps, masks = _data()
    path = tmp_path / "run.npz"
    np.savez(path, anomaly_maps=maps, masks=masks)
    out = _json(cli("metrics", str(path), "--json"))
    expected = evaluate(maps, masks).values
    assert list(out)[:7] == list(METRIC_KEYS)
    for key in METRIC_KEYS:
        assert 0.0 <= out[key] <= 1.0
        assert out[key] == pytest.approx(expected[key], abs=1e-12)
    assert out["undefined"] == {} and out["fpr_limit"] == 0.3
    assert out["n_images"] == 8 and out["n_anomalous"] == 4

    limited = _json(cli("metrics", str(path), "--fpr-limit", "0.05", "--json"))
    assert limited["aupro"] == pytest.approx(
        evaluate(maps, masks, fpr_limit=0.05).values["aupro"], abs=1e-12)
    assert limited["aupro"] != out["aupro"]

    human = cli("metrics", str(path))
    assert human.returncode == 0 and "aupro (FPR <= 0.3)" in human.stdout


def test_npz_optional_scores_labels_and_compressed(tmp_path: Path, cli):
    maps, masks = _data(1)
    scores = np.linspace(0, 1, 8)
    labels = np.array([0, 1] * 4)
    path = tmp_path / "run.npz"
    np.savez_compressed(path, anomaly_maps=maps, masks=masks, scores=scores, labels=labels)
    out = _json(cli("metrics", str(path), "--json"))
    expected = evaluate(maps, masks, scores, labels).values
    assert out["image_auroc"] == pytest.approx(expected["image_auroc"])
    assert out["aupro"] == pytest.approx(expected["aupro"])


def test_undefined_metrics_are_null_with_reasons(tmp_path: Path, cli):
    maps, _ = _data()
    path = tmp_path / "normal.npz"
    np.savez(path, anomaly_maps=maps, masks=np.zeros_like(maps, dtype=np.uint8))
    out = _json(cli("metrics", str(path), "--json"))
    assert all(out[k] is None for k in METRIC_KEYS)
    assert "no anomalous image" in out["undefined"]["image_auroc"]
    assert "no defect region" in out["undefined"]["aupro"]


def test_npz_categories_give_per_category_and_mean(tmp_path: Path, cli):
    maps, masks = _data(2, n=12)
    categories = np.array(["screw"] * 6 + ["tile"] * 6)
    order = np.r_[0:3, 6:9, 3:6, 9:12]  # each category gets normal and anomalous images
    maps, masks = maps[order], masks[order]
    path = tmp_path / "cats.npz"
    np.savez(path, anomaly_maps=maps, masks=masks, categories=categories)
    out = _json(cli("metrics", str(path), "--json"))
    expected = evaluate_per_category({"screw": (maps[:6], masks[:6]),
                                      "tile": (maps[6:], masks[6:])})
    assert set(out["per_category"]) == {"screw", "tile"}
    for key in METRIC_KEYS:
        assert out[key] == pytest.approx(expected["mean"].values[key])
        assert out["per_category"]["tile"][key] == pytest.approx(expected["tile"].values[key])


def _write_category(maps_dir: Path, root: Path, name: str, size: tuple[int, int],
                    map_size: tuple[int, int], seed: int) -> None:
    """An MVTec-layout category with 2 good and 3 'crack' images, maps at another size."""
    rng = np.random.default_rng(seed)
    for defect, count in (("good", 2), ("crack", 3)):
        (root / name / "test" / defect).mkdir(parents=True, exist_ok=True)
        (maps_dir / name / "test" / defect).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            stem = f"{i:03d}"
            Image.fromarray(np.zeros((*size, 3), np.uint8)).save(
                root / name / "test" / defect / f"{stem}.png")
            amap = rng.random(map_size).astype(np.float32)
            if defect != "good":
                mask = np.zeros(size, np.uint8)
                mask[2:6, 3:8] = 255
                (root / name / "ground_truth" / defect).mkdir(parents=True, exist_ok=True)
                Image.fromarray(mask).save(
                    root / name / "ground_truth" / defect / f"{stem}_mask.png")
                amap[1:3, 1:4] += 0.8
            Image.fromarray(amap).save(maps_dir / name / "test" / defect / f"{stem}.tiff")


def test_maps_dir_official_layout_per_category(tmp_path: Path, cli):
    maps_dir, root = tmp_path / "maps", tmp_path / "mvtec"
    _write_category(maps_dir, root, "bottle", (12, 16), (6, 8), seed=0)
    _write_category(maps_dir, root, "zipper", (20, 10), (20, 10), seed=1)
    out = _json(cli("metrics", "--maps-dir", str(maps_dir), "--dataset-root", str(root),
                    "--json"))
    assert set(out["per_category"]) == {"bottle", "zipper"}

    from adlab.metrics.files import load_official_layout

    expected = evaluate_per_category(load_official_layout(maps_dir, root))
    for key in METRIC_KEYS:
        assert out[key] == pytest.approx(expected["mean"].values[key], nan_ok=True)
        assert out["per_category"]["bottle"][key] == pytest.approx(
            expected["bottle"].values[key], nan_ok=True)
    assert out["per_category"]["bottle"]["n_pixels"] == 5 * 12 * 16  # resized to the masks
    assert out["per_category"]["zipper"]["n_anomalous"] == 3

    one = _json(cli("metrics", "--maps-dir", str(maps_dir), "--dataset-root", str(root),
                    "--category", "zipper", "--json"))
    assert set(one["per_category"]) == {"zipper"}
    table = cli("metrics", "--maps-dir", str(maps_dir), "--dataset-root", str(root))
    assert table.returncode == 0 and "bottle" in table.stdout and "mean" in table.stdout

    (maps_dir / "bottle" / "test" / "crack" / "001.tiff").unlink()
    missing = cli("metrics", "--maps-dir", str(maps_dir), "--dataset-root", str(root))
    assert missing.returncode == 1 and "001.tiff" in missing.stderr


def test_errors_and_usage(tmp_path: Path, cli):
    maps, masks = _data()
    maps[3, 1, 1] = np.nan
    bad = tmp_path / "nan.npz"
    np.savez(bad, anomaly_maps=maps, masks=masks)
    proc = cli("metrics", str(bad), "--json")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "anomaly_maps[3] contains NaN" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    proc = cli("metrics", str(tmp_path / "nope.npz"))
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, maps=maps)
    proc = cli("metrics", str(wrong))
    assert proc.returncode == 1 and "'anomaly_maps'" in proc.stderr
    assert cli("metrics").returncode == 2
    assert cli("metrics", str(bad), "--maps-dir", str(tmp_path)).returncode == 2
    assert cli("metrics", "--maps-dir", str(tmp_path)).returncode == 2
    proc = cli("metrics", str(bad), "--fpr-limit", "2")
    assert proc.returncode == 1


def test_uncompressed_npz_is_memory_mapped(tmp_path: Path):
    maps, masks = _data()
    path = tmp_path / "run.npz"
    np.savez(path, anomaly_maps=maps, masks=masks, scores=maps.max(axis=(1, 2)))
    data = load_npz(path)
    assert isinstance(data.anomaly_maps, np.memmap)
    np.testing.assert_array_equal(data.anomaly_maps, maps)
    np.testing.assert_array_equal(data.masks, masks)
    np.testing.assert_array_equal(data.scores, maps.max(axis=(1, 2)))


def test_command_imports_neither_torch_nor_sklearn(tmp_path: Path):
    """The metrics command itself adds no torch/anomalib/sklearn import to the CLI's own."""
    maps, masks = _data()
    path = tmp_path / "run.npz"
    np.savez(path, anomaly_maps=maps, masks=masks)
    code = (
        "import sys\n"
        "from adlab.cli import main\n"
        "before = set(sys.modules)\n"
        "try:\n"
        f"    main(['metrics', {str(path)!r}, '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "added = set(sys.modules) - before\n"
        "heavy = sorted(m for m in ('torch', 'anomalib', 'sklearn', 'pandas') if m in added)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "ADLAB_METRICS_DEVICE": "auto"})
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
