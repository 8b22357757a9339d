"""Turn a study file plus command-line overrides into validated run specs.

Order: file (env expanded) -> each condition merged over the base -> each grid point ->
overrides (``--set`` and shortcuts, which always win) -> the pipeline's params model ->
the pipeline's own expansion (e.g. one run per category) -> names and hashes.

Before anything is expanded, the file's values are checked for credentials
(:func:`adlab.core.secrets.find_secret`) and the grid's size is computed from the lengths of
its lists: a study of more than ``max_runs`` runs (:func:`adlab.settings.max_runs`, or
``adlab queue --max-runs``) is refused with the count, even for ``--dry-run``.
"""
from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from pydantic import ValidationError

from adlab.core.grouping import names_param
from adlab.core.run_spec import RunSpec, default_name, make_run_spec
from adlab.core.secrets import find_secret, secret_refusal
from adlab.core.suggest import closest_first
from adlab.core.values import canonical, canonical_json, flatten
from adlab.config.overrides import apply_overrides, deep_merge, set_path
from adlab.config.schema import Condition, StudyFields, split_study
from adlab.config.seed_study import NOTES_INFO_KEY, SEED_PIPELINE, is_seed_study, translate_seed
from adlab.config.yamlio import read_config_file
from adlab.errors import AdlabError, ConfigError
from adlab.pipelines import PipelineParams, PipelineSpec, get_pipeline
from adlab.settings import MAX_RUNS_ENV
from adlab.settings import max_runs as default_max_runs

__all__ = ["RunSpec", "build_run_specs", "format_validation_error", "load_run_specs"]


def format_validation_error(exc: ValidationError, where: str) -> str:
    errors = exc.errors()
    first = errors[0]
    path = ".".join(str(p) for p in first["loc"]) or "(top level)"
    value = first.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field (not allowed here); check the spelling or the pipeline's docs"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: field `{path}`: {msg}; got {shown}{more}"


def _grid_points(grid: Mapping[str, Sequence[Any]] | None) -> Iterator[dict[str, Any]]:
    """The grid's points one at a time (never the whole product in memory)."""
    if not grid:
        yield {}
        return
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, combo))


def _run_limit(given: int | None) -> int:
    if given is not None:
        limit = given
    else:
        try:
            limit = default_max_runs()
        except ValueError:
            raise ConfigError(f"{MAX_RUNS_ENV}={os.environ.get(MAX_RUNS_ENV)!r} is not a whole "
                              f"number; set it like {MAX_RUNS_ENV}=50000") from None
    if limit < 1:
        raise ConfigError(f"the run limit must be at least 1, got {limit}; set --max-runs or "
                          f"{MAX_RUNS_ENV} to the most runs one study may make")
    return limit


def _too_many(what: str, limit: int, needed: int | None) -> ConfigError:
    n = needed or "N"
    return ConfigError(
        f"{what} than the limit of {limit:,}; narrow the grid, or raise the limit with "
        f"`adlab queue --max-runs {n}` or {MAX_RUNS_ENV}={n}")


def _check_grid_size(grids: Sequence[Mapping[str, Sequence[Any]]], where: str, limit: int) -> None:
    """Refuse a study whose grids have more points than ``limit``, from the lists' lengths
    alone (10^6 combinations are refused without building one)."""
    sizes = [math.prod(len(v) for v in g.values()) for g in grids]
    total = sum(sizes)
    if total <= limit:
        return
    if len(grids) == 1:
        dims = " x ".join(f"{k} {len(v)}" for k, v in grids[0].items())
        count = f"the grid makes {total:,} runs ({dims})"
    else:
        count = f"the grids of its {len(grids)} conditions make {total:,} runs"
    raise _too_many(f"{where}: {count}, more", limit, total)


def _short(value: Any) -> str:
    c = canonical(value)
    if isinstance(c, list):
        return "-".join(_short(v) for v in c)
    return str(c).replace("/", "-").replace(" ", "")


