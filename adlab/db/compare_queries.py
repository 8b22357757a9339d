"""The SQL side of grouped comparison: filter runs, group them, rank them inside each group.

The grouping rule lives here, in the queries: a stored group is ``runs.group_hash`` (indexed);
a regrouping by keys given on the command line is ``GROUP BY partition_hash`` plus the
canonical value of each key, computed in SQL from ``params.value_num`` (numbers: ``2e-4`` and
``0.0002`` are one value) and ``value_text`` (:mod:`adlab.db.run_filter`: strings as written,
booleans and lists as JSON). Ranks come from ``RANK() OVER (PARTITION BY <group> ...)``, so
ties share a rank and no run is ever ranked against a run of another group.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from adlab.core.suggest import closest_first
from adlab.db.engine import reader
from adlab.db.models import Metric, Param, Run
# RunFilter and the SQL reading of values live in run_filter; imported from here too.
from adlab.db.run_filter import RunFilter, canonical_text, filter_clauses, value_from_sql  # noqa: F401
from adlab.errors import AdlabError


@dataclass
class RankedRow:
    """One run's value of the ranking metric and its place in its group."""

    run_id: int
    name: str
    pipeline: str
    partition_hash: str
    group_id: str  # stored group hash, or a key made from partition + canonical key values
    key_values: dict[str, Any]  # canonical values of the requested group keys (regrouping only)
    seed: int | None
    value: float | None
    rank: int | None  # None when the metric is undefined (NULL) for this run
    info_json: str | None = None
    group_keys_json: str = "[]"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Selection:
    """The filtered runs that carry the metric, with the SQL expressions of their group."""

    stmt_from: Any  # a select() with FROM/JOIN/WHERE set, no columns yet
    metric: Any  # the aliased metrics row
    group_by: list[ColumnElement]
    key_cols: list[tuple[str, ColumnElement, ColumnElement]]


def _selection(metric: str, scope: str, filters: RunFilter | None,
               group_keys: Sequence[str] | None) -> _Selection:
    """FROM runs JOIN the run-level metric row [LEFT JOIN one params row per group key] WHERE
    filters. Metric rows with a step are training curves, not results, and are left out."""
    m = aliased(Metric)
    key_cols: list[tuple[str, ColumnElement, ColumnElement]] = []
    joins = []
    for key in group_keys or ():
        p = aliased(Param)
        joins.append((p, and_(p.run_id == Run.id, p.key == key)))
        key_cols.append((key, p.value_num, canonical_text(p.value_num, p.value_text)))
    if group_keys:
        group_by: list[ColumnElement] = [Run.partition_hash]
        for _, num, txt in key_cols:
            group_by += [num, txt]
    else:
        group_by = [Run.group_hash]
    on = and_(m.run_id == Run.id, m.key == metric, m.scope == scope, m.step.is_(None))
    stmt = select(Run.id).select_from(Run).join(m, on)
    for p, cond in joins:
        stmt = stmt.outerjoin(p, cond)
    stmt = stmt.where(*filter_clauses(filters))
    return _Selection(stmt, m, group_by, key_cols)


def group_id(partition_hash: str, group_hash: str, key_values: dict[str, Any] | None) -> str:
    if key_values is None:
        return group_hash
    return partition_hash + "|" + json.dumps(key_values, sort_keys=True)


def competition_ranks(values: Sequence[float | None], higher_is_better: bool) -> list[int | None]:
    """Ranks as SQL ``RANK()`` gives them (ties share a rank: 1, 1, 3); None for no value."""
    order = sorted(((v if higher_is_better else -v), i) for i, v in enumerate(values)
                   if v is not None)
    order.reverse()
    ranks: list[int | None] = [None] * len(values)
    prev, prev_rank = None, 0
    for pos, (v, i) in enumerate(order, start=1):
        rank = prev_rank if v == prev else pos
        ranks[i], prev, prev_rank = rank, v, rank
    return ranks


@dataclass
class GroupAggregate:
    """Count, sum and sum of squares of a metric over all runs of a group (SQL aggregates)."""

    n: int  # runs with a value
    total: float
    total_sq: float
    runs: int = 0  # runs in the group, undefined values included


