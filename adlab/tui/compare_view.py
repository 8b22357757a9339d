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

from rich.text import Text
from sqlalchemy.engine import Engine

from adlab.tui import fmt

BEST_STYLE = "bold #98c379"
TOP_PER_GROUP = 50  # runs listed per group; statistics and ranks still use every run
# The first screen lists this many per group (the best runs and every statistic, from a much
# cheaper read); the full listing replaces it when read.
PREVIEW_TOP = 3


@dataclass
class Section:
    """One comparison: a ranking, or (marked runs of several groups) their differences."""

    mode: str  # "ranking" | "differences"
    comparison: Any
    message: str = ""
    metric: str = ""
    n_in_scope: int = 0  # runs handed to compare() for this section
    # groups known to hold one variant (runs that differ in seed-like keys only): only their
    # heading may print a group mean; any other group mean would mix variants (issue 16)
    one_variant: set[str] = field(default_factory=set)


@dataclass
class CompareResult:
    mode: str  # "ranking" | "differences" | "empty": that of the first section
    sections: list[Section] = field(default_factory=list)
    message: str = ""
    metric_keys: list[str] = field(default_factory=list)
    scope_runs: int = 0
    notes: list[str] = field(default_factory=list)  # runs in scope that are not ranked, and why
    metrics_listed: bool = True  # False: metric_keys were not read (a preview)

    @property
    def comparison(self) -> Any:
        return self.sections[0].comparison if self.sections else None


def warm_up(engine: Engine, scope: Mapping[str, Any] | None = None) -> None:
    """Import what a first comparison needs: the comparison code and the specs of the lab's
    pipelines (their metric directions and partition keys; pydantic models, ~0.1 s on a cold
    interpreter). Run in a thread while the monitor is idle, so the first `c` does not pay for
    it. With ``scope`` (:func:`load_comparison`'s arguments for the runs in view), the first
    screen of that comparison is also read once and thrown away: SQLAlchemy compiles each
    statement shape once per process (~40 ms of Python for the first comparison of 10,000
    runs, on the UI's interpreter lock); the comparison the screen shows is read again."""
    from adlab.analysis.compare import RunFilter, _selected_pipelines
    from adlab.errors import AdlabError
    from adlab.pipelines.declared import declared_metrics, spec_keys

    for pipeline in _selected_pipelines(engine, RunFilter(statuses=())):  # marked: any status
        declared_metrics(pipeline)
        spec_keys(pipeline)
    if scope is not None:
        try:
            result_lines(load_comparison(engine, top=PREVIEW_TOP, list_metrics=False,
                                         metric=None, group_keys=None, **scope), preview=True)
        except AdlabError:
            pass  # the screen reports it when opened


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
             group_keys: list[str] | None, whole_lab: bool = False,
             top: int = TOP_PER_GROUP) -> Section:
    from adlab.analysis.compare import GroupMismatch, RunFilter, compare

    if marked:
        try:
            comp = compare(engine, metrics=[metric], run_ids=ids, group_keys=group_keys)
        except GroupMismatch as exc:
            comp = compare(engine, metrics=[metric], run_ids=ids, group_keys=group_keys,
                           across_groups=True)
            return Section("differences", comp, str(exc), metric, len(ids))
        return Section("ranking", comp, "", metric, len(ids),
                       one_variant_groups(engine, comp, RunFilter(run_ids=tuple(ids)), group_keys))
    # the whole lab in view: no id list, so compare() can rank from the headline indexes
    scope = RunFilter(statuses=("succeeded",)) if whole_lab else RunFilter(
        run_ids=tuple(ids), statuses=("succeeded",))
    comp = compare(engine, metrics=[metric], filters=scope, group_keys=group_keys, top=top)
    return Section("ranking", comp, "", metric, len(ids),
                   one_variant_groups(engine, comp, scope, group_keys))


