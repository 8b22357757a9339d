"""Sweeps: one config -> chained child runs, one per combination of swept values.

Axes are ``sweep`` (dotted param -> values) plus, in cross-domain mode, ``cross_domain.train``
over the train domains (one matrix row per child). Axes are taken in sorted key order, so the
combination order is the same at queue time and in the worker (whose stored config has sorted
keys). Child k waits for child k-1 (the queue's ``depends_on``) and receives its cumulative
``study_rows`` artifact, so the last child holds every row and draws the study-level plots
(backbone comparison, fusion dimension vs AUROC, the cross-domain matrix). The price of the
chain is that a sweep's children run one after another; for independent runs use the study
file's ``grid:`` instead (then compare them with ``adlab compare`` / ``adlab report``).
"""
from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from adlab.errors import AdlabError, ConfigError
from adlab.pipelines.patchcore_study.params import PatchCoreStudyParams

TRAIN_AXIS = "cross_domain.train"


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def get_path(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"sweep key {dotted!r}: {part!r} is not a section of the "
                              f"patchcore_study params; fix the key")
        node = node[part]
    node[parts[-1]] = value


def resolved_train_domains(params: PatchCoreStudyParams) -> list[str]:
    domains = params.train_domains()
    if domains:
        return domains
    from adlab.pipelines.patchcore_study.domains import run_categories

    try:
        return run_categories(params)
    except AdlabError as exc:
        raise ConfigError(f"data.categories: cannot list the categories of {params.data.dataset!r} "
                          f"to make one cross-domain row per train category ({exc})") from None


def axes_of(params: PatchCoreStudyParams) -> dict[str, list[Any]]:
    """The swept keys and values, sorted by key (a child's own ``sweep`` already holds them)."""
    axes = dict(params.sweep)
    if params.mode == "cross_domain" and TRAIN_AXIS not in axes:
        axes[TRAIN_AXIS] = resolved_train_domains(params)
    return {k: list(axes[k]) for k in sorted(axes)}


def combinations(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def _child(base: dict[str, Any], combo: dict[str, Any], where: str) -> PatchCoreStudyParams:
    from pydantic import ValidationError

    config = copy.deepcopy(base)
    for key, value in combo.items():
        _set_path(config, key, value)
    try:
        return PatchCoreStudyParams.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {loc}: {first['msg']}; fix the sweep values") from None


def expand(params: PatchCoreStudyParams) -> list[PatchCoreStudyParams]:
    """A config with a sweep (or in cross-domain mode) -> its children; a child -> itself."""
    if params.sweep_child:
        return [params]
    axes = axes_of(params)
    if not axes:
        return [params]
    base = params.model_dump(mode="json")
    base["sweep"], base["sweep_child"] = {}, True
    if params.mode == "cross_domain":
        base["cross_domain"]["train_domains"] = axes[TRAIN_AXIS]
    # Store each swept value as the params model writes it back (defaults filled in), so a
    # child's own values are found again among the combinations.
    first = {k: v[0] for k, v in axes.items()}
    normal: dict[str, list[Any]] = {}
    for key, values in axes.items():
        normal[key] = []
        for value in values:
            child = _child(base, {**first, key: value}, f"sweep.{key} value {value!r}")
            normal[key].append(get_path(child.model_dump(mode="json"), key))
    base["sweep"] = normal
    return [_child(base, combo, f"sweep combination {combo}") for combo in combinations(normal)]


def position(params: PatchCoreStudyParams) -> tuple[int, int]:
    """(index, total) of a child within its sweep."""
    axes = axes_of(params)
    config = params.model_dump(mode="json")
    mine = {k: _canon(get_path(config, k)) for k in axes}
    combos = combinations(axes)
    for i, combo in enumerate(combos):
        if all(_canon(v) == mine[k] for k, v in combo.items()):
            return i, len(combos)
    raise ConfigError(f"sweep child has values {mine} that are not a combination of its sweep")


def predecessor(params: PatchCoreStudyParams) -> PatchCoreStudyParams | None:
    """The child that runs just before this one, or None for the first."""
    if not params.sweep_child:
        return None
    index, _ = position(params)
    if index == 0:
        return None
    combo = combinations(axes_of(params))[index - 1]
    return _child(params.model_dump(mode="json"), combo, "sweep predecessor")


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "-".join(_short(v) for v in value.values() if v is not None)
    if isinstance(value, list):
        return ",".join(_short(v) for v in value)
    return str(value)


def config_label(values: dict[str, Any], skip: tuple[str, ...] = (TRAIN_AXIS,)) -> str:
    """Swept values as a short label (``resnet18 / concat``)."""
    return " / ".join(_short(v) for k, v in values.items() if k not in skip) or "config"
