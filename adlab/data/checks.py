"""Checking a dataset before any run reads it (``adlab queue`` calls this for every run).

A problem found at queue time costs a second instead of a worker's start-up and a failed run
~15 s later. The checks are the readers themselves (:func:`~adlab.data.registry.load_category`,
the rules every run applies) plus the mask-size rule of :mod:`adlab.data.imageio`, read from
file headers only, so a check says exactly what the run would have said.

Where the data lives decides what is checked: the queueing machine may not see the workers'
data (a cluster's scratch, a mount). The rule, :func:`locate_root`:

* the root is a folder here: check it; any problem is an error;
* the root does not exist, but its parent folder does: an error (almost always a typo in the
  last part of the path); ``adlab queue --no-data-check`` if the workers mount it there;
* nothing of the path exists here (or no root and no ``ADLAB_DATA_ROOT`` here): a warning, the
  data is the workers' business and each run checks it when it starts.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adlab.core.image_files import mask_size_problem
from adlab.data.imageio import image_size
from adlab.data.registry import get_layout, load_category, resolve_categories
from adlab.data.roots import dataset_root
from adlab.data.types import CategoryData
from adlab.errors import DataError
from adlab.settings import data_root

MASK_EXAMPLES = 3  # mismatched masks named in the error besides the first


def locate_root(configured: str | Path | None, dataset: str) -> Path | str:
    """The dataset root to check, or a warning (a string) when it is not reachable from this
    machine. Raises when a folder that exists here lacks what the run needs."""
    get_layout(dataset)  # an unknown dataset is an error wherever the data is
    if configured not in (None, ""):
        path = Path(str(configured)).expanduser()
        if path.exists() and not path.is_dir():
            raise DataError(f"data root {path} for dataset '{dataset}' is a file, not a folder; "
                            "fix data.root in the config")
        if not path.is_dir():
            if path.parent.is_dir():
                raise DataError(
                    f"data root {path} for dataset '{dataset}' does not exist, though its parent "
                    f"folder {path.parent} does; fix data.root in the config")
            return (f"data root {path} for dataset '{dataset}' is not on this machine, so its "
                    "layout was not checked; the workers must have it there")
        return path
    base = data_root(None)
    if base is None:
        return (f"dataset '{dataset}' has no data.root and ADLAB_DATA_ROOT is not set here, so "
                "its layout was not checked; the workers need ADLAB_DATA_ROOT (or set data.root)")
    if not base.is_dir():
        return (f"ADLAB_DATA_ROOT={base} is not on this machine, so dataset '{dataset}' was not "
                "checked; the workers must have it there")
    return dataset_root(None, dataset)  # raises, naming the folders looked for


def mask_size_problems(data: CategoryData) -> list[tuple[Path, str]]:
    """(mask, why) for each mask whose size differs from its image's (file headers only)."""
    problems: list[tuple[Path, str]] = []
    for sample in data.test:
        if not sample.mask_paths:
            continue
        image_hw = image_size(sample.image_path)
        for mask in sample.mask_paths:
            problem = mask_size_problem(mask, image_size(mask, "mask"), sample.image_path, image_hw)
            if problem:
                problems.append((mask, problem))
    return problems


def check_category(dataset: str, root: Path, category: str, **options: Any) -> None:
    """Read one category as a run would (layout, images present, a mask for every anomalous
    image) and check every mask's size; raises the first problem, naming the file."""
    data = load_category(dataset, root, category, **options)
    problems = mask_size_problems(data)
    if problems:
        others = [str(mask) for mask, _ in problems[1:]]
        more = ""
        if others:
            shown = ", ".join(others[:MASK_EXAMPLES]) + (", ..." if len(others) > MASK_EXAMPLES else "")
            more = f" ({len(others)} more mask(s) of category '{category}' too: {shown})"
        raise DataError(problems[0][1] + more)


def check_dataset(dataset: str, root: str | Path | None, categories: str | Sequence[str] | None,
                  **options: Any) -> list[str]:
    """Check the data one run will read. Returns warnings (the data is not reachable here);
    raises an AdlabError naming the path and the fix for the first problem found."""
    located = locate_root(root, dataset)
    if isinstance(located, str):
        return [located]
    for category in resolve_categories(dataset, located, categories, **options):
        check_category(dataset, located, category, **options)
    return []
