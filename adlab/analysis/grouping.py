"""The grouping rule: runs are compared only within one partition and one group.

Partition = pipeline + the pipeline's evaluation-partition params (dataset, categories,
protocol such as few-shot count or sampled image set). Group = partition + the declared group
keys, or, without a declaration, every parameter except seeds, names and the pipeline's
non-group keys. Both are stored as hashes on each run, and comparison queries filter on them.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from adlab.analysis.values import canonical, stable_hash

ALWAYS_EXCLUDED = ("seed", "name", "description")


def _is_excluded(key: str, excluded: Iterable[str]) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    return leaf in ALWAYS_EXCLUDED or any(key == e or key.startswith(e + ".") for e in excluded)


def partition_values(pipeline: str, flat: Mapping[str, Any],
                     partition_keys: Sequence[str]) -> dict[str, Any]:
    values = {"pipeline": pipeline}
    for key in partition_keys:
        values[key] = canonical(_lookup(flat, key))
    return values


def group_values(flat: Mapping[str, Any], *, group_keys: Sequence[str] | None,
                 partition_keys: Sequence[str], non_group_keys: Sequence[str]) -> dict[str, Any]:
    """The key -> canonical value mapping that defines a run's group (partition excluded)."""
    if group_keys:
        return {k: canonical(_lookup(flat, k)) for k in group_keys}
    skip = tuple(partition_keys) + tuple(non_group_keys)
    return {k: canonical(v) for k, v in sorted(flat.items()) if not _is_excluded(k, skip)}


def _under(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def group_pins_key(key: str, *, group_keys: Sequence[str] | None, partition_keys: Sequence[str],
                   non_group_keys: Sequence[str]) -> bool:
    """True when runs sharing a group hash necessarily share the canonical value of the flat
    parameter ``key``: it is (under) a partition key or a declared group key, or, without a
    declaration, any key the default group does not exclude. Regrouping by such keys only
    merges stored groups."""
    if _under(key, partition_keys):
        return True
    if group_keys:
        return _under(key, group_keys)
    return not _is_excluded(key, tuple(partition_keys) + tuple(non_group_keys))


def _lookup(flat: Mapping[str, Any], key: str) -> Any:
    """A dotted key, or a sub-tree given by its prefix (``data`` -> all ``data.*`` values)."""
    if key in flat:
        return flat[key]
    sub = {k[len(key) + 1:]: v for k, v in flat.items() if k.startswith(key + ".")}
    return sub or None


def partition_hash(pipeline: str, flat: Mapping[str, Any], partition_keys: Sequence[str]) -> str:
    return stable_hash(partition_values(pipeline, flat, partition_keys))


def group_hash(pipeline: str, flat: Mapping[str, Any], *, group_keys: Sequence[str] | None,
               partition_keys: Sequence[str], non_group_keys: Sequence[str]) -> str:
    return stable_hash({
        "partition": partition_values(pipeline, flat, partition_keys),
        "group": group_values(flat, group_keys=group_keys, partition_keys=partition_keys,
                              non_group_keys=non_group_keys),
    })
