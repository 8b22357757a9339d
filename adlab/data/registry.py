"""Dataset layouts by name, and the functions pipelines call to read any of them."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from adlab.core.suggest import closest_first
from adlab.data import folder, loco, visa
from adlab.data.mvtec_style import list_mvtec_categories, load_mvtec_category
from adlab.data.types import CategoryData
from adlab.errors import ConfigError, NotFoundError


@dataclass(frozen=True)
class DatasetLayout:
    """How to read one dataset: its categories and one category's samples."""

    name: str
    description: str
    # Folder names looked for under $ADLAB_DATA_ROOT, the first existing one wins.
    folder_names: tuple[str, ...]
    list_categories: Callable[..., list[str]]
    load_category: Callable[..., CategoryData]
    # Keyword options a layout accepts (only ``folder`` has any).
    options: tuple[str, ...] = ()


def _mvtec_like(name: str, description: str, folder_names: tuple[str, ...], ext: str = ".png") -> DatasetLayout:
    return DatasetLayout(
        name=name,
        description=description,
        folder_names=folder_names,
        list_categories=partial(list_mvtec_categories, name, example_ext=ext),
        load_category=partial(load_mvtec_category, name, example_ext=ext),
    )


_FOLDER_OPTIONS = tuple(
    p for p in inspect.signature(folder.load_folder_category).parameters if p not in ("root", "category")
)

LAYOUTS: dict[str, DatasetLayout] = {
    layout.name: layout
    for layout in (
        _mvtec_like("mvtec_ad", "MVTec AD: <category>/train/good, test/<defect>, ground_truth/<defect>/<stem>_mask.png",
                    ("MVTecAD", "MVTec-AD", "mvtec_ad", "mvtec_anomaly_detection", "mvtec", "MVTec")),
        DatasetLayout("visa", "VisA: raw split_csv/1cls.csv layout or anomalib's visa_pytorch/<category> layout",
                      ("VisA", "visa", "VISA"), visa.list_visa_categories, visa.load_visa_category),
        _mvtec_like("mpdd", "MPDD: MVTec AD layout", ("MPDD", "mpdd")),
        DatasetLayout("mvtec_loco", "MVTec LOCO AD: MVTec layout + validation/good, ground_truth/<defect>/<stem>/NNN.png",
                      ("MVTec_LOCO", "MVTec-LOCO", "mvtec_loco", "mvtec_loco_anomaly_detection"),
                      loco.list_loco_categories, loco.load_loco_category),
        _mvtec_like("goodsad", "GoodsAD: MVTec AD layout with .jpg images, masks <stem>.png",
                    ("GoodsAD", "goodsad", "PKU-GoodsAD"), ".jpg"),
        DatasetLayout("folder", "generic folders: <category>/{good,abnormal,masks,normal_test} or names from the config",
                      ("folder",), folder.list_folder_categories, folder.load_folder_category, _FOLDER_OPTIONS),
        _mvtec_like("synthetic", "adlab's generated data (adlab data synth): MVTec AD layout",
                    ("synthetic", "adlab_synth")),
    )
}


def list_datasets() -> list[str]:
    """Names of the dataset layouts adlab can read, in registry order."""
    return list(LAYOUTS)


def get_layout(dataset: str) -> DatasetLayout:
    try:
        return LAYOUTS[dataset]
    except KeyError:
        raise NotFoundError(f"unknown dataset '{dataset}'; known datasets"
                            f"{closest_first(dataset, LAYOUTS)}") from None


def _check_options(layout: DatasetLayout, options: dict[str, Any]) -> dict[str, Any]:
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(layout.options))
    if unknown:
        accepted = ", ".join(layout.options) if layout.options else "none"
        raise ConfigError(
            f"dataset '{layout.name}' does not take the option(s) {', '.join(unknown)}; accepted: {accepted}"
        )
    return options


def list_categories(dataset: str, root: Path, **options: Any) -> list[str]:
    """Categories present under ``root`` (sorted); ``options`` only for the ``folder`` layout."""
    layout = get_layout(dataset)
    return layout.list_categories(Path(root), **_check_options(layout, options))


def load_category(dataset: str, root: Path, category: str, **options: Any) -> CategoryData:
    """Every sample of one category. Missing folders, unknown categories and anomalous test
    images without a mask (except LOCO and folder, where masks are optional) raise one
    AdlabError naming the path that was expected."""
    layout = get_layout(dataset)
    return layout.load_category(Path(root), category, **_check_options(layout, options))


def resolve_categories(dataset: str, root: Path, categories: str | Sequence[str] | None, *,
                       categories_field: str = "data.categories", **options: Any) -> list[str]:
    """``None`` or ``"all"`` -> every category; otherwise the named ones (a list or a
    comma-separated string), checked against those present, in the order given, without duplicates.
    ``categories_field``: where the config names them (in the fix of a refusal)."""
    available = list_categories(dataset, root, **options)
    if categories is None or (isinstance(categories, str) and categories.strip().lower() in ("", "all")):
        return available
    names = categories.split(",") if isinstance(categories, str) else list(categories)
    wanted: list[str] = []
    for name in (str(n).strip() for n in names):
        if name and name not in wanted:
            wanted.append(name)
    if wanted == ["all"]:
        return available
    missing = [n for n in wanted if n not in available]
    empty = [n for n in missing if (Path(root) / n).is_dir()]
    if empty:  # the folder is there: saying "no such category" would send the user looking
        raise NotFoundError(
            f"dataset '{dataset}' at {root}: the folder {Path(root) / empty[0]} of category "
            f"'{empty[0]}' holds no {dataset} data (it is empty or not in that layout); "
            f"fill it or remove it from {categories_field} (categories found: {', '.join(available)})")
    if missing:
        raise NotFoundError(
            f"dataset '{dataset}' at {root} has no categor{'y' if len(missing) == 1 else 'ies'} "
            f"{', '.join(repr(m) for m in missing)}; categories found"
            f"{closest_first(missing[0], available)}; fix {categories_field}"
        )
    return wanted
