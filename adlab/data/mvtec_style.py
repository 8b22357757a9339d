"""The MVTec AD folder layout, shared by MVTec AD, MPDD, GoodsAD, anomalib's converted VisA,
MVTec LOCO and adlab's synthetic data::

    <root>/<category>/train/good/*.png
    <root>/<category>/validation/good/*.png            (optional; MVTec LOCO has it)
    <root>/<category>/test/{good,<defect>}/*.png
    <root>/<category>/ground_truth/<defect>/<stem>_mask.png   (MVTec AD, MPDD)
    <root>/<category>/ground_truth/<defect>/<stem>.png        (GoodsAD, converted VisA)
    <root>/<category>/ground_truth/<defect>/<stem>/000.png    (MVTec LOCO: one file per region)

Images may be any of IMAGE_EXTENSIONS (GoodsAD and VisA use .jpg/.JPG); masks are matched to
images by file stem, whatever their extension.
"""
from __future__ import annotations

from pathlib import Path

from adlab.core.suggest import closest_first
from adlab.data.types import GOOD, Sample, CategoryData, list_images, list_subdirs
from adlab.errors import NotFoundError

MASK_SUFFIX = "_mask"
VALIDATION_FOLDERS = ("validation", "val")


def where(dataset: str, root: Path) -> str:
    return f"dataset '{dataset}' at {root}"


def require_root(dataset: str, root: Path, expected: str) -> None:
    if not root.is_dir():
        raise NotFoundError(
            f"{where(dataset, root)}: the folder does not exist; expected {expected} "
            "(set the dataset root in the config or ADLAB_DATA_ROOT)"
        )


def list_mvtec_categories(dataset: str, root: Path, example_ext: str = ".png") -> list[str]:
    """Sub-folders of ``root`` that have a ``train`` or ``test`` folder."""
    expected = f"{root}/<category>/train/good/*{example_ext}"
    require_root(dataset, root, expected)
    found = [d.name for d in list_subdirs(root) if (d / "train").is_dir() or (d / "test").is_dir()]
    if not found:
        raise NotFoundError(f"{where(dataset, root)}: no category folders found; expected {expected}")
    return found


def unknown_category(dataset: str, root: Path, category: str, known: list[str]) -> NotFoundError:
    return NotFoundError(f"{where(dataset, root)} has no category '{category}'; categories "
                         f"found{closest_first(category, known)}")


def mask_index(folder: Path) -> dict[str, tuple[Path, ...]]:
    """Map an image stem to its mask files in ``folder``: ``<stem>_mask.*``, ``<stem>.*`` or
    every image inside a ``<stem>/`` sub-folder (several regions, MVTec LOCO)."""
    index: dict[str, tuple[Path, ...]] = {}
    for path in list_images(folder):
        stem = path.stem[: -len(MASK_SUFFIX)] if path.stem.endswith(MASK_SUFFIX) else path.stem
        index.setdefault(stem, (path,))
    for sub in list_subdirs(folder):
        files = tuple(list_images(sub))
        if files:
            index.setdefault(sub.name, files)
    return index


def load_mvtec_category(dataset: str, root: Path, category: str, *, masks_required: bool = True,
                        example_ext: str = ".png") -> CategoryData:
    """Read one category of an MVTec-style tree; an anomalous image without a mask is an error
    unless ``masks_required`` is False (then its ``mask_paths`` is empty)."""
    cat_dir = root / category
    if not cat_dir.is_dir():
        known = list_mvtec_categories(dataset, root, example_ext)
        raise unknown_category(dataset, root, category, known)
    here = f"{where(dataset, root)}: category '{category}'"

    train_dir = cat_dir / "train" / GOOD
    if not train_dir.is_dir():
        raise NotFoundError(f"{here} has no train/good folder; expected {train_dir}/*{example_ext} (see docs)")
    train = [Sample(p, (), 0, GOOD, category, "train") for p in list_images(train_dir)]
    if not train:
        raise NotFoundError(f"{here} has no images in {train_dir}; expected {train_dir}/*{example_ext}")

    val: list[Sample] = []
    for name in VALIDATION_FOLDERS:
        val_dir = cat_dir / name / GOOD
        if val_dir.is_dir():
            val = [Sample(p, (), 0, GOOD, category, "val") for p in list_images(val_dir)]
            break

    test_dir = cat_dir / "test"
    if not test_dir.is_dir():
        raise NotFoundError(
            f"{here} has no test folder; expected {test_dir}/good/*{example_ext} and "
            f"{test_dir}/<defect>/*{example_ext}"
        )
    test: list[Sample] = []
    for defect_dir in list_subdirs(test_dir):
        defect = defect_dir.name
        images = list_images(defect_dir)
        if defect == GOOD:
            test.extend(Sample(p, (), 0, GOOD, category, "test") for p in images)
            continue
        gt_dir = cat_dir / "ground_truth" / defect
        masks = mask_index(gt_dir)
        for image in images:
            found = masks.get(image.stem, ())
            if not found and masks_required:
                raise NotFoundError(
                    f"{here}: anomalous test image {image} has no mask; expected "
                    f"{gt_dir}/{image.stem}{MASK_SUFFIX}.png (or {image.stem}.png)"
                )
            test.append(Sample(image, found, 1, defect, category, "test"))
    if not test:
        raise NotFoundError(f"{here} has no images under {test_dir}; expected {test_dir}/good/*{example_ext}")
    return CategoryData(dataset=dataset, category=category, root=root, train=train, test=test, val=val)
