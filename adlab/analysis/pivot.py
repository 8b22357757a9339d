"""The benchmark table: rows = categories, columns = variants, cells = mean ± std over seeds.

A run's variant (:func:`adlab.core.grouping.variant_values`) is its configuration minus
seed-like keys minus the dataset/category keys, plus its pipeline. A cell averages the runs of
one variant in one category (its seeds) and nothing else; the Mean row averages a variant's
cell means over the table's categories and exists only for variants that cover every category
(the others say how many they cover). No number here averages different variants.

Per-category values come from where runs store them: a run split per category stores its
category's value at run level; a joint run stores one value per category as a scoped metric
(scope = the category name); imported runs do either. A pivot is one dataset and one metric.
Columns of one *dataset partition* (pipeline and protocol: the partition minus its category
keys) are comparable: the best cell per row is bold among them, by the metric's declared
direction, and the ranking (:func:`rankings`) orders them by their mean over categories, only
among variants that cover the same category set.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Engine

from adlab.analysis.compare import format_value, metric_info, metrics_or_headline, value_sort_key
from adlab.core.grouping import (category_value, dataset_value, is_variant_key, partition_values,
                                  variant_values)
from adlab.core.values import canonical_json
from adlab.core.vocabulary import Direction, MetricInfo, Scale
from adlab.db import compare_queries as cq
from adlab.db.compare_queries import RunFilter
from adlab.db.engine import reader
from adlab.db.models import Run
from adlab.pipelines.declared import partition_keys_of

__all__ = ["Cell", "Column", "ColumnMean", "Pivot", "RankEntry", "Ranking", "Row", "cell_text",
           "mean_text", "number_text", "pivot_category", "pivots_json", "rankings"]

# Keys that name what a method is: preferred for short column labels.
LABEL_LEAVES = ("model", "method", "ad_model", "llm", "backbone", "arch", "architecture")


@dataclass
class Cell:
    """One variant in one category: the mean over its runs (seeds)."""

    mean: float
    std: float | None  # sample standard deviation; None with one run
    n: int


@dataclass
class Column:
    label: str
    params: dict[str, Any]  # the full variant (pipeline included)


@dataclass
class Row:
    category: str
    cells: list[Cell | None]


@dataclass
class ColumnMean:
    """A variant's mean over the table's categories; ``mean`` is None unless ``complete``.
    ``std`` is over seeds of the per-seed category means, when every category has the same
    seeds (one run each); otherwise None."""

    mean: float | None
    std: float | None
    n_categories: int
    complete: bool


@dataclass
class Pivot:
    dataset: str
    metric: str
    columns: list[Column]
    rows: list[Row]
    mean: list[ColumnMean]
    # Not part of the JSON: which columns may be compared, and how.
    partitions: list[str] = field(default_factory=list)  # per column: its dataset partition
    infos: list[MetricInfo] = field(default_factory=list)  # per column: the metric's meaning
    fraction: bool = True  # values written with 4 decimals (fractions) or 2
    # per column: category -> (seed, value) of each run
    samples: list[dict[str, list[tuple[int | None, float]]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "metric": self.metric,
                "columns": [{"label": c.label, "params": c.params} for c in self.columns],
                "rows": [{"category": r.category,
                          "cells": [None if x is None else {"mean": x.mean, "std": x.std, "n": x.n}
                                    for x in r.cells]} for r in self.rows],
                "mean": [{"mean": m.mean, "std": m.std, "n_categories": m.n_categories,
                          "complete": m.complete} for m in self.mean]}

    def higher_is_better(self, col: int) -> bool | None:
        """The direction of column ``col``'s metric; None for a fact (never ranked)."""
        info = self.infos[col] if col < len(self.infos) else MetricInfo()
        return None if info.direction is Direction.NONE else info.higher_is_better

    def best_in_row(self, row: Row) -> set[int]:
        """Columns holding the best cell of ``row``, among columns of one dataset partition."""
        return _best_per_partition([c.mean if c else None for c in row.cells], self)

    def best_mean(self) -> set[int]:
        return _best_per_partition([m.mean for m in self.mean], self)

    def legend(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The columns' parameters split for reading: those common to every column, and per
        column those that differ; unset (null) values are left out of both."""
        keys = sorted({k for c in self.columns for k in c.params})
        same = {k for k in keys if len({canonical_json(c.params.get(k)) for c in self.columns}) == 1}
        common = {k: self.columns[0].params[k] for k in keys
                  if k in same and self.columns[0].params.get(k) is not None}
        return common, [{k: c.params[k] for k in keys
                         if k not in same and c.params.get(k) is not None} for c in self.columns]


@dataclass
class RankEntry:
    rank: int | None
    label: str
    params: dict[str, Any]
    mean: float | None
    std: float | None
    n_categories: int


@dataclass
class Ranking:
    """Variants of one dataset partition that cover the same categories, by their mean."""

    dataset: str
    metric: str
    partition: dict[str, Any]
    categories: list[str]
    higher_is_better: bool
    entries: list[RankEntry]
    fraction: bool = True  # not in the JSON: how values are written

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "metric": self.metric, "partition": self.partition,
                "categories": self.categories, "higher_is_better": self.higher_is_better,
                "entries": [e.__dict__ for e in self.entries]}


# --- formatting (the one way pivots are written: CLI, markdown, LaTeX) -----------------------

def _num(value: float | None, fraction: bool) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4f}" if fraction else f"{value:.2f}"


def number_text(value: float | None, fraction: bool) -> str:
    """A metric value as pivots write it: 4 decimals for fractions, else 2."""
    return _num(value, fraction)


def cell_text(cell: Cell | None, fraction: bool) -> str:
    """``0.9123 ± 0.0100 (n=3)``; ``0.9123 (n=1)``; ``-`` for no runs."""
    if cell is None:
        return "-"
    spread = f" ± {_num(cell.std, fraction)}" if cell.std is not None else ""
    return f"{_num(cell.mean, fraction)}{spread} (n={cell.n})"


def mean_text(m: ColumnMean, n_rows: int, fraction: bool) -> str:
    """The Mean row's cell: a number only for a variant that covers every category."""
    if not m.complete:
        return f"{m.n_categories}/{n_rows} categories"
    spread = f" ± {_num(m.std, fraction)}" if m.std is not None else ""
    return f"{_num(m.mean, fraction)}{spread}"


# --- building --------------------------------------------------------------------------------

@dataclass
class _RunFacts:
    id: int
    pipeline: str
    dataset: str
    categories: Any  # the run's category partition value (str, list, "all" or None)
    variant: dict[str, Any]
    partition: dict[str, Any]  # pipeline + protocol (partition values minus dataset/category)
    seed: int | None


def _run_facts(engine: Engine, filters: RunFilter) -> list[_RunFacts]:
    q = (select(Run.id, Run.pipeline, Run.info_json, Run.seed)
         .where(*cq.filter_clauses(filters)).order_by(Run.id))
    with reader(engine).connect() as conn:
        runs = list(conn.execute(q))
    params = cq.param_values(engine, run_ids=[r[0] for r in runs])
    out = []
    for run_id, pipeline, info_json, seed in runs:
        flat = params.get(run_id, {})
        pkeys = partition_keys_of(pipeline, info_json)
        variant = {"pipeline": pipeline, **variant_values(flat, pkeys)}
        partition = partition_values(pipeline, flat, [k for k in pkeys if is_variant_key(k)])
        out.append(_RunFacts(run_id, pipeline, format_value(dataset_value(flat, pkeys)),
                             category_value(flat, pkeys), variant, partition, seed))
    return out


def _single_category(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if value is None or isinstance(value, (list, dict)) or str(value).lower() == "all":
        return None
    return str(value)


def _is_category_scope(scope: str) -> bool:
    """Scopes that name one category (``bottle``), not a dataset/type (``GoodsAD/Average``) or a
    cross-domain entry (``train=a/test=b``)."""
    return bool(scope) and "/" not in scope and "=" not in scope


def _category_values(engine: Engine, facts: list[_RunFacts], metric: str
                     ) -> dict[int, dict[str, float]]:
    """run id -> category -> value: scoped per-category values, else the run-level value of a
    run that covers one category."""
    ids = [f.id for f in facts]
    out: dict[int, dict[str, float]] = {}
    for run_id, _, scope, value in cq.scoped_metrics(engine, run_ids=ids, metrics=[metric]):
        if value is not None and math.isfinite(value) and _is_category_scope(scope):
            out.setdefault(run_id, {})[scope] = value
    run_level = cq.metric_values(engine, run_ids=ids, metrics=[metric])
    for f in facts:
        cat = _single_category(f.categories)
        value = run_level.get(f.id, {}).get(metric)
        if cat is not None and value is not None and math.isfinite(value):
            out.setdefault(f.id, {}).setdefault(cat, value)
    return out


def _stats(values: Sequence[float]) -> tuple[float, float | None]:
    mean = math.fsum(values) / len(values)
    std = (math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
           if len(values) > 1 else None)
    return mean, std


def _labels(params: list[dict[str, Any]]) -> list[str]:
    """Short, distinct labels from the parameters that differ between columns: a model-like
    key first; a lone text key gives bare values (``patchcore``), else ``key=value`` pairs."""
    if len(params) == 1:
        return [format_value(params[0].get("model", params[0].get("pipeline")))]
    keys = sorted({k for p in params for k in p})
    differing = [k for k in keys if len({canonical_json(p.get(k)) for p in params}) > 1]
    order = sorted(differing, key=lambda k: (k.rsplit(".", 1)[-1] not in LABEL_LEAVES,
                                             k.count("."), k))
    chosen: list[str] = []
    for k in order:
        before = len({tuple(canonical_json(p.get(c)) for c in chosen) for p in params})
        after = len({tuple(canonical_json(p.get(c)) for c in chosen + [k]) for p in params})
        if after > before:
            chosen.append(k)
        if after == len(params):
            break
    leaves = [k.rsplit(".", 1)[-1] for k in chosen]
    names = [leaf if leaves.count(leaf) == 1 else k for k, leaf in zip(chosen, leaves)]
    if len(chosen) == 1 and all(isinstance(p.get(chosen[0]), str) for p in params):
        return [p[chosen[0]] for p in params]
    return [", ".join(f"{n}={format_value(p.get(k))}" for n, k in zip(names, chosen))
            for p in params]


def pivot_category(engine: Engine, *, metrics: Sequence[str] | None = None,
                   filters: RunFilter | None = None, lower_is_better: Sequence[str] = ()
                   ) -> list[Pivot]:
    """One pivot per dataset and metric (``metrics`` default: the runs' headline metric)."""
    filters = filters or RunFilter()
    metric_list = metrics_or_headline(engine, metrics, filters)
    facts = _run_facts(engine, filters)
    pivots: list[Pivot] = []
    for metric in metric_list:
        values = _category_values(engine, facts, metric)
        by_dataset: dict[str, list[_RunFacts]] = {}
        for f in facts:
            if values.get(f.id):
                by_dataset.setdefault(f.dataset, []).append(f)
        for dataset in sorted(by_dataset):
            pivots.append(_build(dataset, metric, by_dataset[dataset], values, lower_is_better))
    return pivots


def _build(dataset: str, metric: str, facts: list[_RunFacts], values: dict[int, dict[str, float]],
           lower_is_better: Sequence[str]) -> Pivot:
    variants: dict[str, _RunFacts] = {}
    cells: dict[str, dict[str, list[tuple[int | None, float]]]] = {}
    for f in facts:
        vkey = json.dumps(f.variant, sort_keys=True)  # values are canonical already
        variants.setdefault(vkey, f)
        for cat, v in values[f.id].items():
            cells.setdefault(vkey, {}).setdefault(cat, []).append((f.seed, v))
    vkeys = sorted(variants, key=lambda k: (value_sort_key(variants[k].partition),
                                            value_sort_key(variants[k].variant)))
    labels = _labels([variants[k].variant for k in vkeys])
    order = sorted(range(len(vkeys)), key=lambda i: (value_sort_key(variants[vkeys[i]].partition),
                                                     labels[i], i))
    vkeys, labels = [vkeys[i] for i in order], [labels[i] for i in order]
    categories = sorted({cat for k in vkeys for cat in cells[k]})
    rows = []
    for cat in categories:
        row = []
        for k in vkeys:
            vals = [v for _, v in cells[k].get(cat, [])]
            row.append(Cell(*_stats(vals), len(vals)) if vals else None)
        rows.append(Row(cat, row))
    means = [_mean_over(categories, cells[k]) for k in vkeys]
    all_values = [v for k in vkeys for vs in cells[k].values() for _, v in vs]
    infos = [metric_info(variants[k].pipeline, metric, lower_is_better) for k in vkeys]
    fraction = (not any(i.scale is Scale.PERCENT for i in infos)
                and all(0.0 <= v <= 1.0 for v in all_values))
    return Pivot(dataset=dataset, metric=metric,
                 columns=[Column(label, variants[k].variant) for label, k in zip(labels, vkeys)],
                 rows=rows, mean=means,
                 partitions=[canonical_json(variants[k].partition) for k in vkeys], infos=infos,
                 fraction=fraction, samples=[cells[k] for k in vkeys])


def _mean_over(categories: Sequence[str], samples: Mapping[str, list[tuple[int | None, float]]]
               ) -> ColumnMean:
    """A variant's mean over ``categories`` (the mean of its cell means), given only when it
    has a value in each; the std is over seeds of the per-seed means when every category holds
    the same distinct seeds, one run each."""
    present = [c for c in categories if samples.get(c)]
    if len(present) < len(categories) or not present:
        return ColumnMean(None, None, len(present), False)
    mean = math.fsum(_stats([v for _, v in samples[c]])[0] for c in present) / len(present)
    seed_sets = [sorted(s for s, _ in samples[c]) for c in present]  # type: ignore[type-var]
    first = seed_sets[0]
    std = None
    if (len(first) > 1 and None not in first and len(set(first)) == len(first)
            and all(s == first for s in seed_sets)):
        by_seed = [dict(samples[c]) for c in present]
        per_seed = [math.fsum(d[seed] for d in by_seed) / len(present) for seed in first]
        std = _stats(per_seed)[1]
    return ColumnMean(mean, std, len(present), True)


def _best_per_partition(values: list[float | None], pivot: Pivot) -> set[int]:
    best: set[int] = set()
    for part in set(pivot.partitions):
        idx = [i for i, p in enumerate(pivot.partitions) if p == part]
        higher = pivot.higher_is_better(idx[0])
        finite = [values[i] for i in idx if values[i] is not None and math.isfinite(values[i])]
        if higher is None or len(idx) < 2 or not finite:
            continue
        target = max(finite) if higher else min(finite)
        best |= {i for i in idx if values[i] == target}
    return best


def rankings(pivots: Sequence[Pivot]) -> list[Ranking]:
    """Per pivot, dataset partition and covered category set: its variants ranked by their
    mean over those categories (ties share a rank). Facts (direction none) are not ranked."""
    out: list[Ranking] = []
    for p in pivots:
        sets: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for i in range(len(p.columns)):
            covered = tuple(r.category for r in p.rows if r.cells[i] is not None)
            sets.setdefault((p.partitions[i], covered), []).append(i)
        for (part, covered), idx in sorted(sets.items(),
                                           key=lambda kv: (kv[0][0], -len(kv[0][1]), kv[0][1])):
            higher = p.higher_is_better(idx[0])
            if higher is None:
                continue
            means = [_mean_over(covered, p.samples[i]) for i in idx]
            ranks = cq.competition_ranks([m.mean for m in means], higher)
            entries = [RankEntry(rank, p.columns[i].label, p.columns[i].params, m.mean, m.std,
                                 m.n_categories) for i, m, rank in zip(idx, means, ranks)]
            entries.sort(key=lambda e: (e.rank is None, e.rank or 0, e.label))
            out.append(Ranking(dataset=p.dataset, metric=p.metric, partition=json.loads(part),
                               categories=list(covered), higher_is_better=higher, entries=entries,
                               fraction=p.fraction))
    return out


def pivots_json(pivots: Sequence[Pivot], with_rankings: bool = True) -> dict[str, Any]:
    """``{"pivots": [...], "rankings": [...]}`` as ``adlab compare --pivot category --json``."""
    out: dict[str, Any] = {"pivots": [p.to_json() for p in pivots]}
    if with_rankings:
        out["rankings"] = [r.to_json() for r in rankings(pivots)]
    return out