def one_variant_groups(engine: Engine, comp: Any, filters: Any,
                       group_keys: list[str] | None) -> set[str]:
    """Ids of the groups that hold a single variant. A fully listed group says so itself; for
    a group whose listing was cut, the parameters that differ over all its runs (one aggregate
    statement) are read with the variant rule of :func:`adlab.core.grouping.is_variant_key`."""
    out = {g.id for g in comp.groups if g.complete and len(g.variants) == 1}
    cut = [g for g in comp.groups if not g.complete]
    if cut:
        from adlab.core.grouping import is_variant_key
        from adlab.db.compare_queries import differing_keys

        diff = differing_keys(engine, metric=comp.metric, scope=comp.scope, filters=filters,
                              group_keys=group_keys, sizes={g.id: g.n_runs for g in comp.groups})
        out |= {g.id for g in cut if not any(is_variant_key(k) for k in diff.get(g.id, []))}
    return out


def load_comparison(engine: Engine, *, marked: Sequence[int], in_view: Sequence[int],
                    metric: str | None, group_keys: Sequence[str] | None,
                    headlines: Mapping[int, str | None] | None = None,
                    statuses: Mapping[int, str] | None = None,
                    whole_lab: bool = False, top: int = TOP_PER_GROUP,
                    list_metrics: bool = True) -> CompareResult:
    """Marked runs are compared as named runs (refused across groups: then the differing
    parameters are shown instead); otherwise every succeeded run in view is ranked inside its
    group. ``headlines``/``statuses`` (from the runs table) split the scope per headline metric
    and count what cannot be ranked; without them the headline is read from the database.
    ``whole_lab``: the view is every run (no filter), so no id list is sent. ``top``: runs
    listed per group (statistics always cover every run). ``list_metrics``: read the metric
    keys of the scope (the metric choices); a preview leaves them to the full read."""
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
    scope_filter = RunFilter(statuses=("succeeded",)) if whole_lab and not marked else \
        RunFilter(run_ids=tuple(ids), statuses=() if marked else ("succeeded",))
    keys = [k for k, _n in metric_keys(engine, filters=scope_filter)] if list_metrics else []
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
                section = _section_headline(engine, bucket, marked=bool(marked), group_keys=gk,
                                            top=top)
            else:
                section = _section(engine, bucket, marked=bool(marked), metric=name,
                                   group_keys=gk, whole_lab=whole_lab and not marked, top=top)
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
    return CompareResult(mode, sections, message, keys, len(list(marked) or list(in_view)), notes,
                         metrics_listed=list_metrics)


def ranked_runs(comp: Any) -> int:
    """Runs the comparison covers: every run of every group, listed or not (``n_runs`` of a
    comparison counts the listed rows only when the listing is cut)."""
    return sum(g.n_runs for g in comp.groups)


def _section_headline(engine: Engine, ids: list[int], *, marked: bool,
                      group_keys: list[str] | None, top: int = TOP_PER_GROUP) -> Section:
    from adlab.analysis.compare import RunFilter
    from adlab.db.compare_queries import headline_metric

    metric = headline_metric(engine, filters=RunFilter(run_ids=tuple(ids),
                                                       statuses=() if marked else ("succeeded",)))
    if metric is None:
        from adlab.errors import AdlabError

        raise AdlabError("no headline metric recorded; pick a metric to rank by")
    return _section(engine, ids, marked=marked, metric=metric, group_keys=group_keys, top=top)


def _value(v: Any) -> str:
    from adlab.analysis.compare import format_value

    return format_value(v)


def stats_text(st: Any) -> str:
    """``mean 0.8997 ± 0.0567 (n=60)``: the numbers ``adlab compare`` prints for a group."""
    if st is None or st.mean is None:
        return "no values (n=0)"
    spread = f" ± {st.std:.4f}" if st.std is not None else ""
    return f"mean {st.mean:.4f}{spread} (n={st.n})"


