"""TEMPORARY home of the variant rule until adlab/core/grouping.py exists (then moved there)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from adlab.analysis.values import canonical

DATASET_LEAVES = ("dataset",)
CATEGORY_LEAVES = ("category", "categories", "category_set")
_SEED_LIKE = ("seed", "name", "description")


def is_seed_like(key: str) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    return leaf in _SEED_LIKE or leaf.endswith("_seed") and leaf != "sample_seed"


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def is_dataset_key(key: str) -> bool:
    """A key naming the dataset a run is evaluated on (``data.dataset``)."""
    return _leaf(key) in DATASET_LEAVES


def is_category_key(key: str) -> bool:
    """A key naming the categories a run is evaluated on (``data.category_set``,
    ``data.categories``: the per-run list of a run split per category)."""
    return _leaf(key) in CATEGORY_LEAVES


def is_variant_key(key: str, partition_keys: Sequence[str] = ()) -> bool:
    """Whether ``key`` tells variants apart: not seed-like, not the data the run is evaluated
    on (a dataset/category key, or under a partition key that is one)."""
    data_keys = [p for p in partition_keys if is_dataset_key(p) or is_category_key(p)]
    return not (is_seed_like(key) or is_dataset_key(key) or is_category_key(key)
                or _under(key, data_keys))


def variant_values(flat: Mapping[str, Any], partition_keys: Sequence[str] = ()) -> dict[str, Any]:
    """A run's variant: its configuration minus seed-like keys minus the partition's
    dataset/category keys. Runs of one variant differ only in seed and in the data they are
    evaluated on, so they are the only runs a mean ± std may pool."""
    return {k: canonical(v) for k, v in sorted(flat.items()) if is_variant_key(k, partition_keys)}


def _first(flat: Mapping[str, Any], partition_keys: Sequence[str], pred) -> Any:  # noqa: ANN001
    for k in [p for p in partition_keys if pred(p)] + sorted(
            (k for k in flat if pred(k)), key=lambda k: (k.count("."), k)):
        if k in flat:
            return canonical(flat[k])
        sub = {kk[len(k) + 1:]: v for kk, v in flat.items() if kk.startswith(k + ".")}
        if sub:
            return canonical(sub)
    return None


def dataset_value(flat: Mapping[str, Any], partition_keys: Sequence[str] = ()) -> Any:
    """The dataset a run is evaluated on: its dataset partition key, else any dataset key."""
    return _first(flat, partition_keys, is_dataset_key)


def category_value(flat: Mapping[str, Any], partition_keys: Sequence[str] = ()) -> Any:
    """The categories a run is evaluated on (one name, a list, ``all``), or None."""
    return _first(flat, partition_keys, is_category_key)
