"""Ranking by the value each run stores as its headline (``runs.headline_value``): index-only.

Ranking by an arbitrary metric joins ``runs`` to ``metrics`` and sorts every row inside a SQL
window, which costs ~0.4 s per 100,000 runs on SQLite. When the ranking metric is the headline
metric of the selected runs (the default of ``adlab compare``), the value already sits on the run
and two indexes, ``(headline_metric, group_hash, headline_value, status, pipeline, study)`` and
the same with ``partition_hash``, answer both questions without touching the other rows:

- each group's count, sum and sum of squares: one GROUP BY over the index;
- each group's best runs: one ``RANK() OVER (PARTITION BY group ORDER BY headline_value)``
  over the same index entries (id and value only), cut at ``rank <= top`` in SQL, so ties at
  the cut come along and the ranks are SQL ``RANK()``'s. One statement for every group (a seek
  per group was ~120 statements for a lab's first comparison); the runs' own columns are read
  for the listed runs only.

Regrouping by keys (``--group``) that every stored group pins (the grouping rule says so)
merges stored groups: their aggregates add up and their best runs hold the merged group's best
runs. Other keys: the same aggregate and window over the runs joined to the key parameters,
partitioned by partition plus the keys' canonical values.

Because the indexes end with status, pipeline and study, those filters are read from them too. The path applies only when no selected run records the metric without it being the run's
headline, and no filter by name, run ids or parameter values is set (:func:`applies`); otherwise
:mod:`adlab.db.compare_queries` ranks in a window, which those filters make small.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement, Select

from adlab.db import compare_queries as cq
from adlab.db.engine import reader
from adlab.db.models import Metric, Param, Run


def applies(engine: Engine, *, metric: str, scope: str, filters: cq.RunFilter | None) -> bool:
    """True when every selected run that records ``metric`` (run level) has it as its headline,
    so ``runs.headline_value`` is the complete ranking input."""
    if scope != "":
        return False
    f = filters or cq.RunFilter()
    if f.name_like or f.run_ids or f.where:
        return False  # selective filters: their own indexes make the window over few runs cheap
    m = aliased(Metric)
    records = exists().where(m.run_id == Run.id, m.key == metric, m.scope == "", m.step.is_(None))
    # Driven from runs (the EXISTS keeps the planner off the metrics side), so the scan reads
    # only the (status, headline_metric) index entries of the runs whose headline differs.
    # Study and pipeline filters are not applied: stricter, never wrong, and index-only.
    stray = (select(Run.id)
             .where(or_(Run.headline_metric.is_(None), Run.headline_metric != metric),
                    *_filters(cq.RunFilter(statuses=f.statuses), index_status=True), records)
             .limit(1))
    with reader(engine).connect() as conn:
        return conn.execute(stray).first() is None


def _filters(f: cq.RunFilter, *, index_status: bool = False) -> list[ColumnElement]:
    """The status, pipeline and study filters, written so that no single-column index can
    serve them (``col || ''``): without table statistics SQLite would otherwise pick
    ``ix_runs_pipeline`` or ``ix_runs_status`` and read every run's row. The headline indexes
    hold these columns, so the filters are checked inside the index."""
    def unindexed(col: Any) -> Any:
        return col.concat("")

    out: list[ColumnElement] = []
    if f.statuses:
        status = Run.status if index_status else unindexed(Run.status)
        out.append(status.in_(list(f.statuses)))
    if f.study:
        out.append(unindexed(Run.study) == f.study)
    if f.pipeline:
        out.append(unindexed(Run.pipeline) == f.pipeline)
    return out


# (pipeline, group_keys_json, info_json, key) -> does the stored group pin the key's value?
PinRule = Callable[[str, str, "str | None", str], bool]


def ranked_rows(engine: Engine, *, metric: str, filters: cq.RunFilter | None = None,
                group_keys: Sequence[str] | None = None, higher_is_better: bool = True,
                top: int | None = None, pins: PinRule | None = None
                ) -> tuple[list[cq.RankedRow], dict[str, cq.GroupAggregate]]:
    """The same answer as :func:`adlab.db.compare_queries.ranked_rows` for the headline metric.

    With ``pins`` (the grouping rule, from the analysis layer), a regrouping whose keys every
    stored group pins is answered by merging stored groups, without reading any parameter of
    the other runs."""
    f = filters or cq.RunFilter()
    base = [Run.headline_metric == metric, *_filters(f)]
    rows: list[cq.RankedRow] = []
    with reader(engine).connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if group_keys and pins is not None:
            merged = _merged_stored_groups(conn, base, group_keys, pins,
                                           higher_is_better=higher_is_better, top=top)
            if merged is not None:
                return merged
        details: dict[int, Any] = {}
        if group_keys:
            by_id = [Run.headline_metric == metric, *_filters(f, index_status=True)]
            groups, best = _key_groups(conn, by_id, group_keys, details, sqlite=sqlite,
                                       higher_is_better=higher_is_better, top=top)
        else:
            groups = _stored_groups(conn, base)
            best = _best_stored(conn, base, details, higher_is_better=higher_is_better, top=top)
        for gid, g in groups.items():
            rows += _ranked(best.get(gid, []), details, gid, g.key_values, higher_is_better)
    return rows, {gid: g.aggregate for gid, g in groups.items()}


_DETAIL_COLUMNS = (Run.id, Run.name, Run.pipeline, Run.partition_hash, Run.seed, Run.info_json,
                   Run.group_keys_json)


def _details(conn: Connection, ids: list[int]) -> dict[int, Any]:
    """Some runs' own columns (id, name, pipeline, partition, seed, info, group keys)."""
    out: dict[int, Any] = {}
    for chunk in cq.chunks(sorted(ids)):
        for r in conn.execute(select(*_DETAIL_COLUMNS).where(Run.id.in_(chunk))):
            out[r[0]] = r
    return out


