"""Prediction records, defect location, thresholds YAML and map storage (numpy only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from adlab.errors import ConfigError
from adlab.pipelines.components.predictions import (
    Thresholds, defect_location, load_anomaly_maps, prediction_record, region_name,
    save_anomaly_maps, validate_record,
)


@pytest.mark.parametrize("x, y, name", [
    (5, 5, "top-left"), (50, 5, "top-center"), (95, 5, "top-right"),
    (5, 50, "middle-left"), (50, 50, "center"), (95, 50, "middle-right"),
    (5, 95, "bottom-left"), (50, 95, "bottom-center"), (99.9, 99.9, "bottom-right"),
])
def test_region_is_the_3x3_grid_cell(x: float, y: float, name: str) -> None:
    assert region_name(x, y, 100, 100) == name


def test_location_box_is_scaled_to_the_original_image() -> None:
    amap = np.zeros((64, 64), dtype=np.float32)
    amap[8:16, 40:56] = 1.0  # 8 rows x 16 cols, top right
    amap[60, 0] = 1.0  # a smaller second region counts in the area but not in the box
    loc = defect_location(amap, 0.5, True, original_hw=(128, 256))
    assert loc["has_defect"] and loc["region"] == "top-right"
    assert loc["bbox"] == [160, 16, 224, 32]
    assert loc["center"] == [192, 24]
    assert loc["area_ratio"] == pytest.approx((8 * 16 + 1) / 64 ** 2, abs=1e-6)


def test_normal_image_has_no_defect_and_anomalous_one_is_always_located() -> None:
    amap = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    assert defect_location(amap, 0.5, False, (32, 32))["has_defect"] is False
    below = defect_location(amap, 5.0, True, (32, 32))  # threshold above the whole map
    assert below["has_defect"] and below["region"].startswith("bottom")


def test_record_follows_the_seed_schema() -> None:
    amap = np.zeros((16, 16), dtype=np.float32)
    amap[6:10, 6:10] = 3.0
    record = prediction_record(image_path="GoodsAD/cigarette_box/test/bad/001.jpg", score=3.14,
                               threshold=3.0, pixel_threshold=2.0, anomaly_map=amap,
                               original_hw=(160, 160), dataset="GoodsAD", category="cigarette_box",
                               model_type="patchcore")
    validate_record(record)
    assert record["is_anomaly"] is True and record["threshold_used"] == 3.0
    assert record["defect_location"]["region"] == "center"
    assert record["metadata"] == {"dataset": "GoodsAD", "class_name": "cigarette_box", "model_type": "patchcore"}
    broken = {**record, "defect_location": {"has_defect": True}}
    with pytest.raises(ValueError, match="defect_location"):
        validate_record(broken)


def test_thresholds_yaml_round_trip_and_seed_shape(tmp_path: Path) -> None:
    t = Thresholds(global_=2.86, categories={"GoodsAD/cigarette_box": 3.43, "MVTec-LOCO/pushpins": 2.8},
                   pixel_global=1.5, pixel_categories={"GoodsAD/cigarette_box": 1.2})
    path = t.to_yaml(tmp_path / "thresholds.yaml")
    doc = yaml.safe_load(path.read_text())
    assert doc["global"] == 2.86 and doc["categories"]["GoodsAD/cigarette_box"] == 3.43
    back = Thresholds.from_yaml(path)
    assert back.image("GoodsAD/cigarette_box") == 3.43 and back.image("other/x") == 2.86
    assert back.pixel("GoodsAD/cigarette_box") == 1.2 and back.pixel("MVTec-LOCO/pushpins") == 1.5
    (tmp_path / "bad.yaml").write_text("categories: {}\n")
    with pytest.raises(ConfigError, match="expected `global"):
        Thresholds.from_yaml(tmp_path / "bad.yaml")


def test_anomaly_maps_store_is_float32_with_image_order(tmp_path: Path) -> None:
    # float32 since issue 16: metrics recomputed from the stored maps equal the recorded ones
    maps = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    path = save_anomaly_maps(tmp_path / "maps.npz", maps, ["a.png", "b.png", "c.png"], np.array([1, 2, 3]))
    back, paths, scores = load_anomaly_maps(path)
    assert paths == ["a.png", "b.png", "c.png"] and scores.tolist() == [1, 2, 3]
    assert np.array_equal(back, maps)
    with np.load(path) as raw:
        assert raw["anomaly_maps"].dtype == np.float32
