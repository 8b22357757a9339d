"""Per-image predictions in the seed's AD predictions JSON format, thresholds, and map storage.

The record (one per image) is what the MMAD pipeline hands to the LLM as ``ad_info``::

    {"image_path": "GoodsAD/cigarette_box/test/bad/001.jpg", "anomaly_score": 3.14,
     "is_anomaly": true, "threshold_used": 3.43,
     "defect_location": {"has_defect": true, "region": "center", "bbox": [x1, y1, x2, y2],
                         "center": [x, y], "area_ratio": 0.12},
     "metadata": {"dataset": "GoodsAD", "class_name": "cigarette_box", "model_type": "patchcore"}}

``bbox`` and ``center`` are in pixels of the original image; ``region`` names the cell of a
3x3 grid that holds the defect's centre. Each record also says where its threshold came from
(``threshold_source``): :data:`TEST_LABELS_F1` when it was tuned on the labels of the very
images it judges (optimistic: the verdicts are not a held-out result),
:data:`VALIDATION_NORMAL_QUANTILE` when it is a quantile of normal validation images' scores.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from adlab.core.yaml_safety import read_yaml_file
from adlab.errors import ConfigError, NotFoundError

ROW_NAMES = ("top", "middle", "bottom")
COL_NAMES = ("left", "center", "right")

# Where a threshold came from. Tuned on the test set's own labels (F1-optimal): optimistic.
TEST_LABELS_F1 = "test_labels_f1"
# A quantile of the scores of normal validation images (``thresholds.source: validation``):
# held out from the test set, so the verdicts are a held-out result.
VALIDATION_NORMAL_QUANTILE = "validation_normal_quantile"
UNSPECIFIED = "unspecified"

RECORD_KEYS = ("image_path", "anomaly_score", "is_anomaly", "threshold_used", "defect_location", "metadata")
LOCATION_KEYS = ("has_defect", "region", "bbox", "center", "area_ratio")
METADATA_KEYS = ("dataset", "class_name", "model_type")


def region_name(cx: float, cy: float, width: int, height: int) -> str:
    """3x3 grid cell of a point: ``top-left`` … ``center`` … ``bottom-right``."""
    col = min(2, max(0, int(3 * cx / max(width, 1))))
    row = min(2, max(0, int(3 * cy / max(height, 1))))
    if row == 1 and col == 1:
        return "center"
    return f"{ROW_NAMES[row]}-{COL_NAMES[col]}"


def defect_location(anomaly_map: np.ndarray, pixel_threshold: float, is_anomaly: bool,
                    original_hw: tuple[int, int]) -> dict[str, Any]:
    """Where the defect is: the largest connected region of map >= threshold (8-connected).

    An image judged anomalous whose map stays below the pixel threshold is still located: the
    threshold drops to 80 % of its own map's range, so the region is the peak's neighbourhood.
    ``area_ratio`` counts every pixel above the threshold; the box and centre are those of the
    largest region, scaled from the map's resolution to the original image's.
    """
    from scipy import ndimage

    empty = {"has_defect": False, "region": None, "bbox": None, "center": None, "area_ratio": 0.0}
    if not is_anomaly:
        return empty
    lo, hi = float(anomaly_map.min()), float(anomaly_map.max())
    if hi <= lo:
        return empty
    mask = anomaly_map >= min(pixel_threshold, lo + 0.8 * (hi - lo))
    if not mask.any():
        return empty
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    biggest = int(np.argmax(sizes)) + 1
    ys, xs = np.nonzero(labels == biggest)
    mh, mw = anomaly_map.shape
    oh, ow = original_hw
    sx, sy = ow / mw, oh / mh
    x1, y1 = int(np.floor(xs.min() * sx)), int(np.floor(ys.min() * sy))
    x2, y2 = int(np.ceil((xs.max() + 1) * sx)), int(np.ceil((ys.max() + 1) * sy))
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return {
        "has_defect": True,
        "region": region_name(cx, cy, ow, oh),
        "bbox": [x1, y1, min(x2, ow), min(y2, oh)],
        "center": [int(round(cx)), int(round(cy))],
        "area_ratio": round(float(mask.mean()), 6),
    }


def prediction_record(*, image_path: str, score: float, threshold: float, pixel_threshold: float,
                      anomaly_map: np.ndarray, original_hw: tuple[int, int], dataset: str,
                      category: str, model_type: str,
                      threshold_source: str = UNSPECIFIED) -> dict[str, Any]:
    is_anomaly = bool(score >= threshold)
    return {
        "image_path": image_path,
        "anomaly_score": round(float(score), 6),
        "is_anomaly": is_anomaly,
        "threshold_used": round(float(threshold), 6),
        "threshold_source": threshold_source,
        "defect_location": defect_location(anomaly_map, pixel_threshold, is_anomaly, original_hw),
        "metadata": {"dataset": dataset, "class_name": category, "model_type": model_type},
    }


def validate_record(record: Mapping[str, Any]) -> None:
    """Raise ValueError when ``record`` does not follow the seed's predictions schema."""
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(f"prediction record lacks {missing}")
    if not isinstance(record["image_path"], str):
        raise ValueError("image_path must be a string")
    for key in ("anomaly_score", "threshold_used"):
        if not isinstance(record[key], (int, float)) or isinstance(record[key], bool):
            raise ValueError(f"{key} must be a number")
    if not isinstance(record["is_anomaly"], bool):
        raise ValueError("is_anomaly must be a boolean")
    loc = record["defect_location"]
    if not isinstance(loc, Mapping) or any(k not in loc for k in LOCATION_KEYS):
        raise ValueError(f"defect_location must have {LOCATION_KEYS}")
    if loc["has_defect"]:
        if loc["region"] not in {region_name(x, y, 3, 3) for x in (0.5, 1.5, 2.5) for y in (0.5, 1.5, 2.5)}:
            raise ValueError(f"unknown region {loc['region']!r}")
        if len(loc["bbox"]) != 4 or len(loc["center"]) != 2:
            raise ValueError("bbox must be [x1, y1, x2, y2] and center [x, y]")
        if not 0.0 < float(loc["area_ratio"]) <= 1.0:
            raise ValueError("area_ratio must be in (0, 1] when a defect is found")
    meta = record["metadata"]
    if not isinstance(meta, Mapping) or any(k not in meta for k in METADATA_KEYS):
        raise ValueError(f"metadata must have {METADATA_KEYS}")


