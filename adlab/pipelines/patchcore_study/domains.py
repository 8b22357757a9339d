"""Train/test domains: ``category`` of the run's dataset, or ``dataset:category`` of another."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adlab.errors import ConfigError


@dataclass(frozen=True)
class Domain:
    label: str  # as written in the config; used in metric scopes
    dataset: str
    root: Path
    category: str


def parse_domain(text: str, params: object) -> Domain:
    """Resolve ``text`` against ``params`` (a PatchCoreStudyParams) to a dataset root on disk."""
    from adlab.data import dataset_root
    from adlab.data.registry import LAYOUTS

    data = params.data  # type: ignore[attr-defined]
    if ":" in text:
        dataset, _, category = text.partition(":")
        if dataset not in LAYOUTS:
            raise ConfigError(f"domain {text!r}: unknown dataset {dataset!r}; use one of "
                              f"{', '.join(sorted(LAYOUTS))} or write just the category of "
                              f"data.dataset")
        configured = params.cross_domain.roots.get(dataset)  # type: ignore[attr-defined]
        if configured is None and dataset == data.dataset:
            configured = data.root
    else:
        dataset, category, configured = data.dataset, text, data.root
    return Domain(label=text, dataset=dataset, root=dataset_root(configured, dataset), category=category)


def run_categories(params: object) -> list[str]:
    """data.categories with ``all`` resolved against the dataset on disk."""
    from adlab.data import dataset_root, resolve_categories

    data = params.data  # type: ignore[attr-defined]
    root = dataset_root(data.root, data.dataset)
    return resolve_categories(data.dataset, root, data.category_list() or "all", **data.options)
