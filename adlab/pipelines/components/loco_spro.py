"""MVTec LOCO AD's AU-sPRO for every AD pipeline, and the one rule joining a test sample and its
map to a :class:`~adlab.metrics.loco_eval.LocoImage` (also what ``adlab metrics --loco`` reads).

A pipeline scoring ``mvtec_loco`` calls :func:`loco_spro` with its maps at the images'
original size (the arrays it writes as TIFFs, :mod:`.tiff_maps`): AU-sPRO at the official FPR
limits (:data:`~adlab.metrics.loco_eval.OFFICIAL_SPRO_LIMITS`), once over the logical anomalies
plus the good images, once over the structural ones plus the good images, and their mean, which
the pipeline records as metrics of the category's scope (keys ``spro@<limit>``, ``spro_logical@<limit>``,
``spro_structural@<limit>``), so a run equals ``adlab metrics --loco`` on its own TIFF maps.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from adlab.core.loco_keys import (ANOMALY_TYPES, GOOD, LOGICAL, OFFICIAL_SPRO_LIMITS,
                                  STRUCTURAL, spro_key)
from adlab.core.vocabulary import MetricInfo, fraction
from adlab.errors import AdlabError

if TYPE_CHECKING:  # NumPy, the datasets and the metrics load when a run scores, not with a spec
    import numpy as np

    from adlab.data.types import Sample
    from adlab.metrics.loco_eval import LocoImage
    from adlab.pipelines.base import RunContext

LOCO_DATASET = "mvtec_loco"

# The sPRO keys an AD pipeline records on MVTec LOCO AD (declared in each AD spec's metrics).
LOCO_SPRO_METRICS: Mapping[str, MetricInfo] = {
    **{spro_key(limit): fraction(f"AU-sPRO up to FPR {limit}, mean of logical and structural")
       for limit in OFFICIAL_SPRO_LIMITS},
    **{spro_key(limit, kind): fraction(f"AU-sPRO up to FPR {limit}, {kind} + good test images")
       for kind in ANOMALY_TYPES for limit in OFFICIAL_SPRO_LIMITS},
}


def check_loco_type(sample: Sample) -> None:
    """A LOCO test image lies in good, logical_anomalies or structural_anomalies."""
    if sample.defect_type not in (GOOD, *ANOMALY_TYPES):
        raise AdlabError(
            f"{sample.image_path.parent} is neither good, {LOGICAL} nor {STRUCTURAL}; "
            "an MVTec LOCO AD test folder holds only these three, so move it out.")


def loco_image(sample: Sample, raw_map: np.ndarray, table: Mapping[int, dict],
               config_path: Path) -> LocoImage:
    """One test image on its ground-truth grid: the map resized bilinearly to the masks' size
    (the image's size for good images), the image score = the map's maximum before resizing,
    one mask and saturation area per defect (``defects_config.json`` rule)."""
    from adlab.data.imageio import image_size
    from adlab.data.loco import load_loco_defects
    from adlab.metrics.loco_eval import LocoImage
    from adlab.metrics.resize import resize_bilinear
    from adlab.metrics.spro import loco_saturation_area

    check_loco_type(sample)
    if sample.defect_type == GOOD:
        masks: list[np.ndarray] = []
        areas: list[float] = []
        grid = image_size(sample.image_path)
    else:
        defects = load_loco_defects(sample, table, config_path)
        masks = [d.mask for d in defects]
        areas = [loco_saturation_area(int(d.mask.sum()), d.entry["saturation_threshold"],
                                      d.entry["relative_saturation"]) for d in defects]
        grid = masks[0].shape
    return LocoImage(sample.defect_type, resize_bilinear(raw_map, grid), float(raw_map.max()),
                     masks, areas)


def defects_table(root: Path, category: str) -> tuple[dict[int, dict], Path]:
    """``pixel value -> defects_config.json entry`` of a category, and that file's path."""
    from adlab.data.loco import DEFECTS_CONFIG, load_loco_defects_config

    table = {e["pixel_value"]: e for e in load_loco_defects_config(Path(root), category)}
    return table, Path(root) / category / DEFECTS_CONFIG


def loco_spro(ctx: RunContext, samples: Sequence[Sample], maps: Sequence[np.ndarray],
              root: Path, category: str, scope: str) -> dict[str, float]:
    """AU-sPRO per anomaly type at the official limits (NaN where undefined, logged with why);
    the caller records them as metrics of ``scope`` with its other values."""
    import numpy as np

    from adlab.metrics.loco_eval import evaluate_loco_images

    table, config_path = defects_table(root, category)
    images = [loco_image(s, np.asarray(m), table, config_path) for s, m in zip(samples, maps)]
    report = evaluate_loco_images(images, OFFICIAL_SPRO_LIMITS)
    for key, why in report.undefined.items():
        if key in LOCO_SPRO_METRICS:
            ctx.log(f"{scope}: {key} undefined ({why})", level="warning")
    return {key: float(report.values[key]) for key in LOCO_SPRO_METRICS}