def write_predictions(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(records), indent=2))
    return path


@dataclass
class Thresholds:
    """F1-optimal image thresholds per ``"<Dataset>/<category>"`` plus a global one (the seed's
    thresholds.yaml); pixel thresholds (for defect regions) travel in an extra section."""

    global_: float
    categories: dict[str, float]
    pixel_global: float | None = None
    pixel_categories: dict[str, float] | None = None
    source: str = UNSPECIFIED  # how they were chosen (TEST_LABELS_F1: on the test labels)

    def image(self, key: str) -> float:
        return self.categories.get(key, self.global_)

    def pixel(self, key: str) -> float:
        if self.pixel_categories and key in self.pixel_categories:
            return self.pixel_categories[key]
        if self.pixel_global is not None:
            return self.pixel_global
        return self.image(key)

    def to_yaml(self, path: Path) -> Path:
        doc: dict[str, Any] = {"global": round(self.global_, 6),
                               "categories": {k: round(v, 6) for k, v in sorted(self.categories.items())},
                               "source": self.source}
        if self.pixel_categories:
            doc["pixel"] = {"global": round(float(self.pixel_global or 0.0), 6),
                            "categories": {k: round(v, 6) for k, v in sorted(self.pixel_categories.items())}}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    @classmethod
    def from_yaml(cls, path: Path) -> "Thresholds":
        if not Path(path).is_file():
            raise NotFoundError(f"thresholds file {path} does not exist")
        doc = read_yaml_file(Path(path), "thresholds file", ConfigError) or {}
        if not isinstance(doc, dict) or "global" not in doc or not isinstance(doc.get("categories", {}), dict):
            raise ConfigError(f"{path}: expected `global: <number>` and `categories: {{<Dataset>/<category>: <number>}}`")
        pixel = doc.get("pixel") or {}
        return cls(global_=float(doc["global"]),
                   categories={str(k): float(v) for k, v in (doc.get("categories") or {}).items()},
                   pixel_global=float(pixel["global"]) if "global" in pixel else None,
                   pixel_categories={str(k): float(v) for k, v in (pixel.get("categories") or {}).items()} or None,
                   source=str(doc.get("source") or UNSPECIFIED))


def save_anomaly_maps(path: Path, maps: np.ndarray, image_paths: Sequence[str], scores: np.ndarray) -> Path:
    """Maps as float32 (the values the metrics saw, so the recorded metrics are recomputable
    from the file: float16 moved them) in a compressed npz, with the image order and scores."""
    np.savez_compressed(path, anomaly_maps=np.asarray(maps, dtype=np.float32),
                        image_paths=np.asarray(list(image_paths), dtype=str),
                        scores=np.asarray(scores, dtype=np.float32))
    return path


def load_anomaly_maps(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    with np.load(path) as data:
        return data["anomaly_maps"].astype(np.float32), [str(p) for p in data["image_paths"]], data["scores"]


def normal_quantile_thresholds(scores: np.ndarray, maps: np.ndarray, quantile: float
                               ) -> tuple[float, float]:
    """Image and pixel thresholds from normal validation images: the ``quantile`` (numpy's
    linear rule) of their image scores and of their map pixels (model resolution).

    Why not F1: a normal-only validation set has no anomalies to trade recall against, so
    anomalib (``F1AdaptiveThreshold``) then takes the highest normal score; ``quantile`` 1.0 is
    that rule, lower values accept a share of false alarms on normal images.
    """
    if len(scores) == 0:
        raise ConfigError("thresholds.source: validation needs normal validation images, but "
                          "there are none; add a validation split or use thresholds.source: test")
    return (float(np.quantile(np.asarray(scores, dtype=np.float64), quantile)),
            float(np.quantile(np.asarray(maps, dtype=np.float64), quantile)))
