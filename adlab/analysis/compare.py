"""Grouped comparison: rank runs only against runs of their own group.

A group is the evaluation partition (pipeline, dataset, category set, protocol) plus the
declared group keys, or, without a declaration, every parameter except seed-like keys
(:func:`adlab.core.grouping.is_seed_like`). The
grouping and ranking happen in SQL (:mod:`adlab.db.compare_queries`); this module adds what a
reader needs beside the ranks: the best run, deltas against a baseline in percentage points,
mean ± std over repeated seeds, and only the parameters that differ inside the group.

Conventions:
- A metric's direction and scale are what the runs' pipeline declares for it
  (:class:`adlab.core.vocabulary.MetricInfo`: ``fit_s`` is a cost, ``image_auroc`` a fraction,
  MMAD ``accuracy`` a percentage); ``lower_is_better`` names more lower-is-better metrics;
  undeclared metrics follow the one name rule, :func:`adlab.core.vocabulary.infer_metric_info`.
- Deltas are in percentage points: fractions' differences are multiplied by 100, percentages
  and raw quantities keep theirs. An undeclared metric is a fraction when all its compared
  values lie in [0, 1].
- Ties share a rank (1, 1, 3); runs whose metric is undefined (NULL) are listed last, unranked.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from sqlalchemy.engine import Engine

from adlab.core.display import format_value
from adlab.core.grouping import group_pins_key, is_seed_like, is_variant_key
from adlab.core.values import canonical, canonical_json
from adlab.core.vocabulary import MetricInfo, Scale, resolve_metric_info
from adlab.db import compare_queries as cq
from adlab.db import headline_ranking
from adlab.db.compare_queries import RunFilter
from adlab.errors import AdlabError
from adlab.pipelines.declared import declared_metrics, partition_keys_of, spec_keys

__all__ = ["Comparison", "Group", "GroupMismatch", "MetricStats", "ParamDifference", "RankedRun",
           "RunFilter", "VariantStats", "compare", "declared_metrics", "format_value",
           "metric_info", "partition_keys_of"]


class GroupMismatch(AdlabError):
    """Named runs belong to different groups; the message lists the parameters that differ."""


@dataclass
class MetricStats:
    mean: float | None
    std: float | None  # sample standard deviation; None with fewer than two values
    n: int


@dataclass
class RankedRun:
    id: int
    name: str
    rank: int | None
    values: dict[str, float | None]
    delta_pp: dict[str, float | None] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)  # only the keys that differ in the group
    seed: int | None = None
    variant: int = 0
    is_baseline: bool = False


@dataclass
class VariantStats:
    """Runs of a group that differ only in seed-like keys: the metric over repeated seeds."""

    index: int
    params: dict[str, Any]
    n: int
    mean: float | None
    std: float | None
    run_ids: list[int]
    # Every compared metric over this variant's runs (its seeds); mean/std/n above: the first.
    stats: dict[str, MetricStats] = field(default_factory=dict)


@dataclass
class BestRun:
    id: int
    name: str
    value: float | None
    tied: list[int] = field(default_factory=list)  # other runs sharing rank 1


@dataclass
class Group:
    id: str
    label: str
    pipeline: str
    partition: dict[str, Any]
    keys: dict[str, Any]
    n_runs: int
    best: BestRun | None
    # Pooled over every run of the group: it averages different variants when the group holds
    # several, so it is never printed (not in ``to_json``); ``variants`` holds what is shown.
    stats: dict[str, MetricStats]
    differing: list[str]
    runs: list[RankedRun]
    variants: list[VariantStats]
    baseline: int | None = None
    # False when --top left runs out: then ``differing`` and ``variants`` describe the listed
    # runs only, while ``n_runs``, ``stats`` and ranks still cover every run of the group.
    complete: bool = True

    def single_variant(self) -> "VariantStats | None":
        """The group's only variant when it holds one and every run is listed: then its mean
        over seeds describes the group; otherwise any group mean would mix variants."""
        return self.variants[0] if self.complete and len(self.variants) == 1 else None


@dataclass
class ParamDifference:
    key: str
    values: dict[str, Any]  # run name -> canonical value (None: absent)


@dataclass
class Comparison:
    metric: str
    metrics: list[str]
    scope: str
    higher_is_better: dict[str, bool]
    fraction_metrics: list[str]
    group_keys: list[str] | None
    filters: dict[str, Any]
    baseline: dict[str, Any] | None
    across_groups: bool
    groups: list[Group]
    differences: list[ParamDifference]
    n_runs: int
    sort: str

    def to_json(self) -> dict[str, Any]:
        """The comparison as printed by ``--json``: a group's pooled ``stats`` are left out,
        since they average different variants when a group holds several; per-variant
        statistics are in ``variants``."""
        out = asdict(self)
        for g in out["groups"]:
            g.pop("stats", None)
        return out


def metric_info(pipeline: str, metric: str, lower_is_better: Sequence[str] = ()) -> MetricInfo:
    """What ``metric`` means for runs of ``pipeline``: its declaration, else the name rule."""
    return resolve_metric_info(metric, declared_metrics(pipeline), lower_is_better)


def metrics_or_headline(engine: Engine, metrics: Sequence[str] | None,
                        filters: RunFilter) -> list[str]:
    """The metrics asked for (duplicates dropped), else the selected runs' headline metric."""
    metric_list = list(dict.fromkeys(m for m in (metrics or []) if m))
    if not metric_list:
        headline = cq.headline_metric(engine, filters=filters)
        if headline is None:
            raise AdlabError("no --metric given and the selected runs record no headline metric; "
                             "name one with --metric (see `adlab show RUN` for a run's metrics)")
        metric_list = [headline]
    else:
        require_recorded(engine, metric_list)
    return metric_list


