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

:func:`locate_path` is the same rule for any file or folder a run reads (MMAD's ``mmad.json``, a
thresholds YAML, a checkpoints folder). A refusal lists what the folder holds instead, the
closest names first. What a pipeline reads is a list of checks (:class:`DatasetCheck`, or a
pipeline's own: anything hashable with ``run() -> warnings``), so ``adlab queue`` checks each
distinct one once however many runs read it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from adlab.core.image_files import mask_size_problem
from adlab.core.suggest import closest_first
from adlab.data.imageio import image_size
from adlab.data.registry import get_layout, load_category, resolve_categories
from adlab.data.roots import dataset_root
from adlab.data.types import CategoryData
from adlab.errors import AdlabError, DataError, NotFoundError
from adlab.settings import data_root

MASK_EXAMPLES = 3  # mismatched masks named in the error besides the first


class DataCheck(Protocol):
    """One thing runs read, checked once per queue: equal checks are the same data."""

    def __hash__(self) -> int: ...

    def run(self) -> list[str]:
        """Warnings (the data is not reachable here); raises an AdlabError for a problem."""
        ...


def entries_of(folder: Path, *, folders_only: bool = False) -> list[str]:
    """Visible names in ``folder`` (sorted; [] when it cannot be listed)."""
    try:
        return sorted(p.name for p in folder.iterdir()
                      if not p.name.startswith(".") and (p.is_dir() or not folders_only))
    except OSError:
        return []


def locate_path(value: str | Path, *, field: str, what: str, folder: bool = False,
                path: str | Path | None = None, fix: str | None = None) -> Path | str:
    """The file (or folder) that field ``field`` of the config names (``value`` as written,
    ``path`` where it resolves to, default ``value`` itself) when it is one here, or a warning
    (a string) when nothing of the path exists on this machine. Raises when it is the other kind
    (a folder for a file), or is missing though its parent folder exists (a typo), listing that
    folder's entries, the closest first. ``what`` names the thing (``thresholds YAML``);
    ``fix`` what to do (default: fix the field in the config)."""
    where = Path(str(value if path is None else path)).expanduser()
    shown = f"{field} {value}" + ("" if str(where) == str(value) else f" ({where})")
    kind = "folder" if folder else "file"
    fix = fix or f"fix {field} in the config"
    if where.exists() and where.is_dir() != folder:
        raise DataError(f"{shown} is a {'file' if folder else 'folder'}, not the {what} {kind}; "
                        f"{fix}")
    if where.exists():
        return where
    if where.parent.is_dir():
        listing = closest_first(where.name, entries_of(where.parent, folders_only=folder))
        raise DataError(f"{shown} does not exist, though its folder {where.parent} does (it "
                        f"holds{listing}); {fix}")
    return (f"{shown} is not on this machine, so the {what} {kind} was not checked; the workers "
            "must have it there")


def locate_root(configured: str | Path | None, dataset: str, *,
                root_field: str = "data.root") -> Path | str:
    """The dataset root to check, or a warning (a string) when it is not reachable from this
    machine. Raises when a folder that exists here lacks what the run needs. ``root_field``:
    where the config sets this root (named in the fix)."""
    layout = get_layout(dataset)  # an unknown dataset is an error wherever the data is
    if configured not in (None, ""):
        path = Path(str(configured)).expanduser()
        if path.exists() and not path.is_dir():
            raise DataError(f"data root {path} for dataset '{dataset}' is a file, not a folder; "
                            f"fix {root_field} in the config")
        if not path.is_dir():
            if path.parent.is_dir():
                listing = closest_first(path.name, entries_of(path.parent, folders_only=True))
                raise DataError(
                    f"data root {path} for dataset '{dataset}' does not exist, though its parent "
                    f"folder {path.parent} does; fix {root_field} in the config (folders "
                    f"there{listing})")
            return (f"data root {path} for dataset '{dataset}' is not on this machine, so its "
                    "layout was not checked; the workers must have it there")
        return path
    base = data_root(None)
    if base is None:
        return (f"dataset '{dataset}' has no {root_field} and ADLAB_DATA_ROOT is not set here, so "
                f"its layout was not checked; the workers need ADLAB_DATA_ROOT (or set {root_field})")
    if not base.is_dir():
        return (f"ADLAB_DATA_ROOT={base} is not on this machine, so dataset '{dataset}' was not "
                "checked; the workers must have it there")
    for name in layout.folder_names:
        if (base / name).is_dir():
            return dataset_root(None, dataset)  # the readers' own choice among the names
    listing = closest_first(layout.folder_names[0], entries_of(base, folders_only=True))
    raise NotFoundError(
        f"ADLAB_DATA_ROOT={base} has no folder for dataset '{dataset}'; expected one of "
        f"{', '.join(layout.folder_names)} under it (folders there{listing}); put the dataset "
        f"there or set {root_field} in the config")


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
                  *, root_field: str = "data.root", categories_field: str = "data.categories",
                  **options: Any) -> list[str]:
    """Check the data one run will read. Returns warnings (the data is not reachable here);
    raises an AdlabError naming the path and the fix for the first problem found. The
    ``*_field`` arguments say where the config names the root and the categories."""
    located = locate_root(root, dataset, root_field=root_field)
    if isinstance(located, str):
        return [located]
    for category in resolve_categories(dataset, located, categories,
                                       categories_field=categories_field, **options):
        check_category(dataset, located, category, **options)
    return []


@dataclass(frozen=True)
class DatasetCheck:
    """Categories of a registry dataset that a run reads. Two checks of the same data are equal
    whatever field named them, so each is read once. ``where`` (e.g. ``cross_domain.test_domains
    entry 'visa:candle'``) leads a refusal when the data is not the run's ``data`` section."""

    dataset: str
    root: str | None
    categories: tuple[str, ...] | None  # None: every category on disk
    options_json: str = "{}"  # the layout options (``folder`` only), as JSON (hashable)
    root_field: str = field(default="data.root", compare=False)
    categories_field: str = field(default="data.categories", compare=False)
    where: str = field(default="", compare=False)

    @classmethod
    def of(cls, dataset: str, root: str | None, categories: Sequence[str] | None,
           options: dict[str, Any] | None = None, **fields: str) -> "DatasetCheck":
        return cls(dataset, root, None if categories is None else tuple(categories),
                   json.dumps(options or {}, sort_keys=True, default=str), **fields)

    def run(self) -> list[str]:
        try:
            return check_dataset(self.dataset, self.root,
                                 None if self.categories is None else list(self.categories),
                                 root_field=self.root_field, categories_field=self.categories_field,
                                 **json.loads(self.options_json))
        except AdlabError as exc:
            if not self.where:
                raise
            raise type(exc)(f"{self.where}: {exc}") from None
