"""What a run writes per category: raw mask logits (float32, compressed npz, original size:
the values the metrics saw, so they are recomputable from the file),
one metadata record per sample (JSON lines), and a few image | prediction | ground-truth PNGs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image

PANEL_HEIGHT = 256


def save_logits(path: Path, logits: list[np.ndarray], names: list[str]) -> Path:
    """``logits_0000``... arrays (float32, each its image's size) plus ``names``."""
    arrays = {f"logits_{i:04d}": np.asarray(a, dtype=np.float32) for i, a in enumerate(logits)}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, names=np.asarray(names), **arrays)
    return path


def load_logits(path: Path) -> tuple[list[np.ndarray], list[str]]:
    with np.load(path) as data:
        names = [str(n) for n in data["names"]]
        return [data[f"logits_{i:04d}"].astype(np.float32) for i in range(len(names))], names


def write_metadata(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for record in records:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def _panel(array: np.ndarray) -> Image.Image:
    img = Image.fromarray(array)
    width = max(1, round(img.width * PANEL_HEIGHT / img.height))
    return img.resize((width, PANEL_HEIGHT), Image.BILINEAR)


def write_visual(path: Path, image: np.ndarray, logits: np.ndarray, gt: np.ndarray | None,
                 points_xy: np.ndarray, point_labels: np.ndarray) -> Path:
    """Three panels: the image with the prompt points (green positive, red negative), the
    predicted mask (logit > 0) over the image with sigmoid intensity, the ground-truth mask."""
    prob = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
    base = image.astype(np.float32)
    pred = base.copy()
    pred[..., 0] = base[..., 0] * (1 - prob) + 255 * prob
    pred[logits > 0] = pred[logits > 0] * 0.5 + np.array([255, 0, 0]) * 0.5
    gt_img = np.zeros_like(image) if gt is None else np.repeat((gt > 0)[..., None] * 255, 3, axis=2)
    with_points = image.copy()
    radius = max(1, min(image.shape[:2]) // 100)
    for (x, y), label in zip(np.asarray(points_xy), np.asarray(point_labels)):
        if label < 0:
            continue
        xi, yi = int(round(float(x))), int(round(float(y)))
        colour = (0, 255, 0) if label == 1 else (255, 0, 0)
        with_points[max(0, yi - radius):yi + radius + 1, max(0, xi - radius):xi + radius + 1] = colour
    panels = [_panel(with_points), _panel(pred.clip(0, 255).astype(np.uint8)), _panel(gt_img.astype(np.uint8))]
    strip = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), PANEL_HEIGHT), "white")
    x = 0
    for panel in panels:
        strip.paste(panel, (x, 0))
        x += panel.width + 8
    path.parent.mkdir(parents=True, exist_ok=True)
    strip.save(path, format="PNG")
    return path


def pick_examples(labels: np.ndarray, scores: np.ndarray, count: int) -> list[int]:
    """Highest-scoring anomalous images and highest-scoring normal ones (likely false alarms)."""
    if count <= 0:
        return []
    anomalous = [int(i) for i in np.argsort(-scores) if labels[i] == 1]
    normal = [int(i) for i in np.argsort(-scores) if labels[i] == 0]
    picked = anomalous[: (count + 1) // 2] + normal[: count // 2]
    rest = [i for i in anomalous + normal if i not in picked]
    return sorted(picked + rest[: count - len(picked)])
