"""The compare screen's data: the same :func:`adlab.analysis.compare.compare` as ``adlab compare``,
run on the marked runs or the runs in view, and its rendering as Rich tables.

Every run in scope is accounted for: runs are compared per headline metric (a section each, so
an MMAD accuracy is never ranked against an image AUROC), and runs that cannot be ranked (no
headline metric, no value of the chosen metric) are counted on screen. Group statistics cover
every run of a group (``compare()`` computes them in SQL); only the listing is cut, with a line
saying how many runs are not listed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from rich.console import Group as RichGroup
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine

from adlab.tui import fmt

BEST_STYLE = "bold #98c379"
TOP_PER_GROUP = 50  # runs listed per group; statistics and ranks still use every run


@dataclass
class Section:
    """One comparison: a ranking, or (marked runs of several groups) their differences."""

    mode: str  # "ranking" | "differences"
    comparison: Any
    message: str = ""
    metric: str = ""
    n_in_scope: int = 0  # runs handed to compare() for this section


@dataclass
class CompareResult:
    mode: str  # "ranking" | "differences" | "empty": that of the first section
    sections: list[Section] = field(default_factory=list)
    message: str = ""
    metric_keys: list[str] = field(default_factory=list)
    scope_runs: int = 0
    notes: list[str] = field(default_factory=list)  # runs in scope that are not ranked, and why

    @property
    def comparison(self) -> Any:
        return self.sections[0].comparison if self.sections else None


def split_by_headline(ids: Sequence[int], headlines: Mapping[int, str | None]
                      ) -> tuple[dict[str, list[int]], list[int]]:
    """Runs per headline metric (largest bucket first) and the runs that record none."""
    buckets: dict[str, list[int]] = {}
    none: list[int] = []
    for run_id in ids:
        metric = headlines.get(run_id)
        if metric:
            buckets.setdefault(metric, []).append(run_id)
        else:
            none.append(run_id)
    order = sorted(buckets, key=lambda m: (-len(buckets[m]), m))
    return {m: buckets[m] for m in order}, none


def _section(engine: Engine, ids: list[int], *, marked: bool, metric: str,
             group_keys: list[str] | None) -> Section:
    from adlab.analysis.compare import GroupMismatch, RunFilter, compare

    if marked:
        try:
            comp = compare(engine, metrics=[metric], run_ids=ids, group_keys=group_keys)
        except GroupMismatch as exc:
            comp = compare(engine, metrics=[metric], run_ids=ids, group_keys=group_keys,
                           across_groups=True)
            return Section("differences", comp, str(exc), metric, len(ids))
        return Section("ranking", comp, "", metric, len(ids))
    comp = compare(engine, metrics=[metric], filters=RunFilter(run_ids=tuple(ids),
                   statuses=("succeeded",)), group_keys=group_keys, top=TOP_PER_GROUP)
    return Section("ranking", comp, "", metric, len(ids))


def load_comparison(engine: Engine, *, marked: Sequence[int], in_view: Sequence[int],
                    metric: str | None, group_keys: Sequence[str] | None,
                    headlines: Mapping[int, str | None] | None = None,
                    statuses: Mapping[int, str] | None = None) -> CompareResult:
    """Marked runs are compared as named runs (refused across groups: then the differing
    parameters are shown instead); otherwise every succeeded run in view is ranked inside its
    group. ``headlines``/``statuses`` (from the runs table) split the scope per headline metric
    and count what cannot be ranked; without them the headline is read from the database."""
    from adlab.analysis.compare import RunFilter
    from adlab.db.compare_queries import metric_keys
    from adlab.errors import AdlabError

    ids = list(marked) or list(in_view)
    if not ids:
        return CompareResult("empty", message="no runs in view; clear the filter first")
    notes: list[str] = []
    if not marked and statuses is not None:
        ranked_scope = [i for i in ids if statuses.get(i) == "succeeded"]
        if len(ranked_scope) < len(ids):
            notes.append(f"{len(ids) - len(ranked_scope)} run(s) in view have not succeeded "
                         "(only succeeded runs are ranked)")
        ids = ranked_scope
        if not ids:
            return CompareResult("empty", message="no succeeded run in view to rank",
                                 notes=notes)
    scope_filter = RunFilter(run_ids=tuple(ids), statuses=() if marked else ("succeeded",))
    keys = [k for k, _n in metric_keys(engine, filters=scope_filter)]
    gk = list(group_keys) if group_keys else None
    if metric:
        buckets, unlabelled = {metric: ids}, []
    elif headlines is not None:
        buckets, unlabelled = split_by_headline(ids, headlines)
    else:
        buckets, unlabelled = {"": ids}, []
    if unlabelled:
        notes.append(f"{len(unlabelled)} run(s) record no headline metric: pick a metric to "
                     "rank them")
    sections: list[Section] = []
    for name, bucket in buckets.items():
        try:
            if not name:  # no headline known here: read the runs' headline from the database
                section = _section_headline(engine, bucket, marked=bool(marked), group_keys=gk)
            else:
                section = _section(engine, bucket, marked=bool(marked), metric=name,
                                   group_keys=gk)
        except AdlabError as exc:
            notes.append(f"{len(bucket)} run(s) with {name or 'their headline metric'}: {exc}")
            continue
        missing = len(bucket) - ranked_runs(section.comparison) if section.mode == "ranking" else 0
        if missing > 0:
            notes.append(f"{missing} run(s) have no run-level value of {section.comparison.metric}"
                         " and are not ranked")
        sections.append(section)
    mode = sections[0].mode if sections else "empty"
    message = "" if sections else "nothing to rank in this selection"
    return CompareResult(mode, sections, message, keys, len(list(marked) or list(in_view)), notes)


def ranked_runs(comp: Any) -> int:
    """Runs the comparison covers: every run of every group, listed or not (``n_runs`` of a
    comparison counts the listed rows only when the listing is cut)."""
    return sum(g.n_runs for g in comp.groups)


def _section_headline(engine: Engine, ids: list[int], *, marked: bool,
                      group_keys: list[str] | None) -> Section:
    from adlab.analysis.compare import RunFilter
    from adlab.db.compare_queries import headline_metric

    metric = headline_metric(engine, filters=RunFilter(run_ids=tuple(ids),
                                                       statuses=() if marked else ("succeeded",)))
    if metric is None:
        from adlab.errors import AdlabError

        raise AdlabError("no headline metric recorded; pick a metric to rank by")
    return _section(engine, ids, marked=marked, metric=metric, group_keys=group_keys)


def _value(v: Any) -> str:
    from adlab.analysis.compare import format_value

    return format_value(v)


def stats_text(st: Any) -> str:
    """``mean 0.8997 ± 0.0567 (n=60)``: the numbers ``adlab compare`` prints for a group."""
    if st is None or st.mean is None:
        return "no values (n=0)"
    spread = f" ± {st.std:.4f}" if st.std is not None else ""
    return f"mean {st.mean:.4f}{spread} (n={st.n})"


def _group_heading(g: Any, comp: Any) -> RichGroup:
    """What defines the group (wrapped, never cut: `lr=0.0…` told nothing), its size and
    statistics over every run, then its best run."""
    part = ", ".join(f"{k}={_value(v)}" for k, v in g.partition.items()
                     if k != "pipeline" and v is not None)
    keys = ", ".join(f"{k}={_value(v)}" for k, v in g.keys.items())
    text = Text.assemble((f" {g.label} ", "bold reverse"), " ", (g.pipeline, "#61afef"))
    if part:
        text.append(f"  {part}", style="#56b6c2")
    if keys:
        text.append(f"  {keys}")
    stats = Text(f"  {g.n_runs} run(s) · {comp.metric} {stats_text(g.stats.get(comp.metric))}",
                 style="dim")
    best = Text("  no run has a value yet", style="dim")
    if g.best is not None:
        best = Text(f"  ★ best: #{g.best.id} {g.best.name} = {fmt.metric_value(g.best.value)}",
                    style=BEST_STYLE)
        if g.best.tied:
            best.append(f" (tied with {', '.join(f'#{i}' for i in g.best.tied)})")
    return RichGroup(text, stats, best)


def _group_table(g: Any, comp: Any) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold", expand=False)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("run", no_wrap=True)
    for m in comp.metrics:
        arrow = "↑" if comp.higher_is_better.get(m, True) else "↓"
        table.add_column(f"{m} {arrow}", justify="right", no_wrap=True)
    with_delta = any(r.delta_pp for r in g.runs)
    if with_delta:
        table.add_column(f"Δ {comp.metric} (pp)", justify="right", no_wrap=True)
    for key in g.differing:
        table.add_column(key, style="#56b6c2", no_wrap=True)
    for r in g.runs:
        best = g.best is not None and (r.id == g.best.id or r.id in g.best.tied)
        cells = [("★ " if best else "") + (str(r.rank) if r.rank is not None else "–"),
                 f"#{r.id} {r.name}" + (" (baseline)" if r.is_baseline else "")]
        cells += [fmt.metric_value(r.values.get(m)) or "undefined" for m in comp.metrics]
        if with_delta:
            d = r.delta_pp.get(comp.metric)
            cells.append("" if d is None else f"{d:+.2f}")
        cells += [_value(r.params.get(k)) for k in g.differing]
        table.add_row(*cells, style=BEST_STYLE if best else None)
    return table


def more_line(g: Any) -> Text | None:
    """``… 70 more run(s) not listed`` when the listing was cut (statistics include them)."""
    hidden = g.n_runs - len(g.runs)
    if hidden <= 0:
        return None
    return Text(f"  … {hidden} more run(s) not listed (the best {len(g.runs)} are; statistics "
                "above cover all)", style="dim italic")


def _variants(g: Any) -> Table | None:
    if not g.complete or not any(v.n > 1 for v in g.variants):
        return None  # variants of a cut listing would describe the listed runs only
    table = Table(box=None, padding=(0, 1), header_style="bold dim", title_justify="left")
    table.add_column("variant", no_wrap=True)
    table.add_column("runs", justify="right")
    table.add_column("mean ± std", justify="right", no_wrap=True)
    for v in g.variants:
        params = ", ".join(f"{k}={_value(x)}" for k, x in v.params.items()) or "(all)"
        spread = f" ± {v.std:.4f}" if v.std is not None else ""
        table.add_row(params, str(v.n), f"{fmt.metric_value(v.mean)}{spread}")
    return table


def ranking_parts(comp: Any) -> list[Any]:
    parts: list[Any] = [Text(
        f"{ranked_runs(comp)} run(s) with {comp.metric}{f' [{comp.scope}]' if comp.scope else ''} in "
        f"{len(comp.groups)} group(s); runs are ranked only inside their group", style="bold")]
    for g in comp.groups:
        parts += [Text(""), _group_heading(g, comp), _group_table(g, comp)]
        more = more_line(g)
        if more is not None:
            parts.append(more)
        variants = _variants(g)
        if variants is not None:
            parts.append(variants)
    return parts


def ranking_renderable(comp: Any) -> RichGroup:
    return RichGroup(*ranking_parts(comp))


def differences_parts(section: Section, scope_runs: int) -> list[Any]:
    comp = section.comparison
    names: list[str] = []
    for d in comp.differences:
        for name in d.values:
            if name not in names:
                names.append(name)
    table = Table(header_style="bold", padding=(0, 1))
    table.add_column("parameter", style="#56b6c2", no_wrap=True)
    for name in names:
        table.add_column(name, no_wrap=True)
    for d in comp.differences:
        table.add_row(d.key, *[_value(d.values.get(n)) for n in names])
    heading = Text(f"The {section.n_in_scope or scope_runs} marked runs belong to different "
                   "groups, so they are not ranked against each other. Parameters that differ:",
                   style="bold #e5c07b")
    return [heading, Text(""), table, Text(""),
            Text("Unmark runs until one group is left, or compare them with "
                 "`adlab compare --across-groups`.", style="dim")]


def differences_renderable(result: CompareResult) -> RichGroup:
    return RichGroup(*differences_parts(result.sections[0], result.scope_runs))


def renderable(result: CompareResult) -> Any:
    parts: list[Any] = []
    for note in result.notes:
        parts.append(Text(f"⚠ {note}", style="#e5c07b"))
    if result.mode == "empty" or not result.sections:
        parts.append(Text(result.message, style="dim"))
        return RichGroup(*parts)
    for i, section in enumerate(result.sections):
        if i:
            parts += [Text(""), Text("─" * 40, style="dim"), Text("")]
        if section.mode == "differences":
            parts += differences_parts(section, result.scope_runs)
        else:
            parts += ranking_parts(section.comparison)
    return RichGroup(*parts)
