"""The compare screen's data: ``adlab compare`` run on the marked runs or the runs in view, and
its rendering as Rich tables (best run of each group highlighted)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from rich.console import Group as RichGroup
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine

from adlab.tui import fmt

BEST_STYLE = "bold #98c379"
TOP_PER_GROUP = 50


@dataclass
class CompareResult:
    """One comparison ready to show: a ranking, or (cross-group selection) the differences."""

    mode: str  # "ranking" | "differences" | "empty"
    comparison: Any = None
    message: str = ""
    metric_keys: list[str] = field(default_factory=list)
    scope_runs: int = 0


def load_comparison(engine: Engine, *, marked: Sequence[int], in_view: Sequence[int],
                    metric: str | None, group_keys: Sequence[str] | None) -> CompareResult:
    """Marked runs are compared as named runs (refused across groups: then the differing
    parameters are returned instead); otherwise every run in view is ranked inside its group."""
    from adlab.analysis.compare import GroupMismatch, RunFilter, compare
    from adlab.db.compare_queries import metric_keys

    ids = list(marked) or list(in_view)
    if not ids:
        return CompareResult("empty", message="no runs in view; clear the filter first")
    scope_filter = RunFilter(run_ids=tuple(ids), statuses=() if marked else ("succeeded",))
    keys = [k for k, _n in metric_keys(engine, filters=scope_filter)]
    metrics = [metric] if metric else None
    gk = list(group_keys) if group_keys else None
    if marked:
        try:
            comp = compare(engine, metrics=metrics, run_ids=list(marked), group_keys=gk)
        except GroupMismatch as exc:
            comp = compare(engine, metrics=metrics, run_ids=list(marked), group_keys=gk,
                           across_groups=True)
            return CompareResult("differences", comp, str(exc), keys, len(marked))
        return CompareResult("ranking", comp, "", keys, len(marked))
    comp = compare(engine, metrics=metrics, filters=scope_filter, group_keys=gk,
                   top=TOP_PER_GROUP)
    return CompareResult("ranking", comp, "", keys, len(ids))


def _value(v: Any) -> str:
    from adlab.analysis.compare import format_value

    return format_value(v)


def _group_heading(g: Any) -> RichGroup:
    """Two lines: what defines the group, then its best run."""
    part = ", ".join(f"{k}={_value(v)}" for k, v in g.partition.items()
                     if k != "pipeline" and v is not None)
    keys = ", ".join(f"{k}={_value(v)}" for k, v in g.keys.items())
    text = Text.assemble((f" {g.label} ", "bold reverse"), " ", (g.pipeline, "#61afef"),
                         no_wrap=True, overflow="ellipsis")
    if part:
        text.append(f"  {part}", style="#56b6c2")
    if keys:
        text.append(f"  {keys}")
    text.append(f"  {g.n_runs} run(s)", style="dim")
    best = Text("  no run has a value yet", style="dim")
    if g.best is not None:
        best = Text(f"  ★ best: #{g.best.id} {g.best.name} = {fmt.metric_value(g.best.value)}",
                    style=BEST_STYLE, no_wrap=True, overflow="ellipsis")
        if g.best.tied:
            best.append(f" (tied with {', '.join(f'#{i}' for i in g.best.tied)})")
    return RichGroup(text, best)


def _group_table(g: Any, comp: Any) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold", expand=False)
    table.add_column("rank", justify="right")
    table.add_column("run", no_wrap=True)
    for m in comp.metrics:
        arrow = "↑" if comp.higher_is_better.get(m, True) else "↓"
        table.add_column(f"{m} {arrow}", justify="right")
    with_delta = any(r.delta_pp for r in g.runs)
    if with_delta:
        table.add_column(f"Δ {comp.metric} (pp)", justify="right")
    for key in g.differing:
        table.add_column(key, style="#56b6c2")
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


def _variants(g: Any) -> Table | None:
    if not any(v.n > 1 for v in g.variants):
        return None
    table = Table(box=None, padding=(0, 1), header_style="bold dim", title_justify="left")
    table.add_column("variant")
    table.add_column("runs", justify="right")
    table.add_column("mean ± std", justify="right")
    for v in g.variants:
        params = ", ".join(f"{k}={_value(x)}" for k, x in v.params.items()) or "(all)"
        spread = f" ± {v.std:.4f}" if v.std is not None else ""
        table.add_row(params, str(v.n), f"{fmt.metric_value(v.mean)}{spread}")
    return table


def ranking_renderable(comp: Any) -> RichGroup:
    parts: list[Any] = [Text(
        f"{comp.n_runs} run(s) with {comp.metric}{f' [{comp.scope}]' if comp.scope else ''} in "
        f"{len(comp.groups)} group(s); runs are ranked only inside their group", style="dim")]
    for g in comp.groups:
        parts += [Text(""), _group_heading(g), _group_table(g, comp)]
        variants = _variants(g)
        if variants is not None:
            parts.append(variants)
    return RichGroup(*parts)


def differences_renderable(result: CompareResult) -> RichGroup:
    comp = result.comparison
    names: list[str] = []
    for d in comp.differences:
        for name in d.values:
            if name not in names:
                names.append(name)
    table = Table(header_style="bold", padding=(0, 1))
    table.add_column("parameter", style="#56b6c2", no_wrap=True)
    for name in names:
        table.add_column(name)
    for d in comp.differences:
        table.add_row(d.key, *[_value(d.values.get(n)) for n in names])
    heading = Text(f"The {result.scope_runs} marked runs belong to different groups, so they are "
                   "not ranked against each other. Parameters that differ:", style="bold #e5c07b")
    return RichGroup(heading, Text(""), table, Text(""),
                     Text("Unmark runs until one group is left, or compare them with "
                          "`adlab compare --across-groups`.", style="dim"))


def renderable(result: CompareResult) -> Any:
    if result.mode == "empty":
        return Text(result.message, style="dim")
    if result.mode == "differences":
        return differences_renderable(result)
    return ranking_renderable(result.comparison)