def require_recorded(engine: Engine, metrics: Sequence[str]) -> None:
    """Refuse a metric no run of the lab records (a typo would otherwise rank nothing and
    exit 0), naming the known metrics, the closest first."""
    from adlab.core.suggest import closest_first

    for m in metrics:
        if cq.metric_recorded(engine, key=m):
            continue
        keys = cq.lab_metric_keys(engine)
        if not keys:
            raise AdlabError(f"no run in this lab records metric {m!r} (no run records any "
                             "metric yet); run or import some runs first")
        raise AdlabError(f"no run in this lab records metric {m!r}; known metrics"
                         f"{closest_first(m, keys)}")


def _selected_pipelines(engine: Engine, filters: RunFilter) -> list[str]:
    """The pipelines of the selected runs: each distinct name is one seek on the pipeline
    index, then one LIMIT 1 probe with the filters (a DISTINCT over the filtered runs would
    read every one of them)."""
    from sqlalchemy import func, select

    from adlab.db.engine import reader
    from adlab.db.models import Run

    if filters.pipeline:
        return [filters.pipeline]
    found: list[str] = []
    clauses = cq.filter_clauses(filters)
    with reader(engine).connect() as conn:
        name = conn.execute(select(func.min(Run.pipeline))).scalar()
        while name is not None:
            probe = select(Run.id).where(Run.pipeline == name, *clauses).limit(1)
            if conn.execute(probe).first() is not None:
                found.append(name)
            name = conn.execute(select(func.min(Run.pipeline)).where(Run.pipeline > name)).scalar()
    return found


def _metric_infos(pipelines: Sequence[str], metrics: Sequence[str],
                  lower_is_better: Sequence[str]) -> dict[str, tuple[MetricInfo, bool]]:
    """Each metric's meaning for the compared runs, and whether a pipeline declared it. Two
    pipelines that declare opposite directions for one metric cannot be ranked together."""
    out: dict[str, tuple[MetricInfo, bool]] = {}
    for m in metrics:
        declared = {p: metric_info(p, m, lower_is_better) for p in pipelines
                    if m in declared_metrics(p)}
        if len({i.higher_is_better for i in declared.values()}) > 1:
            shown = ", ".join(f"{p} ({'higher' if i.higher_is_better else 'lower'} is better)"
                              for p, i in sorted(declared.items()))
            raise AdlabError(f"metric {m!r} is declared with opposite directions by {shown}; "
                             "compare one pipeline at a time with --pipeline")
        if declared:
            out[m] = (next(iter(declared.values())), True)
        else:
            out[m] = (resolve_metric_info(m, None, lower_is_better), False)
    return out


def _stored_group_pins(pipeline: str, group_keys_json: str, info_json: str | None,
                       key: str) -> bool:
    """Whether a stored group (described by one of its runs) pins ``key``: the grouping rule of
    :mod:`adlab.core.grouping`, with the keys the run was grouped with."""
    declared = json.loads(group_keys_json or "[]")
    return group_pins_key(key, group_keys=declared or None,
                          partition_keys=partition_keys_of(pipeline, info_json),
                          non_group_keys=spec_keys(pipeline)[1])


