"""``adlab metrics --loco``: MVTec LOCO AD maps and ground truth read from disk, then evaluated.

The glue between two independent layers: :mod:`adlab.data.loco` reads the dataset (test
images, one PNG per defect, ``defects_config.json``) and :mod:`adlab.metrics` holds the rules
(saturation areas, AU-sPRO, AUROC over :class:`~adlab.metrics.loco_eval.LocoImage` arrays);
a sample and its map become a ``LocoImage`` by
:func:`adlab.pipelines.components.loco_spro.loco_image`, the rule the pipelines' sPRO uses.
Maps are TIFFs at ``<maps_dir>/<category>/test/<type>/<stem>.tiff``; each map is resized
bilinearly to its ground-truth grid (the masks' size, for good images the test image's size) so
that all images weigh as in the official evaluation; the image score is taken before resizing.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from adlab.data.loco import load_loco_category
from adlab.errors import AdlabError, NotFoundError
from adlab.metrics.files import _find_map, list_categories, read_anomaly_map
from adlab.metrics.loco_eval import (MEAN_KEY,
                                     OFFICIAL_SPRO_LIMITS, LocoImage, LocoReport,
                                     check_spro_limits, evaluate_loco_images, mean_loco_report)
from adlab.pipelines.components.loco_spro import (check_loco_type, defects_table,
                                                 loco_image)


def _read_map(path: Path) -> np.ndarray:
    amap = read_anomaly_map(path)
    if amap.dtype not in (np.float32, np.float64):
        amap = amap.astype(np.float64)
    if not np.isfinite(amap).all():
        raise AdlabError(f"anomaly map {path} contains NaN or infinite values; write finite "
                         "anomaly scores.")
    return amap


def read_loco_category(maps_dir: str | Path, dataset_root: str | Path, category: str
                       ) -> list[LocoImage]:
    """Every test image of one category with its map (from ``maps_dir``) and ground truth
    (joined by :func:`adlab.pipelines.components.loco_spro.loco_image`, the rule the
    pipelines' own sPRO uses)."""
    maps_dir, dataset_root = Path(maps_dir), Path(dataset_root)
    data = load_loco_category(dataset_root, category)
    table, config_path = defects_table(dataset_root, category)
    images = []
    for sample in data.test:
        check_loco_type(sample)
        raw = _read_map(_find_map(maps_dir, category, sample.defect_type,
                                  sample.image_path.stem))
        images.append(loco_image(sample, raw, table, config_path))
    return images


def evaluate_loco(maps_dir: str | Path, dataset_root: str | Path,
                  categories: Sequence[str] | None = None,
                  spro_limits: Sequence[float] = OFFICIAL_SPRO_LIMITS) -> dict[str, LocoReport]:
    """Each category's :class:`LocoReport` plus their ``"mean"``.

    ``categories`` default to the folders of ``maps_dir`` that hold a ``test/`` folder.
    """
    maps_dir, dataset_root = Path(maps_dir), Path(dataset_root)
    limits = check_spro_limits(spro_limits)
    for folder, flag in ((maps_dir, "--maps-dir"), (dataset_root, "--dataset-root")):
        if not folder.is_dir():
            raise NotFoundError(f"{flag} {folder} is not a directory.")
    names = list(dict.fromkeys(categories or list_categories(maps_dir)))
    if not names:
        raise NotFoundError(
            f"{maps_dir} has no <category>/test/ folders; anomaly maps must be stored as "
            "<category>/test/<type>/<stem>.tiff.")
    if MEAN_KEY in names:
        raise AdlabError(f"a category is named {MEAN_KEY!r}, which is reserved for the mean; "
                         "rename it.")
    reports = {name: evaluate_loco_images(read_loco_category(maps_dir, dataset_root, name),
                                          limits)
               for name in names}
    reports[MEAN_KEY] = mean_loco_report(reports)
    return reports