Cell = tuple[str, str]  # (text, justify)


def table_lines(headers: list[tuple[str, str]], rows: list[list[str]],
                styles: list[str | None], *, indent: int = 1, column_styles: list[str] | None = None
                ) -> list[Text]:
    """A plain aligned table, one Text per line: cheap to build for thousands of rows (Rich's
    Table measured 2 ms a line here) and rendered only when scrolled into view."""
    widths = [len(h) for h, _ in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fit(cell: str, i: int) -> str:
        return cell.rjust(widths[i]) if headers[i][1] == "right" else cell.ljust(widths[i])

    head = Text(" " * indent + " ".join(fit(h, i) for i, (h, _) in enumerate(headers)).rstrip(),
                style="bold")
    out = [head]
    for row, style in zip(rows, styles):
        line = Text(" " * indent, style=style or "")
        for i, cell in enumerate(row):
            if i:
                line.append(" ")
            col_style = column_styles[i] if column_styles and not style else ""
            line.append(fit(cell, i), style=col_style or "")
        line.rstrip()
        out.append(line)
    return out


def _group_heading(g: Any, comp: Any, one_variant: bool) -> list[Text]:
    """What defines the group (whole, never cut: `lr=0.0…` told nothing), its size and, when it
    is one variant, its statistics over every run (else how many variants it holds: their
    means are in the variant table; a mean over all of them would mix methods), then its best
    run."""
    part = ", ".join(f"{k}={_value(v)}" for k, v in g.partition.items()
                     if k != "pipeline" and v is not None)
    keys = ", ".join(f"{k}={_value(v)}" for k, v in g.keys.items())
    text = Text.assemble((f" {g.label} ", "bold reverse"), " ", (g.pipeline, "#61afef"))
    if part:
        text.append(f"  {part}", style="#56b6c2")
    if keys:
        text.append(f"  {keys}")
    if one_variant:
        summary = f"{comp.metric} {stats_text(g.stats.get(comp.metric))}"
    elif g.complete and all(v.n <= 1 for v in g.variants):
        summary = f"{len(g.variants)} variants, one run each"
    elif g.complete:
        summary = f"{len(g.variants)} variants: {comp.metric} per variant below"
    else:
        summary = (f"several variants ({len(g.variants)} among the listed runs): mark its runs "
                   f"for their means")
    stats = Text(f"  {g.n_runs} run(s) · {summary}", style="dim")
    best = Text("  no run has a value yet", style="dim")
    if g.best is not None:
        best = Text(f"  ★ best: #{g.best.id} {g.best.name} = {fmt.metric_value(g.best.value)}",
                    style=BEST_STYLE)
        if g.best.tied:
            best.append(f" (tied with {', '.join(f'#{i}' for i in g.best.tied)})")
    return [text, stats, best]


def _group_table(g: Any, comp: Any) -> list[Text]:
    headers: list[tuple[str, str]] = [("rank", "right"), ("run", "left")]
    for m in comp.metrics:
        arrow = "↑" if comp.higher_is_better.get(m, True) else "↓"
        headers.append((f"{m} {arrow}", "right"))
    with_delta = any(r.delta_pp for r in g.runs)
    if with_delta:
        headers.append((f"Δ {comp.metric} (pp)", "right"))
    headers += [(key, "left") for key in g.differing]
    rows, styles = [], []
    for r in g.runs:
        best = g.best is not None and (r.id == g.best.id or r.id in g.best.tied)
        cells = [("★ " if best else "") + (str(r.rank) if r.rank is not None else "–"),
                 f"#{r.id} {r.name}" + (" (baseline)" if r.is_baseline else "")]
        cells += [fmt.metric_value(r.values.get(m)) or "undefined" for m in comp.metrics]
        if with_delta:
            d = r.delta_pp.get(comp.metric)
            cells.append("" if d is None else f"{d:+.2f}")
        cells += [_value(r.params.get(k)) for k in g.differing]
        rows.append(cells)
        styles.append(BEST_STYLE if best else None)
    column_styles = [""] * (len(headers) - len(g.differing)) + ["#56b6c2"] * len(g.differing)
    return table_lines(headers, rows, styles, indent=2, column_styles=column_styles)


def more_line(g: Any) -> Text | None:
    """``… 70 more run(s) not listed`` when the listing was cut (statistics include them)."""
    hidden = g.n_runs - len(g.runs)
    if hidden <= 0:
        return None
    return Text(f"  … {hidden} more run(s) not listed (the best {len(g.runs)} are; statistics "
                "above cover all)", style="dim italic")


def _variants(g: Any) -> list[Text]:
    if not g.complete or not any(v.n > 1 for v in g.variants):
        return []  # variants of a cut listing would describe the listed runs only
    rows = []
    for v in g.variants:
        params = ", ".join(f"{k}={_value(x)}" for k, x in v.params.items()) or "(all)"
        spread = f" ± {v.std:.4f}" if v.std is not None else ""
        rows.append([params, str(v.n), f"{fmt.metric_value(v.mean)}{spread}"])
    return table_lines([("variant", "left"), ("runs", "right"), ("mean ± std", "right")], rows,
                       [None] * len(rows), indent=2)


def ranking_lines(comp: Any, one_variant: set[str] | None = None) -> list[Text]:
    """A ranking section; ``one_variant``: the groups whose heading may print a group mean
    (default: those that say so themselves, see :func:`one_variant_groups`)."""
    if one_variant is None:
        one_variant = {g.id for g in comp.groups if g.single_variant() is not None}
    lines = [Text(
        f"{ranked_runs(comp)} run(s) with {comp.metric}{f' [{comp.scope}]' if comp.scope else ''}"
        f" in {len(comp.groups)} group(s); runs are ranked only inside their group", style="bold")]
    for g in comp.groups:
        lines += [Text(""), *_group_heading(g, comp, g.id in one_variant), *_group_table(g, comp)]
        more = more_line(g)
        if more is not None:
            lines.append(more)
        lines += _variants(g)
    return lines


def differences_lines(section: Section, scope_runs: int) -> list[Text]:
    comp = section.comparison
    names: list[str] = []
    for d in comp.differences:
        for name in d.values:
            if name not in names:
                names.append(name)
    rows = [[d.key, *[_value(d.values.get(n)) for n in names]] for d in comp.differences]
    heading = Text(f"The {section.n_in_scope or scope_runs} marked runs belong to different "
                   "groups, so they are not ranked against each other. Parameters that differ:",
                   style="bold #e5c07b")
    table = table_lines([("parameter", "left"), *[(n, "left") for n in names]], rows,
                        [None] * len(rows), column_styles=["#56b6c2"] + [""] * len(names))
    return [heading, Text(""), *table, Text(""),
            Text("Unmark runs until one group is left, or compare them with "
                 "`adlab compare --across-groups`.", style="dim")]


def result_lines(result: CompareResult, *, preview: bool = False) -> list[Text]:
    """The whole comparison as lines, built off the UI thread and shown by a virtual view.
    ``preview``: the first, shorter listing; a line says the rest is on its way."""
    lines: list[Text] = [Text(f"⚠ {note}", style="#e5c07b") for note in result.notes]
    if preview and result.sections:
        lines.append(Text(f"listing the best {PREVIEW_TOP} of each group; the full listing is "
                          "loading…", style="dim italic"))
    if result.mode == "empty" or not result.sections:
        return lines + [Text(result.message, style="dim")]
    for i, section in enumerate(result.sections):
        if i:
            lines += [Text(""), Text("─" * 40, style="dim"), Text("")]
        if section.mode == "differences":
            lines += differences_lines(section, result.scope_runs)
        else:
            lines += ranking_lines(section.comparison, section.one_variant)
    return lines
