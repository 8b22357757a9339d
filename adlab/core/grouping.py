"""The grouping rule: runs are compared only within one partition and one group.

Partition = pipeline + the pipeline's evaluation-partition params (dataset, categories,
protocol such as few-shot count or sampled image set). Group = partition + the declared group
keys, or, without a declaration, every parameter except seed-like keys (:func:`is_seed_like`:
seeds, names, the pipeline's non-group keys). Both are stored as hashes on each run, and
comparison queries filter on them.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Mapping, Sequence

from adlab.core.values import canonical, stable_hash

# Leaves that never define a group: repeated seeds and labels of the same configuration.
SEED_LIKE_LEAVES = ("seed", "name", "description")
# Seeds of the *evaluation sample* (which images are asked): they change what is measured.
NOT_SEED_LIKE_LEAVES = ("sample_seed",)


def under(key: str, prefixes: Iterable[str]) -> bool:
    """``key`` is one of ``prefixes`` or a dotted key below one (``data`` covers ``data.root``)."""
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def is_seed_like(key: str, non_group_keys: Iterable[str] = ()) -> bool:
    """The one seed-like rule: a key that tells repeated runs of one configuration apart.

    Its last dotted part is ``seed``, ``name`` or ``description``, or ends in ``_seed``
    (``init_seed``) except ``sample_seed``; or it is (under) one of the pipeline's
    ``non_group_keys`` (output paths, device hints). Such keys are left out of the default
    group, of the parameters shown as differing variants, and of group-mismatch messages.
    """
    leaf = key.rsplit(".", 1)[-1]
    if leaf in SEED_LIKE_LEAVES:
        return True
    if leaf.endswith("_seed") and leaf not in NOT_SEED_LIKE_LEAVES:
        return True
    return under(key, non_group_keys)


def names_param(key: str, flat_keys: Iterable[str]) -> bool:
    """Whether a group key reads a parameter: one of ``flat_keys`` or the prefix of some
    (``model_params`` covers ``model_params.backbone``). Any other key reads None for every
    run, so grouping by it silently puts all runs in one group."""
    prefix = key + "."
    return any(k == key or k.startswith(prefix) for k in flat_keys)


def _lookup(flat: Mapping[str, Any], key: str) -> Any:
    """A dotted key, or a sub-tree given by its prefix (``data`` -> all ``data.*`` values)."""
    if key in flat:
        return flat[key]
    sub = {k[len(key) + 1:]: v for k, v in flat.items() if k.startswith(key + ".")}
    return sub or None


def partition_values(pipeline: str, flat: Mapping[str, Any],
                     partition_keys: Sequence[str]) -> dict[str, Any]:
    """The pipeline and the canonical value of each partition key."""
    values: dict[str, Any] = {"pipeline": pipeline}
    for key in partition_keys:
        values[key] = canonical(_lookup(flat, key))
    return values


def group_values(flat: Mapping[str, Any], *, group_keys: Sequence[str] | None,
                 partition_keys: Sequence[str], non_group_keys: Sequence[str]) -> dict[str, Any]:
    """The key -> canonical value mapping that defines a run's group (partition excluded)."""
    if group_keys:
        return {k: canonical(_lookup(flat, k)) for k in group_keys}
    return {k: canonical(v) for k, v in sorted(flat.items())
            if not under(k, partition_keys) and not is_seed_like(k, non_group_keys)}


def group_pins_key(key: str, *, group_keys: Sequence[str] | None, partition_keys: Sequence[str],
                   non_group_keys: Sequence[str]) -> bool:
    """True when runs sharing a group hash necessarily share the canonical value of the flat
    parameter ``key``: it is (under) a partition key or a declared group key, or, without a
    declaration, any key the default group does not exclude. Regrouping by such keys only
    merges stored groups."""
    if under(key, partition_keys):
        return True
    if group_keys:
        return under(key, group_keys)
    return not is_seed_like(key, non_group_keys)


def partition_hash(pipeline: str, flat: Mapping[str, Any], partition_keys: Sequence[str]) -> str:
    return stable_hash(partition_values(pipeline, flat, partition_keys))


def group_hash(pipeline: str, flat: Mapping[str, Any], *, group_keys: Sequence[str] | None,
               partition_keys: Sequence[str], non_group_keys: Sequence[str]) -> str:
    return stable_hash({
        "partition": partition_values(pipeline, flat, partition_keys),
        "group": group_values(flat, group_keys=group_keys, partition_keys=partition_keys,
                              non_group_keys=non_group_keys),
    })


# --- variants: what a method is, apart from its seeds and the data it is evaluated on -------

DATASET_LEAVES = ("dataset",)
CATEGORY_LEAVES = ("category", "categories", "category_set")


def is_dataset_key(key: str) -> bool:
    """A key naming the dataset a run is evaluated on (``data.dataset``)."""
    return key.rsplit(".", 1)[-1] in DATASET_LEAVES


def is_category_key(key: str) -> bool:
    """A key naming the categories a run is evaluated on (``data.category_set``, or the
    per-run ``data.categories`` of a study split per category)."""
    return key.rsplit(".", 1)[-1] in CATEGORY_LEAVES


def is_variant_key(key: str, partition_keys: Sequence[str] = ()) -> bool:
    """Whether ``key`` tells variants apart: not seed-like by its name, not a dataset/category
    key, not under a partition key that is one. A pipeline's non-group keys stay: they include
    what some pipelines compare (MMAD's ``llm``), so dropping them could pool two models."""
    return _is_variant_key(key, tuple(partition_keys))


@functools.lru_cache(maxsize=65536)
def _is_variant_key(key: str, partition_keys: tuple[str, ...]) -> bool:
    # cached: a pivot asks this for every parameter of every run (10k runs: 4 s -> 0.1 s)
    data_keys = [p for p in partition_keys if is_dataset_key(p) or is_category_key(p)]
    return not (is_seed_like(key) or is_dataset_key(key) or is_category_key(key)
                or under(key, data_keys))


def variant_values(flat: Mapping[str, Any], partition_keys: Sequence[str] = ()) -> dict[str, Any]:
    """A run's variant: its configuration minus seed-like keys minus the partition's
    dataset/category keys. Runs of one variant differ only in seed and data, so they are the
    only runs a mean ± std may pool."""
    pkeys = tuple(partition_keys)
    return {k: canonical(v) for k, v in sorted(flat.items()) if _is_variant_key(k, pkeys)}


def _first_value(flat: Mapping[str, Any], partition_keys: Sequence[str],
                 pred: Callable[[str], bool]) -> Any:
    candidates = [p for p in partition_keys if pred(p)]
    candidates += sorted((k for k in flat if pred(k)), key=lambda k: (k.count("."), k))
    for key in candidates:
        value = _lookup(flat, key)
        if value is not None:
            return canonical(value)
    return None


def dataset_value(flat: Mapping[str, Any], partition_keys: Sequence[str] = ()) -> Any:
    """The dataset a run is evaluated on: its dataset partition key, else any dataset key."""
    return _first_value(flat, partition_keys, is_dataset_key)


def category_value(flat: Mapping[str, Any], partition_keys: Sequence[str] = ()) -> Any:
    """The categories a run is evaluated on (one name, a list, ``all``), or None."""
    return _first_value(flat, partition_keys, is_category_key)