def _format_name(template: str, flat: Mapping[str, Any], where: str) -> str:
    fields = {k.replace(".", "_"): ("none" if v is None else _short(v)) for k, v in flat.items()}
    try:
        return template.format(**fields)
    except KeyError as exc:
        known = ", ".join(sorted(fields))
        raise ConfigError(
            f"{where}: name_template {template!r} uses {{{exc.args[0]}}}, which is not a "
            f"parameter; available: {known}"
        ) from None


def _validate(spec: PipelineSpec, params: dict[str, Any], where: str) -> PipelineParams:
    try:
        return spec.params_model.model_validate(params)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from None


def build_run_specs(
    raw: dict[str, Any],
    *,
    source: str = "<config>",
    sets: Sequence[tuple[str, Any]] = (),
    shortcut_values: Mapping[str, Any] | None = None,
    pipeline_override: str | None = None,
    group_keys_override: Sequence[str] | None = None,
    max_runs: int | None = None,
) -> list[RunSpec]:
    """Expand one parsed study file into run specs (not yet queued). ``max_runs`` bounds the
    runs it may make (default :func:`adlab.settings.max_runs`)."""
    secret = find_secret(raw)
    if secret is not None:
        raise ConfigError(secret_refusal(f"config {source}: field `{secret}`"))
    study_raw, base_params = split_study(raw)
    try:
        study = StudyFields.model_validate(study_raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"config {source}")) from None

    conditions = study.conditions or [Condition(name=study.name or "")]
    limit = _run_limit(max_runs)
    _check_grid_size([{**(study.grid or {}), **(c.grid or {})} for c in conditions],
                     f"config {source}", limit)
    seed_style = is_seed_study(raw)  # seed 002's base-exp_condition.json spelling
    specs: list[RunSpec] = []
    for condition in conditions:
        pipeline_name = (pipeline_override or condition.pipeline or study.pipeline
                         or (SEED_PIPELINE if seed_style else None))
        where = f"config {source}" + (f", condition {condition.name!r}" if study.conditions else "")
        if not pipeline_name:
            from adlab.pipelines import list_pipelines

            known = ", ".join(p.name for p in list_pipelines())
            raise ConfigError(f"{where}: no `pipeline:` given; add one of: {known}")
        spec = get_pipeline(pipeline_name)
        base, condition_config, notes = (translate_seed(spec, base_params, condition.config, where)
                                         if seed_style else (base_params, condition.config, []))
        from adlab.config.overrides import shortcut_sets
        from adlab.pipelines import shortcut_paths

        given = {k: v for k, v in (shortcut_values or {}).items() if v is not None}
        all_sets = (shortcut_sets(given, shortcut_paths(spec)) if given else []) + list(sets)
        group_keys = list(group_keys_override or condition.group_keys or study.group_keys or []) or None
        grid = {**(study.grid or {}), **(condition.grid or {})}
        first_of_condition = len(specs)
        for point in _grid_points(grid):
            params = deep_merge(base, condition_config)
            for key, value in point.items():
                set_path(params, key, value)
            params = apply_overrides(params, all_sets)
            validated = _validate(spec, params, where)
            expanded = spec.expand(validated) if spec.expand else [validated]
            split_keys = _differing_keys(expanded)
            for one in expanded:
                run_spec = _make_spec(spec, one, study, condition, point, group_keys, where)
                if notes:
                    run_spec.info[NOTES_INFO_KEY] = list(notes)
                if split_keys and (condition.name or not template_covers(spec, study, split_keys)):
                    run_spec.name = _with_suffix(run_spec.name, [run_spec.flat[k] for k in split_keys])
                _attach_dependencies(spec, run_spec, where)
                specs.append(run_spec)
                if len(specs) > limit:  # the pipeline's own expansion (one run per category)
                    raise _too_many(f"config {source}: once the pipeline expands each grid point "
                                    "(e.g. one run per category) the study makes more runs",
                                    limit, None)
        if group_keys:
            given = ("--group-keys" if group_keys_override
                     else "`group_keys:`" + (" of the condition" if condition.group_keys else ""))
            _check_group_keys(group_keys, specs[first_of_condition:], spec.name, where, given)
    _dedupe_names(specs)
    return specs


