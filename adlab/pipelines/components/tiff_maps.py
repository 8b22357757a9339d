"""Anomaly maps in the official TIFF layout (``outputs.tiff_maps``), for any AD pipeline.

``<out>/<category>/test/<defect_type>/<image_id>.tiff``: one float32 2-D TIFF per test image at
the image's original size, which is what the official MVTec AD and MVTec LOCO AD
``evaluate_experiment.py`` read ("their size must match the one of the original dataset
images") and what ``adlab metrics --maps-dir`` / ``--loco`` read. Model-resolution maps are
upsampled with the evaluation's bilinear rule (:func:`adlab.metrics.resize.resize_bilinear`,
torch's ``align_corners=False``), the same arrays the pipeline's mask-resolution metrics use.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from adlab.core.vocabulary import ArtifactKind
from adlab.data.types import Sample
from adlab.pipelines.base import RunContext

TIFF_DIR = "tiff_maps"  # under a run's output folder


def original_size_maps(maps: np.ndarray | Sequence[np.ndarray], samples: Sequence[Sample]
                       ) -> list[np.ndarray]:
    """Each map (float32) upsampled bilinearly to its test image's original (height, width)."""
    from adlab.data.imageio import image_size
    from adlab.metrics.resize import resize_bilinear

    return [resize_bilinear(np.asarray(m, dtype=np.float32), image_size(s.image_path))
            for m, s in zip(maps, samples)]


def tiff_path(out_dir: Path, category: str, sample: Sample) -> Path:
    """``<out_dir>/<category>/test/<defect_type>/<image stem>.tiff``."""
    return Path(out_dir) / category / "test" / sample.defect_type / f"{sample.image_path.stem}.tiff"


def write_tiff_maps(out_dir: Path, category: str, samples: Sequence[Sample],
                    maps: Sequence[np.ndarray]) -> list[Path]:
    """Write one float32 TIFF per sample (maps already at the images' original size); Pillow's
    32-bit float TIFF (mode ``F``), which tifffile and the official scripts read bit for bit."""
    from PIL import Image

    paths = []
    for sample, amap in zip(samples, maps):
        path = tiff_path(out_dir, category, sample)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(amap, dtype=np.float32)).save(path)
        paths.append(path)
    return paths


def record_tiff_maps(ctx: RunContext, category: str, samples: Sequence[Sample],
                     maps: Sequence[np.ndarray]) -> Path:
    """Write the TIFFs under ``<output_dir>/tiff_maps``, each one an artifact; returns that root
    (``adlab metrics --maps-dir <root> --dataset-root <dataset>`` evaluates it)."""
    root = ctx.output_dir / TIFF_DIR
    for path in write_tiff_maps(root, category, samples, maps):
        ctx.artifact(path, ArtifactKind.TIFF_MAPS)
    return root