@dataclass
class _Group:
    """A group's aggregate over all its runs, its key values (regrouping) and a run of it."""

    key_values: dict[str, Any] | None
    aggregate: cq.GroupAggregate
    rep: int = 0  # a run of the group (stored groups only)


def _aggregate_columns(value: Any = Run.headline_value) -> list[Any]:
    return [func.count(value), func.sum(value), func.sum(value * value), func.count()]


def _aggregate(r: Sequence[Any]) -> cq.GroupAggregate:
    return cq.GroupAggregate(int(r[0]), float(r[1] or 0.0), float(r[2] or 0.0), int(r[3]))


def _stored_groups(conn: Connection, base: list[ColumnElement]) -> dict[str, _Group]:
    q = (select(Run.group_hash, func.min(Run.id), *_aggregate_columns()).where(*base)
         .group_by(Run.group_hash))
    return {g: _Group(None, _aggregate(r), rep=rep) for g, rep, *r in conn.execute(q)}


def _best_stored(conn: Connection, base: list[ColumnElement], details: dict[int, Any], *,
                 higher_is_better: bool, top: int | None) -> dict[str, list[tuple[int, Any]]]:
    """Each stored group's best runs (see :func:`_best_in_window`), by group hash."""
    inner = select(Run.id.label("rid"), Run.headline_value.label("v"),
                   Run.group_hash.label("p0")).where(*base)
    return {part[0]: pairs for part, pairs in _best_in_window(
        conn, inner, 1, details, higher_is_better=higher_is_better, top=top).items()}


