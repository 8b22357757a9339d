"""Run identity: what a run is, computed in one place for queued, imported and re-queued runs.

A run is identified by its pipeline and params: the config hash decides duplicates ("this exact
config already ran"), the partition and group hashes decide what it is ranked against
(:mod:`adlab.core.grouping`), the seed tells repeated runs apart. The queue
(:mod:`adlab.config.loader`), ``adlab import`` and the TUI's re-queue all build runs with
:func:`make_run_spec`, so a change to how a run is identified happens here once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from adlab.core.grouping import group_hash, partition_hash
from adlab.core.values import flatten, numeric_value, stable_hash


@dataclass
class RunSpec:
    """One run to write: its params, the hashes that decide duplicates and groups, and how to
    queue it."""

    name: str
    pipeline: str
    params: Any  # the pipeline's validated params object; None for imported runs
    config: dict[str, Any]  # stored as config_json (nested as queued; flat for imported runs)
    flat: dict[str, Any]  # flattened params plus derived facts: one params row each
    config_hash: str
    partition_hash: str
    group_hash: str
    group_keys: list[str] | None
    study: str = ""
    description: str = ""
    priority: int = 0
    max_attempts: int = 3
    seed: int | None = None
    depends_on: int | None = None
    # Prerequisite runs (queued before this one; this run waits for the first of them).
    needs: list["RunSpec"] = field(default_factory=list)
    # The partition keys the hashes used (recorded on imported runs, whose keys vary).
    partition_keys: list[str] = field(default_factory=list)
    # How a stringifying source spelled each param (kept for display when it spells the value).
    param_texts: dict[str, str] = field(default_factory=dict)
    # Facts stored in the run's info when it is queued (e.g. how the config's fields were read).
    info: dict[str, Any] = field(default_factory=dict)


def seed_of(flat: Mapping[str, Any]) -> int | None:
    """The run's seed: an integer-valued ``seed`` param, else None."""
    value = numeric_value(flat.get("seed"))
    return int(value) if value is not None and value.is_integer() else None


def config_hash(pipeline: str, config: Mapping[str, Any]) -> str:
    """Equal for the same pipeline and params by meaning: an identical config is a duplicate."""
    return stable_hash({"pipeline": pipeline, "params": config})


def default_name(pipeline: str, config: Mapping[str, Any]) -> str:
    """A run name when nothing names the run: the pipeline and a short hash of its params."""
    return f"{pipeline}_{stable_hash(config)[:8]}"


def make_run_spec(*, pipeline: str, config: Mapping[str, Any], partition_keys: Sequence[str],
                  non_group_keys: Sequence[str] = (), group_keys: Sequence[str] | None = None,
                  derived: Mapping[str, Any] | None = None, flat: Mapping[str, Any] | None = None,
                  name: str | None = None,
                  params: Any = None, study: str = "", description: str = "", priority: int = 0,
                  max_attempts: int = 3, depends_on: int | None = None,
                  param_texts: Mapping[str, str] | None = None) -> RunSpec:
    """Everything that identifies a run, from its pipeline and params.

    ``config``: the params as stored (nested as queued). ``flat``: the flat params when they are
    not ``flatten(config)`` (imported runs store their flat params as the config and a dict value
    stays one value). ``derived``: facts the pipeline derives from the params (a resolved
    category list) that join the flat params for naming and grouping.
    ``partition_keys``/``non_group_keys`` come from the pipeline spec (or an import's own keys);
    ``group_keys`` are the declared group keys (None: the default group).
    """
    config = dict(config)
    flat = dict(flat) if flat is not None else flatten(config)
    if derived:
        flat.update(derived)
    pkeys = list(partition_keys)
    gkeys = list(group_keys) if group_keys else None
    return RunSpec(
        name=name or default_name(pipeline, config),
        pipeline=pipeline,
        params=params,
        config=config,
        flat=flat,
        config_hash=config_hash(pipeline, config),
        partition_hash=partition_hash(pipeline, flat, pkeys),
        group_hash=group_hash(pipeline, flat, group_keys=gkeys, partition_keys=pkeys,
                              non_group_keys=tuple(non_group_keys)),
        group_keys=gkeys,
        study=study,
        description=description,
        priority=priority,
        max_attempts=max_attempts,
        seed=seed_of(flat),
        depends_on=depends_on,
        partition_keys=pkeys,
        param_texts=dict(param_texts or {}),
    )
