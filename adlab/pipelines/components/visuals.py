"""Heatmap overlays (image | anomaly map over image | ground truth) as PNG files."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def pick_examples(labels: np.ndarray, scores: np.ndarray, count: int) -> list[int]:
    """A few telling images: the highest-scored anomalous ones and the highest-scored normal one."""
    if count <= 0 or len(scores) == 0:
        return []
    anomalous = [int(i) for i in np.argsort(-scores) if labels[i] == 1]
    normal = [int(i) for i in np.argsort(-scores) if labels[i] == 0]
    picked = anomalous[: max(1, count - 1)] + normal[:1]
    for i in np.argsort(-scores):  # fill up when one kind is missing
        if len(picked) >= count:
            break
        if int(i) not in picked:
            picked.append(int(i))
    return picked[:count]


def write_overlay(path: Path, image: np.ndarray, anomaly_map: np.ndarray, mask: np.ndarray | None,
                  *, title: str, vmin: float, vmax: float) -> Path:
    """``image`` (H,W,3) uint8, ``anomaly_map`` (H,W), ``mask`` (H,W) 0/1 or None."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2), dpi=100)
    axes = fig.subplots(1, 3)
    axes[0].imshow(image)
    axes[0].set_title("image")
    axes[1].imshow(image)
    shown = axes[1].imshow(anomaly_map, cmap="jet", alpha=0.5, vmin=vmin, vmax=vmax)
    axes[1].set_title("anomaly map")
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04)
    axes[2].imshow(mask if mask is not None else np.zeros(anomaly_map.shape), cmap="gray", vmin=0, vmax=1)
    axes[2].set_title("ground truth" if mask is not None else "ground truth (none)")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
