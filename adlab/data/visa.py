"""VisA in either of its two layouts.

* raw download: ``<root>/split_csv/1cls.csv`` (columns object, split, label, image, mask; paths
  relative to the root, e.g. ``candle/Data/Images/Anomaly/000.JPG`` and
  ``candle/Data/Masks/Anomaly/000.png``; mask pixel values may be any non-zero value).
* anomalib's converted layout: ``<root>/visa_pytorch/<category>/train/good`` ... (MVTec-style,
  masks ``ground_truth/bad/<stem>.png``), or the same tree given directly as the root.

The converted layout wins when both are present (it is what anomalib reads). Anomalous images
get the defect type ``bad`` in both, so results agree whichever layout was read.
"""
from __future__ import annotations

import csv
from pathlib import Path

from adlab.data.mvtec_style import (
    list_mvtec_categories,
    load_mvtec_category,
    require_root,
    unknown_category,
    where,
)
from adlab.data.types import GOOD, CategoryData, Sample, list_subdirs
from adlab.errors import AdlabError, NotFoundError

DATASET = "visa"
SPLIT_CSV = Path("split_csv") / "1cls.csv"
CONVERTED_FOLDER = "visa_pytorch"
CSV_COLUMNS = ("object", "split", "label", "image", "mask")
ANOMALY_DEFECT = "bad"
_LABELS = {"normal": 0, "anomaly": 1}
_SPLITS = {"train", "test"}
_EXPECTED = (f"either <root>/{SPLIT_CSV} (the raw VisA download) or "
             f"<root>/{CONVERTED_FOLDER}/<category>/train/good (anomalib's converted layout)")


def _converted_root(root: Path) -> Path | None:
    """Where the MVTec-style tree is, if there is one."""
    nested = root / CONVERTED_FOLDER
    if nested.is_dir() and any((d / "train").is_dir() for d in list_subdirs(nested)):
        return nested
    if any((d / "train" / GOOD).is_dir() for d in list_subdirs(root)):
        return root
    return None


def _read_split_csv(root: Path) -> list[dict[str, str]]:
    path = root / SPLIT_CSV
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AdlabError(
                f"{where(DATASET, root)}: {path} lacks the column(s) {', '.join(missing)}; "
                f"expected the header {','.join(CSV_COLUMNS)}"
            )
        rows = [{k: (row.get(k) or "").strip() for k in CSV_COLUMNS} for row in reader]
    for line, row in enumerate(rows, start=2):
        if row["split"] not in _SPLITS or row["label"] not in _LABELS:
            raise AdlabError(
                f"{where(DATASET, root)}: {path} line {line} has split={row['split']!r} "
                f"label={row['label']!r}; expected split train/test and label normal/anomaly"
            )
    return rows


def list_visa_categories(root: Path) -> list[str]:
    require_root(DATASET, root, _EXPECTED)
    converted = _converted_root(root)
    if converted is not None:
        return list_mvtec_categories(DATASET, converted, ".JPG")
    if (root / SPLIT_CSV).is_file():
        return sorted({row["object"] for row in _read_split_csv(root)})
    raise NotFoundError(f"{where(DATASET, root)}: found no VisA data; expected {_EXPECTED}")


def _existing(root: Path, relative: str, csv_line: str) -> Path:
    path = root / relative
    if not path.is_file():
        raise NotFoundError(
            f"{where(DATASET, root)}: {SPLIT_CSV} lists {relative} ({csv_line}) but the file does not exist"
        )
    return path


def load_visa_category(root: Path, category: str) -> CategoryData:
    require_root(DATASET, root, _EXPECTED)
    converted = _converted_root(root)
    if converted is not None and (converted / category).is_dir():
        data = load_mvtec_category(DATASET, converted, category, example_ext=".JPG")
        return CategoryData(DATASET, category, root, data.train, data.test, data.val)
    if not (root / SPLIT_CSV).is_file():
        if converted is not None:
            raise unknown_category(DATASET, root, category, list_mvtec_categories(DATASET, converted, ".JPG"))
        raise NotFoundError(f"{where(DATASET, root)}: found no VisA data; expected {_EXPECTED}")
    rows = _read_split_csv(root)
    mine = [(i, r) for i, r in enumerate(rows, start=2) if r["object"] == category]
    if not mine:
        raise unknown_category(DATASET, root, category, sorted({r["object"] for r in rows}))
    train: list[Sample] = []
    test: list[Sample] = []
    for line, row in mine:
        where_in_csv = f"line {line}"
        image = _existing(root, row["image"], where_in_csv)
        label = _LABELS[row["label"]]
        masks: tuple[Path, ...] = ()
        if label == 1:
            if not row["mask"]:
                raise NotFoundError(
                    f"{where(DATASET, root)}: anomalous image {image} has no mask in {SPLIT_CSV} "
                    f"{where_in_csv}; expected a path like {category}/Data/Masks/Anomaly/{image.stem}.png"
                )
            masks = (_existing(root, row["mask"], where_in_csv),)
        sample = Sample(image, masks, label, ANOMALY_DEFECT if label else GOOD, category, row["split"])
        (train if row["split"] == "train" else test).append(sample)
    if not train:
        raise NotFoundError(f"{where(DATASET, root)}: {SPLIT_CSV} has no train rows for category '{category}'")
    key = lambda s: str(s.image_path)  # noqa: E731 - a stable order independent of the csv's
    return CategoryData(DATASET, category, root, sorted(train, key=key), sorted(test, key=key), [])
