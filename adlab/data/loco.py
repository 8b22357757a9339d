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
from pathlib import Path

from adlab.data.mvtec_style import list_mvtec_categories, load_mvtec_category, where
from adlab.data.types import CategoryData
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