def _stats(values: Sequence[float | None]) -> MetricStats:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return MetricStats(None, None, 0)
    mean = math.fsum(vals) / len(vals)
    std = (math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
           if len(vals) > 1 else None)
    return MetricStats(mean, std, len(vals))


def _sort_key(group_sort: str):  # noqa: ANN202
    def key(r: RankedRun) -> tuple:
        if group_sort == "name":
            return (r.name, r.id)
        return (r.rank is None, r.rank or 0, r.name, r.id)
    return key


def compare(engine: Engine, *, metrics: Sequence[str] | None = None,
            group_keys: Sequence[str] | None = None, run_ids: Sequence[int] | None = None,
            filters: RunFilter | None = None, baseline: int | None = None,
            auto_baseline: bool = False, across_groups: bool = False, sort: str | None = None,
            scope: str = "", lower_is_better: Sequence[str] = (), top: int | None = None
            ) -> Comparison:
    """Rank runs inside their groups. ``metrics[0]`` (or ``sort`` when it names a metric) ranks;
    the others are shown beside it. ``run_ids`` names runs to compare (refused with
    :class:`GroupMismatch` when they span groups, unless ``across_groups``). ``top`` limits the
    runs listed per group (statistics still use every run)."""
    filters = filters or RunFilter()
    if run_ids:
        filters = RunFilter(study=filters.study, pipeline=filters.pipeline, statuses=(),
                            name_like=filters.name_like, run_ids=tuple(run_ids), where=filters.where)
    metric_list = metrics_or_headline(engine, metrics, filters)
    group_sort = "rank"
    if sort:
        if sort == "name":
            group_sort = "name"
        elif sort not in ("rank", metric_list[0]):
            require_recorded(engine, [sort])
            metric_list = [sort] + [m for m in metric_list if m != sort]
    metric_list = list(dict.fromkeys(metric_list))
    primary = metric_list[0]
    infos = _metric_infos(_selected_pipelines(engine, filters), metric_list, lower_is_better)
    higher = {m: info.higher_is_better for m, (info, _) in infos.items()}
    keys = cq.resolve_param_keys(engine, keys=group_keys, filters=filters) if group_keys else None

    listing_top = None if run_ids else top
    if headline_ranking.applies(engine, metric=primary, scope=scope, filters=filters):
        rows, aggregates = headline_ranking.ranked_rows(
            engine, metric=primary, filters=filters, group_keys=keys,
            higher_is_better=higher[primary], top=listing_top, pins=_stored_group_pins)
    else:
        rows, aggregates = cq.ranked_rows(engine, metric=primary, scope=scope, filters=filters,
                                          group_keys=keys, higher_is_better=higher[primary],
                                          top=listing_top)
    if run_ids:
        missing = sorted(set(run_ids) - {r.run_id for r in rows})
        if missing:
            raise AdlabError(f"run(s) {', '.join(map(str, missing))} have no run-level value of "
                             f"{primary!r}{f' in scope {scope!r}' if scope else ''}; pick a metric "
                             "they all record (`adlab show RUN` lists them)")
    group_ids = sorted({r.group_id for r in rows})
    differences: list[ParamDifference] = []
    if run_ids and len(group_ids) > 1:
        differences = _named_differences(engine, rows)
        if not across_groups:
            shown = "; ".join(_format_difference(d) for d in differences) or \
                "the evaluation partition (pipeline or protocol)"
            raise GroupMismatch(
                f"runs {', '.join(str(r.run_id) for r in sorted(rows, key=lambda r: r.run_id))} belong "
                f"to {len(group_ids)} different groups ({shown}); compare runs of one group, or pass "
                "--across-groups to rank them together with these differences shown")
    members: dict[str, list[cq.RankedRow]] = {}
    for r in rows:
        members.setdefault(r.group_id, []).append(r)
    complete = {gid: aggregates[gid].runs == len(rs) for gid, rs in members.items()}
    if run_ids and across_groups and len(group_ids) > 1:
        merged = "across:" + canonical_json(sorted(group_ids))
        ranks = cq.competition_ranks([r.value for r in rows], higher[primary])
        for r, rank in zip(rows, ranks):
            r.group_id, r.rank = merged, rank
        members = {merged: rows}
        complete = {merged: True}
        diff_keys = {merged: sorted({d.key for d in differences})}
    elif all(complete.values()):
        diff_keys = cq.differing_keys(engine, metric=primary, scope=scope, filters=filters,
                                      group_keys=keys)
    else:  # only the best runs are listed: the columns are what differs among them
        diff_keys = _listed_differences(engine, members)
    others = [m for m in metric_list if m != primary]
    values = cq.metric_values(engine, run_ids=[r.run_id for r in rows], metrics=others, scope=scope)
    need_params = {r.run_id for g, rs in members.items() if diff_keys.get(g) for r in rs}
    all_diff = sorted({k for ks in diff_keys.values() for k in ks})
    pvals = cq.param_values(engine, run_ids=need_params, keys=all_diff) if need_params else {}
    fractions = _fraction_metrics(rows, values, metric_list, infos)
    group_stats: dict[str, dict[str, MetricStats]] = {}
    if not all(complete.values()):
        per_metric = {primary: aggregates}
        for m in others:
            per_metric[m] = cq.group_aggregates(engine, rank_metric=primary, metric=m, scope=scope,
                                                filters=filters, group_keys=keys)
        for gid in members:
            if not complete[gid]:
                group_stats[gid] = {m: _stats_from_aggregate(per_metric[m].get(gid))
                                    for m in metric_list}

    groups = [_build_group(gid, rs, primary=primary, metric_list=metric_list, values=values,
                           diff=diff_keys.get(gid, []), pvals=pvals, higher=higher,
                           fractions=fractions, group_sort=group_sort, top=top,
                           stats=group_stats.get(gid),
                           n_runs=len(rs) if gid.startswith("across:") else aggregates[gid].runs)
              for gid, rs in members.items()]
    _describe_groups(engine, groups, members, keys)
    base_info = _apply_baselines(groups, members, baseline, auto_baseline, metric_list, values,
                                 fractions)
    groups.sort(key=lambda g: (g.pipeline, value_sort_key(g.partition), value_sort_key(g.keys), g.id))
    for i, g in enumerate(groups, start=1):
        g.label = "across groups" if g.id.startswith("across:") else f"G{i}"
    return Comparison(metric=primary, metrics=metric_list, scope=scope, higher_is_better=higher,
                      fraction_metrics=sorted(fractions), group_keys=keys,
                      filters=filters.describe(), baseline=base_info, across_groups=across_groups,
                      groups=groups, differences=differences, n_runs=len(rows), sort=sort or "rank")