def ranked_rows(engine: Engine, *, metric: str, scope: str = "", filters: RunFilter | None = None,
                group_keys: Sequence[str] | None = None, higher_is_better: bool = True,
                top: int | None = None) -> tuple[list[RankedRow], dict[str, GroupAggregate]]:
    """Filtered runs that have ``metric`` with their rank inside their group (SQL window), and
    each group's aggregate over all its runs. With ``top``, only runs ranked <= top (ties
    included, undefined values excluded) come back; the aggregates still cover every run."""
    sel = _selection(metric, scope, filters, group_keys)
    m = sel.metric
    # Narrow rows through the window (id, group columns, value); wide columns are joined after
    # the top-N cut, so the sorter never carries names or JSON.
    key_group = [c for _, num, t in sel.key_cols for c in (num, t)]
    group_cols = [Run.partition_hash, Run.group_hash, *key_group]
    inner = sel.stmt_from.with_only_columns(Run.id.label("rid"), m.value.label("v"),
                                            *[c.label(f"g{i}") for i, c in enumerate(group_cols)]
                                            ).subquery()
    gcols = [inner.c[f"g{i}"] for i in range(len(group_cols))]
    part = [gcols[0], *gcols[2:]] if group_keys else [gcols[1]]
    undefined = case((inner.c.v.is_(None), 1), else_=0)
    order = inner.c.v.desc() if higher_is_better else inner.c.v.asc()
    window = {"partition_by": part}
    ranked = select(inner.c.rid, inner.c.v, *gcols,
                    func.rank().over(order_by=[undefined, order], **window).label("rnk"),
                    func.count(inner.c.v).over(**window).label("n"),
                    func.sum(inner.c.v).over(**window).label("s"),
                    func.sum(inner.c.v * inner.c.v).over(**window).label("ss"),
                    func.count().over(**window).label("nall")).subquery()
    q = select(ranked.c.rid, Run.name, Run.pipeline, ranked.c.g0, ranked.c.g1, Run.seed,
               ranked.c.v, ranked.c.rnk, Run.info_json, Run.group_keys_json, ranked.c.n,
               ranked.c.s, ranked.c.ss, ranked.c.nall,
               *[ranked.c[f"g{i}"] for i in range(2, len(group_cols))]
               ).join(Run, Run.id == ranked.c.rid)
    if top is not None:
        q = q.where(ranked.c.rnk <= top)
    rows: list[RankedRow] = []
    aggregates: dict[str, GroupAggregate] = {}
    seen: set[int] = set()
    with reader(engine).connect() as conn:
        for r in conn.execute(q):
            if r[0] in seen:  # a metric recorded twice for one run: the first row ranks it
                continue
            seen.add(r[0])
            key_values = None
            if group_keys:
                key_values = {key: value_from_sql(r[14 + 2 * i], r[15 + 2 * i])
                              for i, (key, _, _) in enumerate(sel.key_cols)}
            value = r[6]
            gid = group_id(r[3], r[4], key_values)
            if gid not in aggregates:
                aggregates[gid] = GroupAggregate(int(r[10]), float(r[11] or 0.0), float(r[12] or 0.0),
                                                 int(r[13]))
            rows.append(RankedRow(run_id=r[0], name=r[1], pipeline=r[2], partition_hash=r[3],
                                  group_id=gid, key_values=key_values or {}, seed=r[5], value=value,
                                  rank=int(r[7]) if value is not None else None,
                                  info_json=r[8], group_keys_json=r[9] or "[]"))
    return rows, aggregates


def group_aggregates(engine: Engine, *, rank_metric: str, metric: str, scope: str = "",
                     filters: RunFilter | None = None, group_keys: Sequence[str] | None = None
                     ) -> dict[str, GroupAggregate]:
    """Aggregates of a second metric over every run of each group (groups as ranked by
    ``rank_metric``), without fetching the runs."""
    sel = _selection(rank_metric, scope, filters, group_keys)
    same = metric == rank_metric
    m2 = sel.metric if same else aliased(Metric)
    gcols = ([Run.partition_hash, func.min(Run.group_hash)] if group_keys
             else [func.min(Run.partition_hash), Run.group_hash])
    key_group = [c for _, num, t in sel.key_cols for c in (num, t)]
    q = sel.stmt_from.with_only_columns(*gcols, *key_group, func.count(m2.value), func.sum(m2.value),
                                        func.sum(m2.value * m2.value), func.count())
    if not same:
        q = q.outerjoin(m2, and_(m2.run_id == Run.id, m2.key == metric, m2.scope == scope,
                                 m2.step.is_(None)))
    q = q.group_by(*sel.group_by)
    nk = len(key_group)
    out: dict[str, GroupAggregate] = {}
    with reader(engine).connect() as conn:
        for r in conn.execute(q):
            gid = group_id(r[0], r[1], _key_values(sel, r[2:2 + nk]) if group_keys else None)
            out[gid] = GroupAggregate(int(r[2 + nk]), float(r[3 + nk] or 0.0), float(r[4 + nk] or 0.0),
                                      int(r[5 + nk]))
    return out


