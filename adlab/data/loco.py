"""MVTec LOCO AD: MVTec-style tree plus a validation split and one folder of masks per image::

    <root>/<category>/train/good, validation/good,
    <root>/<category>/test/{good,logical_anomalies,structural_anomalies}/<stem>.png
    <root>/<category>/ground_truth/<defect>/<stem>/000.png, 001.png ...
    <root>/<category>/defects_config.json

Each mask file marks one defect region with a pixel value naming the defect (see
``defects_config.json``); readers binarise, sPRO needs the raw values and the saturation table.
Masks are optional here: an anomalous image without a mask folder gets empty ``mask_paths``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adlab.data.imageio import load_mask_values
from adlab.data.mvtec_style import list_mvtec_categories, load_mvtec_category, where
from adlab.data.types import CategoryData, Sample
from adlab.errors import AdlabError, NotFoundError

DATASET = "mvtec_loco"
DEFECTS_CONFIG = "defects_config.json"
_REQUIRED_KEYS = ("pixel_value", "saturation_threshold", "relative_saturation")


def list_loco_categories(root: Path) -> list[str]:
    return list_mvtec_categories(DATASET, root)


def load_loco_category(root: Path, category: str) -> CategoryData:
    return load_mvtec_category(DATASET, root, category, masks_required=False)


def load_loco_defects_config(root: Path, category: str) -> list[dict]:
    """The sPRO saturation table of a category: one dict per defect with ``defect_name``,
    ``pixel_value`` (int), ``saturation_threshold`` (float) and ``relative_saturation`` (bool)."""
    root = Path(root)
    path = root / category / DEFECTS_CONFIG
    if not path.is_file():
        raise NotFoundError(
            f"{where(DATASET, root)}: category '{category}' has no {DEFECTS_CONFIG}; expected {path} "
            "(it ships with MVTec LOCO AD and is needed for sPRO)"
        )
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdlabError(f"{path} is not valid JSON ({exc}); restore it from the MVTec LOCO download") from None
    if not isinstance(entries, list):
        raise AdlabError(f"{path} must hold a JSON list of defect entries, got {type(entries).__name__}")
    table: list[dict] = []
    for i, entry in enumerate(entries):
        missing = [k for k in _REQUIRED_KEYS if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise AdlabError(f"{path} entry {i} lacks {', '.join(missing)}; each entry needs {', '.join(_REQUIRED_KEYS)}")
        table.append({
            "defect_name": str(entry.get("defect_name", f"defect_{entry['pixel_value']}")),
            "pixel_value": int(entry["pixel_value"]),
            "saturation_threshold": float(entry["saturation_threshold"]),
            "relative_saturation": bool(entry["relative_saturation"]),
        })
    return table


@dataclass(frozen=True)
class LocoDefect:
    """One ground-truth PNG of an anomalous image: the defect's boolean mask and its
    ``defects_config.json`` entry (whose saturation rule sPRO applies)."""

    path: Path
    mask: np.ndarray
    entry: dict


def load_loco_defects(sample: Sample, table: Mapping[int, dict], config_path: Path
                      ) -> list[LocoDefect]:
    """Every defect of an anomalous test image, one PNG each, checked against the table
    (pixel value -> entry of :func:`load_loco_defects_config`)."""
    if not sample.mask_paths:
        gt_dir = config_path.parent / "ground_truth" / sample.defect_type / sample.image_path.stem
        raise NotFoundError(
            f"anomalous test image {sample.image_path} has no ground truth; expected one PNG "
            f"per defect in {gt_dir}/ (000.png, 001.png ...), as MVTec LOCO AD ships them.")
    defects: list[LocoDefect] = []
    for path, values in zip(sample.mask_paths, load_mask_values(sample)):
        if defects and values.shape != defects[0].mask.shape:
            first = defects[0].mask.shape
            raise AdlabError(
                f"ground-truth mask {path} is {values.shape[0]}x{values.shape[1]} but "
                f"{sample.mask_paths[0]} is {first[0]}x{first[1]}; all "
                "masks of one image must have the image's size.")
        defects.append(_one_defect(path, values, table, config_path))
    return defects


def _one_defect(path: Path, values: np.ndarray, table: Mapping[int, dict],
                config_path: Path) -> LocoDefect:
    present = np.unique(values[values != 0])
    if present.size == 0:
        raise AdlabError(
            f"ground-truth mask {path} has no defect pixel (all zero); every PNG in a "
            "ground_truth/<type>/<stem>/ folder must mark one defect, so remove or fix it.")
    if present.size > 1:
        raise AdlabError(
            f"ground-truth mask {path} holds several defect pixel values "
            f"({', '.join(str(int(v)) for v in present)}); each PNG must mark one defect with "
            "one value, so split it into one file per defect.")
    value = int(present[0])
    entry = table.get(value)
    if entry is None:
        raise AdlabError(
            f"ground-truth mask {path} has pixel value {value}, which {config_path} does not "
            f"list (it has {', '.join(str(v) for v in sorted(table)) or 'none'}); add an entry "
            f"with \"pixel_value\": {value} or fix the mask.")
    return LocoDefect(path, values == value, entry)