def _stats_from_aggregate(agg: "cq.GroupAggregate | None") -> MetricStats:
    if agg is None or agg.n == 0:
        return MetricStats(None, None, 0)
    mean = agg.total / agg.n
    std = (math.sqrt(max(0.0, (agg.total_sq - agg.n * mean * mean) / (agg.n - 1)))
           if agg.n > 1 else None)
    return MetricStats(mean, std, agg.n)


def _listed_differences(engine: Engine, members: dict[str, list[cq.RankedRow]]) -> dict[str, list[str]]:
    params = cq.param_values(engine, run_ids=[r.run_id for rs in members.values() for r in rs])
    out: dict[str, list[str]] = {}
    for gid, rs in members.items():
        keys = sorted({k for r in rs for k in params.get(r.run_id, {})})
        out[gid] = [k for k in keys if len({_value_key(params.get(r.run_id, {}).get(k))
                                            for r in rs}) > 1]
    return out


def _value_key(value: Any) -> Any:
    """A hashable key equal for equal canonical values (as read back by ``param_values``), much
    cheaper than :func:`canonical_json` for scalars; ``True`` and ``1`` stay apart."""
    if isinstance(value, (list, dict)):
        return ("json", canonical_json(value))
    return (type(value) is bool, value)


def _fraction_metrics(rows: list[cq.RankedRow], values: dict[int, dict[str, float | None]],
                      metric_list: list[str], infos: Mapping[str, tuple[MetricInfo, bool]]
                      ) -> set[str]:
    """Metrics whose deltas are x100: declared fractions; undeclared ones whose compared
    values all lie in [0, 1]."""
    out = set()
    for m in metric_list:
        info, declared = infos[m]
        if declared:
            if info.scale is Scale.FRACTION:
                out.add(m)
            continue
        vals = ([r.value for r in rows] if m == metric_list[0]
                else [values.get(r.run_id, {}).get(m) for r in rows])
        finite = [v for v in vals if v is not None and math.isfinite(v)]
        if finite and all(0.0 <= v <= 1.0 for v in finite):
            out.add(m)
    return out


