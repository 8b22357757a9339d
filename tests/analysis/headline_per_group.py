"""Reference for the tests: adlab's headline ranking as it was up to commit ce64ef7, one
``ORDER BY headline_value LIMIT`` seek per group (about 120 statements for a lab's first
comparison). :mod:`adlab.db.headline_ranking` now ranks every group in one ``RANK() OVER
(PARTITION BY ...)`` statement; test_headline_window.py checks that both give the same answer.
The code below is that version, unchanged apart from this docstring.

The original docstring:

Ranking by the value each run stores as its headline (``runs.headline_value``): index-only.

Ranking by an arbitrary metric joins ``runs`` to ``metrics`` and sorts every row inside a SQL
window, which costs ~0.4 s per 100,000 runs on SQLite. When the ranking metric is the headline
metric of the selected runs (the default of ``adlab compare``), the value already sits on the run
and two indexes, ``(headline_metric, group_hash, headline_value, status, pipeline, study)`` and
the same with ``partition_hash``, answer both questions without touching the other rows:

- each group's count, sum and sum of squares: one GROUP BY over the index;
- each group's best runs: one ``ORDER BY headline_value LIMIT`` seek per group, with ties.

A rank is one plus the number of strictly better runs of the group, and every strictly better run
is among the rows fetched, so the ranks equal SQL ``RANK()``'s. Regrouping by keys (``--group``)
that every stored group pins (the grouping rule says so) merges stored groups: their aggregates
add up and their best runs hold the merged group's best runs. Other keys: one aggregate over
the key parameters finds the groups, then a seek per group inside its partition, matching the
keys' canonical values.

Because the indexes end with status, pipeline and study, those filters are read from them too. The path applies only when no selected run records the metric without it being the run's
headline, and no filter by name, run ids or parameter values is set (:func:`applies`); otherwise
:mod:`adlab.db.compare_queries` ranks in a window, which those filters make small.

"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sqlalchemy import and_, bindparam, exists, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

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
        if group_keys:
            by_id = [Run.headline_metric == metric, *_filters(f, index_status=True)]
            groups = _key_groups(conn, by_id, group_keys, sqlite=sqlite)
        else:
            groups = _stored_groups(conn, base)
        best = {gid: _best_rows(conn, [*base, *g.where], higher_is_better=higher_is_better,
                                top=top, params=g.params)
                for gid, g in groups.items()}
        details = _details(conn, [run_id for pairs in best.values() for run_id, _ in pairs])
        for gid, pairs in best.items():
            rows += _ranked(pairs, details, gid, groups[gid].key_values, higher_is_better)
    return rows, {gid: g.aggregate for gid, g in groups.items()}


def _details(conn: Connection, ids: list[int]) -> dict[int, Any]:
    """The listed runs' own columns, read once at the end: the walks down each group's index
    read (id, value) only, so they never touch the runs' rows."""
    out: dict[int, Any] = {}
    cols = (Run.id, Run.name, Run.pipeline, Run.partition_hash, Run.seed, Run.info_json,
            Run.group_keys_json)
    for chunk in cq.chunks(sorted(ids)):
        for r in conn.execute(select(*cols).where(Run.id.in_(chunk))):
            out[r[0]] = r
    return out


@dataclass
class _Group:
    """A group's aggregate and the conditions (with their bound values) that select its runs.
    The conditions use bound parameters, so one statement serves every group of its shape and
    is compiled once."""

    where: list[ColumnElement]
    params: dict[str, Any]
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
    where = [Run.group_hash == bindparam("group_hash")]
    return {g: _Group(where, {"group_hash": g}, None, _aggregate(r), rep=rep)
            for g, rep, *r in conn.execute(q)}


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
    best: dict[str, list[tuple[int, Any]]] = {}
    for gid, sgids in members.items():
        pairs = [p for s in sgids for p in _best_rows(
            conn, [*base, *stored[s].where], higher_is_better=higher_is_better, top=top,
            params=stored[s].params)]
        best[gid] = pairs if top is None else _within_top(pairs, top, aggregates[gid].n,
                                                          higher_is_better)
    details = _details(conn, [run_id for pairs in best.values() for run_id, _ in pairs])
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