def differing_keys(engine: Engine, *, metric: str, scope: str = "", filters: RunFilter | None = None,
                   group_keys: Sequence[str] | None = None,
                   sizes: Mapping[str, int] | None = None) -> dict[str, list[str]]:
    """Per group id, the parameter keys whose canonical value is not the same in all its runs
    (a key missing from some runs counts as differing). One aggregate query over the groups.
    ``sizes``: each group's number of runs when the caller has them (a comparison's
    ``n_runs``), which saves counting them again; only those groups are answered."""
    sel = _selection(metric, scope, filters, group_keys)
    p = aliased(Param)
    txt = canonical_text(p.value_num, p.value_text)
    gcols = [Run.partition_hash, func.min(Run.group_hash)] if group_keys else [func.min(Run.partition_hash), Run.group_hash]
    key_group = [c for _, num, t in sel.key_cols for c in (num, t)]
    cols = [*gcols, *key_group, p.key, func.count(), func.count(func.distinct(Run.id)),
            func.count(p.value_num), func.count(txt), func.min(p.value_num), func.max(p.value_num),
            func.min(txt), func.max(txt)]
    q = (sel.stmt_from.with_only_columns(*cols).join(p, p.run_id == Run.id)
         .group_by(*sel.group_by, p.key))
    size_q = sel.stmt_from.with_only_columns(*gcols, *key_group, func.count(func.distinct(Run.id))) \
        .group_by(*sel.group_by)
    nk = len(key_group)
    out: dict[str, list[str]] = {}
    with reader(engine).connect() as conn:
        if sizes is None:
            sizes = {}
            for r in conn.execute(size_q):
                sizes[group_id(r[0], r[1], _key_values(sel, r[2:2 + nk]) if group_keys else None)] = r[2 + nk]
        for r in conn.execute(q):
            gid = group_id(r[0], r[1], _key_values(sel, r[2:2 + nk]) if group_keys else None)
            if gid not in sizes:
                continue
            key, _, n_runs, n_num, n_txt, lo_n, hi_n, lo_t, hi_t = r[2 + nk:]
            if n_num == 0 and n_txt == 0:
                continue  # null everywhere it is present, and missing elsewhere: the same
            same = ((n_num == sizes[gid] and lo_n == hi_n) or (n_txt == sizes[gid] and lo_t == hi_t))
            if not same:
                out.setdefault(gid, []).append(key)
    for keys in out.values():
        keys.sort()
    return out


def _key_values(sel: _Selection, flat: Sequence[Any]) -> dict[str, Any]:
    return {key: value_from_sql(flat[2 * i], flat[2 * i + 1]) for i, (key, _, _) in enumerate(sel.key_cols)}


def metric_values(engine: Engine, *, run_ids: Iterable[int], metrics: Sequence[str],
                  scope: str = "") -> dict[int, dict[str, float | None]]:
    """Run-level values of several metrics for the given runs (newest row per run and key)."""
    ids = sorted(set(run_ids))
    out: dict[int, dict[str, float | None]] = {}
    if not ids or not metrics:
        return out
    with reader(engine).connect() as conn:
        for chunk in chunks(ids):
            q = (select(Metric.run_id, Metric.key, Metric.value, Metric.id)
                 .where(Metric.run_id.in_(chunk), Metric.key.in_(list(metrics)),
                        Metric.scope == scope, Metric.step.is_(None))
                 .order_by(Metric.id))
            for run_id, key, value, _ in conn.execute(q):
                out.setdefault(run_id, {})[key] = value
    return out


def chunks(ids: Sequence[int], size: int = 30000) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def param_values(engine: Engine, *, run_ids: Iterable[int], keys: Sequence[str] | None = None
                 ) -> dict[int, dict[str, Any]]:
    """Canonical parameter values of runs (all keys, or only ``keys``)."""
    ids = sorted(set(run_ids))
    out: dict[int, dict[str, Any]] = {}
    if not ids:
        return out
    txt = canonical_text(Param.value_num, Param.value_text)
    with reader(engine).connect() as conn:
        for chunk in chunks(ids):
            q = select(Param.run_id, Param.key, Param.value_num, txt).where(Param.run_id.in_(chunk))
            if keys is not None:
                if not keys:
                    return out
                q = q.where(Param.key.in_(list(keys)))
            for run_id, key, num, t in conn.execute(q):
                out.setdefault(run_id, {})[key] = value_from_sql(num, t)
    return out