def _build_group(gid: str, rs: list[cq.RankedRow], *, primary: str, metric_list: list[str],
                 values: dict[int, dict[str, float | None]], diff: list[str],
                 pvals: dict[int, dict[str, Any]], higher: dict[str, bool], fractions: set[str],
                 group_sort: str, top: int | None, stats: dict[str, MetricStats] | None,
                 n_runs: int) -> Group:
    first = rs[0]
    # The variant rule (adlab.core.grouping): non-group keys such as MMAD's llm tell variants
    # apart; partition keys are equal inside a group.
    variant_keys = [k for k in diff if is_variant_key(k)]
    variants: dict[str, list[cq.RankedRow]] = {}
    variant_params: dict[str, dict[str, Any]] = {}
    for r in rs:
        vp = {k: pvals.get(r.run_id, {}).get(k) for k in variant_keys}
        vkey = canonical_json(vp)
        variants.setdefault(vkey, []).append(r)
        variant_params[vkey] = vp
    vorder = sorted(variants)
    variant_stats: list[VariantStats] = []
    variant_of: dict[int, int] = {}
    for i, vkey in enumerate(vorder):
        members = variants[vkey]
        st = _stats([r.value for r in members])
        per_metric = {primary: st}
        for m in metric_list[1:]:
            per_metric[m] = _stats([values.get(r.run_id, {}).get(m) for r in members])
        variant_stats.append(VariantStats(index=i, params=variant_params[vkey], n=st.n,
                                          mean=st.mean, std=st.std,
                                          run_ids=sorted(m.run_id for m in members),
                                          stats=per_metric))
        for m in members:
            variant_of[m.run_id] = i
    runs = []
    for r in rs:
        vals = {primary: r.value}
        for m in metric_list[1:]:
            vals[m] = values.get(r.run_id, {}).get(m)
        runs.append(RankedRun(id=r.run_id, name=r.name, rank=r.rank, values=vals,
                              params={k: pvals.get(r.run_id, {}).get(k) for k in diff},
                              seed=r.seed, variant=variant_of[r.run_id]))
    runs.sort(key=_sort_key("rank"))
    best = None
    if runs and runs[0].rank is not None:
        top_runs = [r for r in runs if r.rank == runs[0].rank]
        best = BestRun(id=top_runs[0].id, name=top_runs[0].name, value=top_runs[0].values[primary],
                       tied=[r.id for r in top_runs[1:]])
    if stats is None:
        stats = {m: _stats([r.values[m] for r in runs]) for m in metric_list}
    if group_sort == "name":
        runs.sort(key=_sort_key("name"))
    shown = runs if top is None else [r for r in runs if r.rank is not None and r.rank <= top]
    return Group(id=gid, label="", pipeline=first.pipeline, partition={}, keys=dict(first.key_values),
                 n_runs=n_runs, best=best, stats=stats, differing=list(diff), runs=shown,
                 variants=variant_stats, complete=len(rs) == n_runs)


def _describe_groups(engine: Engine, groups: list[Group], members: dict[str, list[cq.RankedRow]],
                     keys: list[str] | None) -> None:
    """Fill each group's partition values and, for stored groups, its key values: the declared
    group keys, or (default groups) the parameters that tell it apart from the other groups of
    its partition."""
    reps = {g.id: members[g.id][0] for g in groups}
    rep_params = cq.param_values(engine, run_ids=[r.run_id for r in reps.values()])
    for g in groups:
        rep = reps[g.id]
        flat = rep_params.get(rep.run_id, {})
        part = {"pipeline": rep.pipeline}
        pkeys = partition_keys_of(rep.pipeline, rep.info_json)
        for k in pkeys:
            part[k] = flat.get(k, _subtree(flat, k))
        g.partition = part
        if g.id.startswith("across:"):
            g.keys = {}
            continue
        if keys is None:
            declared = json.loads(rep.group_keys_json or "[]")
            if declared:
                g.keys = {k: flat.get(k, _subtree(flat, k)) for k in declared}
    if keys is not None:
        return
    # Default groups: show the keys whose values differ between groups of one partition.
    by_partition: dict[str, list[Group]] = {}
    for g in groups:
        if not g.keys and not g.id.startswith("across:") and not json.loads(reps[g.id].group_keys_json or "[]"):
            by_partition.setdefault(canonical_json(g.partition), []).append(g)
    for same in by_partition.values():
        rep_flat = [rep_params.get(reps[g.id].run_id, {}) for g in same]
        pkeys = set(same[0].partition)
        _, non_group = spec_keys(same[0].pipeline)
        all_keys = sorted({k for f in rep_flat for k in f})
        distinct = [k for k in all_keys if k not in pkeys and not is_seed_like(k, non_group)
                    and len({canonical_json(f.get(k)) for f in rep_flat}) > 1]
        for g, f in zip(same, rep_flat):
            g.keys = {k: f.get(k) for k in distinct}