def _check_group_keys(group_keys: Sequence[str], specs: Sequence[RunSpec], pipeline: str,
                      where: str, given: str) -> None:
    """Refuse a group key that reads no parameter of any of ``specs`` (a typo would put every
    run in one group, keyed by None), naming the pipeline's parameters, the closest first."""
    flat_keys = sorted(set().union(*(s.flat for s in specs)))
    for key in group_keys:
        if not names_param(key, flat_keys):
            raise ConfigError(f"{where}: group key {key!r} ({given}) is not a parameter of "
                              f"pipeline {pipeline!r}; its parameters{closest_first(key, flat_keys)}")


def _make_spec(spec: PipelineSpec, params: PipelineParams, study: StudyFields, condition: Condition,
               point: Mapping[str, Any], group_keys: list[str] | None, where: str) -> RunSpec:
    config = params.model_dump(mode="json")
    try:  # facts read from the data (mmad.json's sampled subset): a refusal names the file
        derived = dict(spec.derived(params)) if spec.derived else {}
    except AdlabError as exc:
        raise type(exc)(f"{where}: {exc}") from None
    flat = {**flatten(config), **derived}
    template = study.name_template or spec.name_template
    if condition.name:
        base = condition.name
    elif template:
        base = _format_name(template, flat, where)
    else:
        base = default_name(spec.name, config)
    # Grid values not already spelled out by the template make the name unique and readable.
    in_template = template or ""
    suffix = "_".join(f"{k.rsplit('.', 1)[-1]}{_short(v)}" for k, v in point.items()
                      if condition.name or "{" + k.replace(".", "_") + "}" not in in_template)
    return make_run_spec(
        pipeline=spec.name, config=config, derived=derived, params=params,
        name=f"{base}_{suffix}" if suffix else base,
        partition_keys=spec.partition_keys, non_group_keys=spec.non_group_keys,
        group_keys=group_keys, study=study.study,
        description=condition.description or study.description,
        priority=study.priority, max_attempts=study.max_attempts,
    )


def _attach_dependencies(spec: PipelineSpec, run_spec: RunSpec, where: str) -> None:
    if not spec.dependencies:
        return
    for dep in spec.dependencies(run_spec.params):
        if dep.run_id is not None:
            run_spec.depends_on = dep.run_id
            continue
        raw = {"pipeline": dep.pipeline, **dict(dep.params or {})}
        if dep.name:
            raw["name"] = dep.name
        [needed] = build_run_specs(raw, source=f"{where} (dependency of {run_spec.name})")[:1]
        needed.study = run_spec.study
        needed.priority = run_spec.priority + 1  # prerequisites first
        run_spec.needs.append(needed)


def _differing_keys(expanded: list[PipelineParams]) -> list[str]:
    """Params that tell a pipeline's expanded runs apart (e.g. the category of each)."""
    if len(expanded) < 2:
        return []
    flats = [flatten(p.model_dump(mode="json")) for p in expanded]
    keys = sorted(set().union(*flats))
    return [k for k in keys if len({canonical_key(f.get(k)) for f in flats}) > 1]


def canonical_key(value: Any) -> str:
    return canonical_json(value)


def template_covers(spec: PipelineSpec, study: StudyFields, keys: list[str]) -> bool:
    template = study.name_template or spec.name_template or ""
    return all("{" + k.replace(".", "_") + "}" in template for k in keys)


def _with_suffix(name: str, values: list[Any]) -> str:
    parts: list[str] = []
    for v in values:
        text = _short(v)
        if text not in parts:
            parts.append(text)
    return f"{name}_{'_'.join(parts)}"


def _dedupe_names(specs: list[RunSpec]) -> None:
    seen: dict[str, int] = {}
    for s in specs:
        seen[s.name] = seen.get(s.name, 0) + 1
    counters: dict[str, int] = {}
    for s in specs:
        if seen[s.name] > 1:
            counters[s.name] = counters.get(s.name, 0) + 1
            s.name = f"{s.name}_{counters[s.name]}"


def load_run_specs(path: Path, **kwargs: Any) -> list[RunSpec]:
    """Read a study file and expand it (see :func:`build_run_specs` for the keyword options)."""
    return build_run_specs(read_config_file(path), source=str(path), **kwargs)