def resolve_param_keys(engine: Engine, *, keys: Sequence[str], filters: RunFilter | None = None
                       ) -> list[str]:
    """Map each requested key to a stored parameter key: exact, else the unique key whose last
    dotted part matches (``lr`` -> ``train.lr``). Unknown or ambiguous keys are errors."""
    resolved: list[str] = []
    with reader(engine).connect() as conn:
        for key in keys:
            exact = conn.execute(select(Param.id).where(Param.key == key).limit(1)).first()
            if exact is not None:
                resolved.append(key)
                continue
            q = (select(Param.key).distinct().join(Run, Run.id == Param.run_id)
                 .where(or_(Param.key == key, Param.key.like(f"%.{_escape_like(key)}", escape="\\")))
                 .where(*filter_clauses(filters)).limit(50))
            found = sorted({k for (k,) in conn.execute(q)})
            if key in found:
                resolved.append(key)
            elif len(found) == 1:
                resolved.append(found[0])
            elif not found:
                known = sorted({k for (k,) in conn.execute(
                    select(Param.key).distinct().join(Run, Run.id == Param.run_id)
                    .where(*filter_clauses(filters)).limit(200))})
                raise AdlabError(f"group key {key!r} is not a parameter of the selected runs; "
                                 f"known keys{closest_first(key, known)}")
            else:
                raise AdlabError(f"group key {key!r} is ambiguous ({', '.join(found)}); "
                                 "give the full dotted key")
    return resolved


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def run_lookup(engine: Engine, *, refs: Sequence[str | int]) -> list[int]:
    """Run ids for ids or names given by the user (a name must match exactly one run)."""
    ids: list[int] = []
    with reader(engine).connect() as conn:
        for ref in refs:
            text = str(ref).strip()
            if text.isdigit():
                found = conn.execute(select(Run.id).where(Run.id == int(text))).scalar()
                if found is None:
                    raise AdlabError(f"run {text} does not exist; `adlab runs` lists the runs")
                ids.append(int(found))
                continue
            rows = [r for (r,) in conn.execute(select(Run.id).where(Run.name == text).order_by(Run.id))]
            if not rows:
                raise AdlabError(f"no run is named {text!r}; `adlab runs` lists the runs")
            if len(rows) > 1:
                raise AdlabError(f"{len(rows)} runs are named {text!r} (ids {', '.join(map(str, rows))}); "
                                 "give the run id instead")
            ids.append(rows[0])
    return ids


def scoped_metrics(engine: Engine, *, run_ids: Iterable[int], metrics: Sequence[str] | None = None
                   ) -> list[tuple[int, str, str, float | None]]:
    """(run_id, key, scope, value) for every scoped (per-category, per-dataset) run-level metric."""
    ids = sorted(set(run_ids))
    out: list[tuple[int, str, str, float | None]] = []
    with reader(engine).connect() as conn:
        for chunk in chunks(ids):
            q = (select(Metric.run_id, Metric.key, Metric.scope, Metric.value)
                 .where(Metric.run_id.in_(chunk), Metric.scope != "", Metric.step.is_(None))
                 .order_by(Metric.run_id, Metric.key, Metric.scope, Metric.id))
            if metrics is not None:
                q = q.where(Metric.key.in_(list(metrics)))
            out.extend(tuple(r) for r in conn.execute(q))
    return out


def metric_keys(engine: Engine, *, filters: RunFilter | None = None) -> list[tuple[str, int]]:
    """Run-level metric keys of the filtered runs with how many runs carry each."""
    q = (select(Metric.key, func.count(func.distinct(Metric.run_id)))
         .join(Run, Run.id == Metric.run_id)
         .where(Metric.scope == "", Metric.step.is_(None), *filter_clauses(filters))
         .group_by(Metric.key).order_by(Metric.key))
    with reader(engine).connect() as conn:
        return [(k, int(n)) for k, n in conn.execute(q)]


def headline_metric(engine: Engine, *, filters: RunFilter | None = None) -> str | None:
    """The most common headline metric among the filtered runs (ties: alphabetical)."""
    q = (select(Run.headline_metric, func.count()).where(Run.headline_metric.is_not(None),
                                                         *filter_clauses(filters))
         .group_by(Run.headline_metric))
    with reader(engine).connect() as conn:
        rows = sorted(conn.execute(q), key=lambda r: (-r[1], r[0]))
    return rows[0][0] if rows else None


def metric_recorded(engine: Engine, *, key: str) -> bool:
    """Whether any run of the lab records metric ``key`` (any scope): one index seek."""
    with reader(engine).connect() as conn:
        return conn.execute(select(Metric.id).where(Metric.key == key).limit(1)).first() is not None


def lab_metric_keys(engine: Engine) -> list[str]:
    """Every metric key the lab records, by skipping along the key index (one seek per key; a
    DISTINCT would read every metric row)."""
    keys: list[str] = []
    with reader(engine).connect() as conn:
        key = conn.execute(select(func.min(Metric.key))).scalar()
        while key is not None:
            keys.append(key)
            key = conn.execute(select(func.min(Metric.key)).where(Metric.key > key)).scalar()
    return keys