def _merged_stored_groups(conn: Connection, base: list[ColumnElement], keys: Sequence[str],
                          pins: PinRule, *, higher_is_better: bool, top: int | None
                          ) -> tuple[list[cq.RankedRow], dict[str, cq.GroupAggregate]] | None:
    """Regroup by keys that every stored group pins: each stored group falls whole into one
    new group (its representative run's key values), aggregates add up, and a new group's best
    runs are among its stored groups' best runs (every run better than a listed one is listed
    in its own stored group). None when some stored group does not pin some key."""
    stored = _stored_groups(conn, base)
    reps = _details(conn, [g.rep for g in stored.values()])
    for g in stored.values():
        rep = reps[g.rep]
        if not all(pins(rep[2], rep[6] or "[]", rep[5], key) for key in keys):
            return None
    values = _param_pairs(conn, list(reps), keys)
    members: dict[str, list[str]] = {}
    key_values: dict[str, dict[str, Any]] = {}
    for sgid, g in stored.items():
        kv = {key: cq.value_from_sql(*values.get((g.rep, key), (None, None))) for key in keys}
        gid = cq.group_id(reps[g.rep][3], "", kv)
        members.setdefault(gid, []).append(sgid)
        key_values[gid] = kv
    aggregates: dict[str, cq.GroupAggregate] = {}
    for gid, sgids in members.items():
        parts = [stored[s].aggregate for s in sgids]
        aggregates[gid] = cq.GroupAggregate(sum(a.n for a in parts), sum(a.total for a in parts),
                                            sum(a.total_sq for a in parts),
                                            sum(a.runs for a in parts))
    details: dict[int, Any] = {}
    stored_best = _best_stored(conn, base, details, higher_is_better=higher_is_better, top=top)
    best: dict[str, list[tuple[int, Any]]] = {}
    for gid, sgids in members.items():
        pairs = [p for s in sgids for p in stored_best.get(s, [])]
        best[gid] = pairs if top is None else _within_top(pairs, top, aggregates[gid].n,
                                                          higher_is_better)
    rows: list[cq.RankedRow] = []
    for gid, pairs in best.items():
        rows += _ranked(pairs, details, gid, key_values[gid], higher_is_better)
    return rows, aggregates


def _param_pairs(conn: Connection, run_ids: list[int], keys: Sequence[str]
                 ) -> dict[tuple[int, str], tuple[Any, Any]]:
    """(value_num, canonical text) of some runs' parameters, as the regrouping query reads them."""
    text = cq.canonical_text(Param.value_num, Param.value_text)
    q = (select(Param.run_id, Param.key, Param.value_num, text)
         .where(Param.run_id.in_(run_ids), Param.key.in_(list(keys))))
    return {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(q)}


def _within_top(pairs: list[tuple[int, Any]], top: int, n_valued: int,
                higher_is_better: bool) -> list[tuple[int, Any]]:
    """The merged pairs whose rank in the merged group is at most ``top``; unvalued runs too
    when the group has fewer than ``top`` valued runs (their RANK() is n_valued + 1)."""
    ranks = cq.competition_ranks([value for _, value in pairs], higher_is_better)
    kept = [p for p, rank in zip(pairs, ranks) if rank is not None and rank <= top]
    if n_valued < top:
        kept += [p for p in pairs if p[1] is None]
    return kept


def _key_groups(conn: Connection, base: list[ColumnElement], keys: Sequence[str],
                details: dict[int, Any], *, sqlite: bool, higher_is_better: bool, top: int | None
                ) -> tuple[dict[str, _Group], dict[str, list[tuple[int, Any]]]]:
    """Groups by partition plus the canonical value of each key: their aggregates (one GROUP
    BY) and their best runs (one window), over the runs joined to the key parameters."""
    inner = select(Run.id.label("rid"), Run.headline_value.label("v"),
                   Run.partition_hash.label("p0"))
    cols: list[ColumnElement] = []
    for key in keys:
        p = aliased(Param)
        inner = inner.outerjoin(p, and_(p.run_id == Run.id, p.key == key))
        cols += [p.value_num, cq.canonical_text(p.value_num, p.value_text)]
    inner = inner.add_columns(*[c.label(f"p{i + 1}") for i, c in enumerate(cols)]).where(*base)
    nparts = 1 + len(cols)
    if sqlite:
        # Visiting runs in id order (the (status, headline_metric) index gives it) makes the
        # parameter lookups sequential; SQLite would otherwise walk the partition index and
        # read params at random (2x slower).
        inner = inner.order_by(Run.id)
    sub = inner.subquery()
    parts = [sub.c[f"p{i}"] for i in range(nparts)]
    q = select(*parts, *_aggregate_columns(sub.c.v)).group_by(*parts)
    out: dict[str, _Group] = {}
    for r in conn.execute(q):
        key_values = _key_values(keys, r[1:nparts])
        out[cq.group_id(r[0], "", key_values)] = _Group(key_values, _aggregate(r[nparts:]))
    best = {cq.group_id(part[0], "", _key_values(keys, part[1:])): pairs
            for part, pairs in _best_in_window(conn, inner, nparts, details,
                                               higher_is_better=higher_is_better,
                                               top=top).items()}
    return out, best