def _key_groups(conn: Connection, base: list[ColumnElement], keys: Sequence[str], *,
                sqlite: bool) -> dict[str, _Group]:
    """Groups by partition plus the canonical value of each key, found with one aggregate."""
    inner = select(Run.id, Run.partition_hash, Run.headline_value)
    cols: list[ColumnElement] = []
    for key in keys:
        p = aliased(Param)
        inner = inner.outerjoin(p, and_(p.run_id == Run.id, p.key == key))
        cols += [p.value_num, cq.canonical_text(p.value_num, p.value_text)]
    inner = inner.add_columns(*[c.label(f"k{i}") for i, c in enumerate(cols)]).where(*base)
    if sqlite:
        # Visiting runs in id order (the (status, headline_metric) index gives it) makes the
        # parameter lookups sequential; SQLite would otherwise walk the partition index and
        # read params at random (2x slower).
        inner = inner.order_by(Run.id)
    sub = inner.subquery()
    kcols = [sub.c[f"k{i}"] for i in range(len(cols))]
    q = (select(sub.c.partition_hash, *kcols, *_aggregate_columns(sub.c.headline_value))
         .group_by(sub.c.partition_hash, *kcols))
    shapes: dict[tuple[str, ...], list[ColumnElement]] = {}
    out: dict[str, _Group] = {}
    n = len(cols)
    for r in conn.execute(q):
        pairs = [(r[1 + 2 * i], r[2 + 2 * i]) for i in range(len(keys))]
        key_values = {key: cq.value_from_sql(num, txt) for key, (num, txt) in zip(keys, pairs)}
        shape = tuple("num" if num is not None else "txt" if txt is not None else "none"
                      for num, txt in pairs)
        if shape not in shapes:
            shapes[shape] = [Run.partition_hash == bindparam("partition_hash"),
                             *[_key_matches(key, kind, f"k{i}")
                               for i, (key, kind) in enumerate(zip(keys, shape))]]
        params = {"partition_hash": r[0]}
        for i, (num, txt) in enumerate(pairs):
            if num is not None or txt is not None:
                params[f"k{i}"] = num if num is not None else txt
        out[cq.group_id(r[0], "", key_values)] = _Group(shapes[shape], params, key_values,
                                                         _aggregate(r[1 + n:]))
    return out


def _key_matches(key: str, kind: str, name: str) -> ColumnElement:
    """The run's parameter ``key`` has the grouped value bound as ``name``: a number
    (``value_num``), a canonical text, or no value at all (missing or null)."""
    p = aliased(Param)
    mine = and_(p.run_id == Run.id, p.key == key)
    text = cq.canonical_text(p.value_num, p.value_text)
    if kind == "num":
        return exists().where(mine, p.value_num == bindparam(name))
    if kind == "txt":
        return exists().where(mine, p.value_num.is_(None), text == bindparam(name))
    return ~exists().where(mine, or_(p.value_num.is_not(None), text.is_not(None)))


def _best_rows(conn: Connection, where: list[ColumnElement], *, higher_is_better: bool,
               top: int | None, params: dict[str, Any] | None = None) -> list[tuple[int, Any]]:
    """(run id, value) of a group's runs best first; with ``top``, the ``top`` best plus any run
    tied with the last (and the runs without a value when fewer than ``top`` runs have one, as
    ``RANK() <= top`` does)."""
    v = Run.headline_value
    order = [v.is_(None), v.desc() if higher_is_better else v.asc(), Run.id]
    q = select(Run.id, v).where(*where)
    params = params or {}
    if top is None:
        return [tuple(r) for r in conn.execute(q.order_by(*order), params)]
    # No tie-breaker in the ORDER BY: the index then yields rows already in order, and SQLite
    # stops after ``top + 1`` of them instead of sorting every run that ties on a rounded value.
    best = [tuple(r) for r in conn.execute(q.where(v.is_not(None)).order_by(order[1])
                                           .limit(top + 1), params)]
    if len(best) > top:
        if best[top][1] != best[top - 1][1]:
            return best[:top]  # the next run is strictly worse: no tie to fetch
        cut = bindparam("cut")  # again down to the last value, so runs tied with it come too
        within = q.where(v >= cut if higher_is_better else v <= cut).order_by(order[1])
        return [tuple(r) for r in conn.execute(within, {**params, "cut": best[top - 1][1]})]
    if len(best) < top:  # every valued run is listed and the unvalued rank within top too
        best += [tuple(r) for r in conn.execute(q.where(v.is_(None)).order_by(Run.id), params)]
    return best


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
