"""A generic layout for private data (e.g. HDMAP domains): folders named by the config.

``normal_dir`` holds normal images; ``abnormal_dir`` (optional) anomalous test images;
``mask_dir`` (optional) their masks, matched by stem with or without ``_mask``; and
``normal_test_dir`` (optional) normal test images. Without ``normal_test_dir`` a fixed,
seeded share (``test_split_ratio``) of the normal images becomes the normal test set.
Masks are optional for this layout: without ``mask_dir`` anomalous images have no masks (image
metrics only); with it, every anomalous image must have one.
"""
from __future__ import annotations

import random
from pathlib import Path

from adlab.data.mvtec_style import mask_index, require_root, unknown_category, where
from adlab.data.types import GOOD, CategoryData, Sample, list_images, list_subdirs
from adlab.errors import ConfigError, NotFoundError

DATASET = "folder"
DEFAULT_NORMAL_DIR = "good"
# Folder names tried, in order, when the registry reads a category without explicit options.
ABNORMAL_CANDIDATES = ("abnormal", "anomaly", "bad", "defect")
MASK_CANDIDATES = ("masks", "mask", "ground_truth")
NORMAL_TEST_CANDIDATES = ("normal_test", "good_test")
# HDMAP (seed 002's domains) read as folders: <root>/<domain>/train/good, test/good, test/fault.
HDMAP_OPTIONS: dict[str, str] = {"normal_dir": "train/good", "normal_test_dir": "test/good",
                                 "abnormal_dir": "test/fault"}


def _dir(root: Path, value: str | Path, field: str, *, required: bool = True) -> Path:
    path = Path(value) if Path(value).is_absolute() else root / value
    if required and not path.is_dir():
        raise NotFoundError(
            f"{where(DATASET, root)}: {field}={str(value)!r} is not a folder ({path} does not exist); "
            f"fix {field} in the config"
        )
    return path


def load_folder(root: Path, *, normal_dir: str | Path, abnormal_dir: str | Path | None = None,
                mask_dir: str | Path | None = None, normal_test_dir: str | Path | None = None,
                test_split_ratio: float = 0.2, seed: int = 0, category: str = "folder") -> CategoryData:
    """Read a folder layout; folders are relative to ``root`` (absolute paths are kept)."""
    root = Path(root)
    require_root(DATASET, root, f"{root}/<normal_dir>/*.png")
    if not 0.0 <= float(test_split_ratio) < 1.0:
        raise ConfigError(f"test_split_ratio={test_split_ratio!r} must be in [0, 1)")
    normal_path = _dir(root, normal_dir, "normal_dir")
    normals = list_images(normal_path)
    if not normals:
        raise NotFoundError(f"{where(DATASET, root)}: normal_dir {normal_path} holds no images; expected {normal_path}/*.png")

    if normal_test_dir is not None:
        train_paths = normals
        test_normal_paths = list_images(_dir(root, normal_test_dir, "normal_test_dir"))
    else:
        shuffled = list(normals)
        random.Random(seed).shuffle(shuffled)  # stable across Python versions for a given seed
        n_test = min(round(len(shuffled) * float(test_split_ratio)), len(shuffled) - 1)
        test_normal_paths = sorted(shuffled[:n_test], key=lambda p: p.name)
        train_paths = sorted(shuffled[n_test:], key=lambda p: p.name)

    train = [Sample(p, (), 0, GOOD, category, "train") for p in train_paths]
    test = [Sample(p, (), 0, GOOD, category, "test") for p in test_normal_paths]
    if abnormal_dir is not None:
        abnormal_path = _dir(root, abnormal_dir, "abnormal_dir")
        defect = abnormal_path.name
        masks = mask_index(_dir(root, mask_dir, "mask_dir")) if mask_dir is not None else None
        for image in list_images(abnormal_path):
            found: tuple[Path, ...] = ()
            if masks is not None:
                found = masks.get(image.stem, ())
                if not found:
                    raise NotFoundError(
                        f"{where(DATASET, root)}: anomalous image {image} has no mask in mask_dir "
                        f"{_dir(root, mask_dir, 'mask_dir')}; expected {image.stem}.png or {image.stem}_mask.png"
                    )
            test.append(Sample(image, found, 1, defect, category, "test"))
    return CategoryData(dataset=DATASET, category=category, root=root, train=train, test=test, val=[])


def _first_existing(base: Path, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if (base / n).is_dir()), None)


def _category_base(root: Path, category: str, normal_dir: str) -> Path:
    """A category is a sub-folder of ``root`` holding ``normal_dir``; a root that holds
    ``normal_dir`` itself is one category named after the root folder."""
    if (root / category / normal_dir).is_dir():
        return root / category
    if category == root.name and (root / normal_dir).is_dir():
        return root
    raise unknown_category(DATASET, root, category, list_folder_categories(root, normal_dir=normal_dir))


def list_folder_categories(root: Path, *, normal_dir: str = DEFAULT_NORMAL_DIR, **_: object) -> list[str]:
    require_root(DATASET, root, f"{root}/<category>/{normal_dir}/*.png")
    if (root / normal_dir).is_dir():
        return [root.name]
    found = [d.name for d in list_subdirs(root) if (d / normal_dir).is_dir()]
    if not found:
        raise NotFoundError(
            f"{where(DATASET, root)}: no folder holds a '{normal_dir}' sub-folder; expected "
            f"{root}/<category>/{normal_dir}/*.png or {root}/{normal_dir}/*.png"
        )
    return found


def load_folder_category(root: Path, category: str, *, normal_dir: str = DEFAULT_NORMAL_DIR,
                         abnormal_dir: str | None = None, mask_dir: str | None = None,
                         normal_test_dir: str | None = None, test_split_ratio: float = 0.2,
                         seed: int = 0) -> CategoryData:
    """One category of a folder tree; unnamed optional folders are found by their usual names
    (abnormal/anomaly/bad/defect, masks/mask/ground_truth, normal_test/good_test)."""
    base = _category_base(root, category, normal_dir)
    abnormal_dir = abnormal_dir or _first_existing(base, ABNORMAL_CANDIDATES)
    mask_dir = mask_dir or (_first_existing(base, MASK_CANDIDATES) if abnormal_dir else None)
    normal_test_dir = normal_test_dir or _first_existing(base, NORMAL_TEST_CANDIDATES)
    data = load_folder(base, normal_dir=normal_dir, abnormal_dir=abnormal_dir, mask_dir=mask_dir,
                       normal_test_dir=normal_test_dir, test_split_ratio=test_split_ratio, seed=seed,
                       category=category)
    return CategoryData(DATASET, category, root, data.train, data.test, data.val)