def _key_values(keys: Sequence[str], flat: Sequence[Any]) -> dict[str, Any]:
    """Canonical key values from (value_num, canonical text) pairs, as the regrouping reads them."""
    return {key: cq.value_from_sql(flat[2 * i], flat[2 * i + 1]) for i, key in enumerate(keys)}


def _best_in_window(conn: Connection, inner: Select, nparts: int, details: dict[int, Any], *,
                    higher_is_better: bool, top: int | None) -> dict[tuple, list[tuple[int, Any]]]:
    """(run id, value) of each group's runs best first, in one statement for every group.

    ``inner`` selects ``rid``, ``v`` (the value) and the group columns ``p0..``. Each group is
    ranked with SQL ``RANK()`` (runs without a value after every run with one), and with
    ``top`` only ranks <= top are kept: the ``top`` best plus any run tied with the last, and
    the runs without a value when fewer than ``top`` runs have one (their rank is the number of
    valued runs + 1). Runs of one rank come in id order. The listed runs' own columns (as
    :func:`_details` reads them) are joined after the cut and put in ``details``."""
    sub = inner.subquery()
    parts = [sub.c[f"p{i}"] for i in range(nparts)]
    undefined = case((sub.c.v.is_(None), 1), else_=0)
    order = sub.c.v.desc() if higher_is_better else sub.c.v.asc()
    ranked = select(sub.c.rid, sub.c.v, *parts,
                    func.rank().over(partition_by=parts, order_by=[undefined, order])
                    .label("rnk")).subquery()
    q = (select(ranked.c.rid, ranked.c.v, *_DETAIL_COLUMNS[1:],
                *[ranked.c[f"p{i}"] for i in range(nparts)])
         .join(Run, Run.id == ranked.c.rid))
    if top is not None:
        q = q.where(ranked.c.rnk <= top)
    out: dict[tuple, list[tuple[int, Any]]] = {}
    width = len(_DETAIL_COLUMNS) + 1
    for r in conn.execute(q.order_by(ranked.c.rnk, ranked.c.rid)):
        out.setdefault(tuple(r[width:]), []).append((r[0], r[1]))
        details[r[0]] = (r[0], *r[2:width])
    return out


def _ranked(pairs: list[tuple[int, Any]], details: dict[int, Any], gid: str,
            key_values: dict[str, Any] | None, higher_is_better: bool) -> list[cq.RankedRow]:
    """Competition ranks (1, 1, 3) over rows that hold every better run of the group."""
    ranks = cq.competition_ranks([value for _, value in pairs], higher_is_better)
    out: list[cq.RankedRow] = []
    for (run_id, value), rank in zip(pairs, ranks):
        d = details[run_id]
        out.append(cq.RankedRow(run_id=run_id, name=d[1], pipeline=d[2], partition_hash=d[3],
                                group_id=gid, key_values=dict(key_values or {}), seed=d[4],
                                value=value, rank=rank, info_json=d[5],
                                group_keys_json=d[6] or "[]"))
    return out