def _subtree(flat: dict[str, Any], prefix: str) -> Any:
    sub = {k[len(prefix) + 1:]: v for k, v in flat.items() if k.startswith(prefix + ".")}
    return canonical(sub) if sub else None


def _apply_baselines(groups: list[Group], members: dict[str, list[cq.RankedRow]],
                     baseline: int | None, auto: bool, metric_list: list[str],
                     values: dict[int, dict[str, float | None]], fractions: set[str]
                     ) -> dict[str, Any] | None:
    info = None
    if baseline is not None:
        found = [g for g in groups if any(r.run_id == baseline for r in members[g.id])]
        if not found:
            raise AdlabError(f"baseline run {baseline} is not among the compared runs (wrong "
                             "group, filters, status, or it lacks the metric); pick a run listed "
                             "by `adlab compare`")
        g = found[0]
        g.baseline = baseline
        base = next(r for r in members[g.id] if r.run_id == baseline)
        info = {"id": baseline, "name": base.name, "group": g.id}
    for g in groups:
        if g.baseline is None and auto:
            g.baseline = _auto_baseline(members[g.id])
        if g.baseline is None:
            continue
        base = next(r for r in members[g.id] if r.run_id == g.baseline)
        base_vals = {metric_list[0]: base.value}
        for m in metric_list[1:]:
            base_vals[m] = values.get(base.run_id, {}).get(m)
        for r in g.runs:
            r.is_baseline = r.id == g.baseline
            r.delta_pp = {m: delta_pp(r.values.get(m), base_vals[m], m in fractions)
                          for m in metric_list}
    return info


def delta_pp(value: float | None, base: float | None, fraction: bool) -> float | None:
    """``value - base`` in percentage points (fractions x100), or None when either is missing."""
    if value is None or base is None:
        return None
    d = (value - base) * (100.0 if fraction else 1.0)
    return round(d, 10)


def _auto_baseline(rows: list[cq.RankedRow]) -> int | None:
    """The run named like a baseline (``baseline`` or ``full`` in its name), lowest id first."""
    for word in ("baseline", "full_model", "full"):
        hits = sorted(r.run_id for r in rows if word in r.name.lower())
        if hits:
            return hits[0]
    return None


def _named_differences(engine: Engine, rows: list[cq.RankedRow]) -> list[ParamDifference]:
    params = cq.param_values(engine, run_ids=[r.run_id for r in rows])
    names = {r.run_id: r.name for r in rows}
    diffs: list[ParamDifference] = []
    pipelines = {r.run_id: r.pipeline for r in rows}
    if len(set(pipelines.values())) > 1:
        diffs.append(ParamDifference("pipeline", {names[i]: p for i, p in sorted(pipelines.items())}))
    keys = sorted({k for p in params.values() for k in p})
    for k in keys:
        if is_seed_like(k):
            continue
        vals = {r.run_id: params.get(r.run_id, {}).get(k) for r in rows}
        if len({canonical_json(v) for v in vals.values()}) > 1:
            diffs.append(ParamDifference(k, {names[i]: v for i, v in sorted(vals.items())}))
    return diffs


def _format_difference(d: ParamDifference) -> str:
    by_value: dict[str, list[str]] = {}
    for name, v in d.values.items():
        by_value.setdefault(format_value(v), []).append(name)
    parts = [f"{v} ({', '.join(ns)})" for v, ns in sorted(by_value.items())]
    return f"{d.key}: " + " vs ".join(parts)


def value_sort_key(v: Any) -> tuple:
    """Order canonical values naturally (numbers by size, then text), dicts key by key."""
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, (int, float)):
        return (2, float(v))
    if isinstance(v, dict):
        return (4, tuple((k, value_sort_key(v[k])) for k in sorted(v)))
    if isinstance(v, (list, tuple)):
        return (5, tuple(value_sort_key(x) for x in v))
    return (3, str(v))
