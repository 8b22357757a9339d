"""``adlab compare``: rank runs inside their groups (or a pipeline's flat table, ``--flat``).

Without ``--group`` the group stored on each run is used (the study's ``group_keys``, else every
parameter except seeds and names, always inside the evaluation partition). ``--group lr,dia``
regroups by those keys inside each stored partition, in SQL. Named runs (ids or names) from
different groups are refused with exit 1 unless ``--across-groups``.
"""
from __future__ import annotations

from typing import Any, List, Optional

import typer

from adlab.cli._common import JsonOption, db_url, emit_json, info, out_console


def split_keys(values: List[str] | None) -> list[str]:
    """``--group a,b --group c`` -> [a, b, c]."""
    return [k.strip() for v in values or [] for k in v.split(",") if k.strip()]


def build_filter(*, study: str | None, pipeline: str | None, status: List[str] | None,
                 name: str | None, where: List[str] | None, run_ids: list[int] | None = None,
                 default_status: tuple[str, ...] = ("succeeded",)) -> Any:
    """The RunFilter shared by compare, report and export options."""
    from adlab.db.run_filter import RunFilter

    statuses = tuple(s.strip() for v in status for s in v.split(",") if s.strip()) \
        if status else default_status
    if statuses == ("all",):
        statuses = ()
    _check_statuses(statuses)
    pairs: tuple = ()
    if where:  # the YAML parser for values is imported only when needed
        from adlab.config.overrides import parse_set_option

        pairs = tuple(parse_set_option(w, "--where", "data.dataset=visa") for w in where)
    return RunFilter(study=study, pipeline=pipeline, statuses=statuses, name_like=name,
                     run_ids=tuple(run_ids) if run_ids else None, where=pairs)


def _check_statuses(statuses: tuple[str, ...]) -> None:
    """Refuse a status that no run can have (a typo would silently select nothing)."""
    from adlab.db.models import RunStatus
    from adlab.errors import AdlabError

    known = [s.value for s in RunStatus]
    for s in statuses:
        if s not in known:
            raise AdlabError(f"--status {s!r} is not a run status; use {', '.join(known)} "
                             "(comma-separated), or all")


StudyOption = typer.Option(None, "--study", help="Only runs of this study.")
PipelineOption = typer.Option(None, "--pipeline", help="Only runs of this pipeline.")
StatusOption = typer.Option(None, "--status", help="Run status to include (repeatable; default succeeded; `all`).")
NameOption = typer.Option(None, "--name", help="Only runs whose name contains this text.")
WhereOption = typer.Option(None, "--where", help="Parameter filter by meaning, e.g. --where data.dataset=visa (repeatable).")


def _engine():  # noqa: ANN202
    from adlab.db.engine import get_engine

    return get_engine(db_url())


def compare_command(
    runs: Optional[List[str]] = typer.Argument(None, help="Run ids or names to compare (default: all selected runs)."),
    group: Optional[List[str]] = typer.Option(None, "--group", help="Regroup by these keys (comma-separated), inside each evaluation partition."),
    metric: Optional[List[str]] = typer.Option(None, "--metric", "-m", help="Metric to rank by (repeatable; the first ranks). Default: the runs' headline metric."),
    sort: Optional[str] = typer.Option(None, "--sort", help="rank (default), name, or a metric to rank by; with --flat: a column of the pipeline's flat table."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="Run (id or name) the deltas are taken against, in percentage points."),
    across_groups: bool = typer.Option(False, "--across-groups", help="Allow named runs of different groups; the differing parameters are printed."),
    scope: str = typer.Option("", "--scope", help="Metric scope (e.g. a category); default the run-level value."),
    lower: Optional[List[str]] = typer.Option(None, "--lower-is-better", help="Metric where lower is better (repeatable; loss/error/latency... already are)."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="List at most N runs per group (statistics use all)."),
    flat: bool = typer.Option(False, "--flat", help="A pipeline's own flat table, one row per run (--pipeline picks it when several have one)."),
    pivot: Optional[str] = typer.Option(None, "--pivot", help="category: the benchmark table per dataset and metric (rows = categories, columns = variants, mean ± std over seeds) and the ranking of variants by their category mean."),
    study: Optional[str] = StudyOption,
    pipeline: Optional[str] = PipelineOption,
    status: Optional[List[str]] = StatusOption,
    name: Optional[str] = NameOption,
    where: Optional[List[str]] = WhereOption,
    as_json: bool = JsonOption,
) -> None:
    """Rank runs by a metric inside each group: best run, deltas, mean ± std over seeds."""
    from adlab.analysis.compare import compare
    from adlab.db.compare_queries import run_lookup

    engine = _engine()
    if flat:
        from adlab.analysis.views import flat_table

        filters = build_filter(study=study, pipeline=pipeline, status=status, name=name,
                               where=where)
        table = flat_table(engine, filters=filters, sort=sort)
        if as_json:
            emit_json(table.data)
        else:
            for line in table.lines:
                out_console.print(line, markup=False)
        return
    run_ids = run_lookup(engine, refs=runs) if runs else None
    if pivot is not None:
        _pivot(engine, pivot, metric=metric, run_ids=run_ids, lower=lower or (), as_json=as_json,
               filters=build_filter(study=study, pipeline=pipeline, status=status, name=name,
                                    where=where, run_ids=run_ids))
        return
    base_id = run_lookup(engine, refs=[baseline])[0] if baseline else None
    filters = build_filter(study=study, pipeline=pipeline, status=status, name=name, where=where)
    result = compare(engine, metrics=metric or None, group_keys=split_keys(group) or None,
                     run_ids=run_ids, filters=filters, baseline=base_id,
                     across_groups=across_groups, sort=sort, scope=scope,
                     lower_is_better=lower or (), top=top)
    if as_json:
        emit_json(result.to_json())
        return
    print_comparison(result)


def _pivot(engine: Any, kind: str, *, metric: List[str] | None, run_ids: list[int] | None,
           lower: Any, as_json: bool, filters: Any) -> None:
    from adlab.analysis.pivot import pivot_category, pivots_json

    if kind != "category":
        raise typer.BadParameter(f"--pivot {kind!r} is not a pivot; use --pivot category",
                                 param_hint="--pivot")
    pivots = pivot_category(engine, metrics=metric or None, filters=filters,
                            lower_is_better=lower)
    if as_json:
        emit_json(pivots_json(pivots))
        return
    if not pivots:
        info("no per-category values match (check --status, --study and --metric)")
        return
    print_pivots(pivots)


def print_pivots(pivots: Any) -> None:
    """Each pivot as a table (best cell per row bold), its legend, then the rankings."""
    from rich.table import Table

    from adlab.analysis.compare import format_value
    from adlab.analysis.pivot import cell_text, mean_text, number_text, rankings

    for p in pivots:
        direction = {True: "higher is better", False: "lower is better", None: "not ranked"}[
            p.higher_is_better(0)]
        out_console.print(f"{p.dataset} — {p.metric} per category, mean ± std over seeds (n runs); "
                          f"{direction}", markup=False)
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("category")
        for c in p.columns:
            table.add_column(c.label, justify="right")
        for row in p.rows:
            best = p.best_in_row(row)
            table.add_row(row.category, *[
                f"[bold]{cell_text(x, p.fraction)}[/bold]" if i in best else cell_text(x, p.fraction)
                for i, x in enumerate(row.cells)])
        best = p.best_mean()
        table.add_row("Mean", *[
            f"[bold]{mean_text(m, len(p.rows), p.fraction)}[/bold]" if i in best
            else mean_text(m, len(p.rows), p.fraction) for i, m in enumerate(p.mean)])
        out_console.print(table)
        common, differing = p.legend()
        for c, params in zip(p.columns, differing):
            text = ", ".join(f"{k}={format_value(v)}" for k, v in params.items())
            out_console.print(f"  {c.label}: {text or '(the only column)'}", markup=False)
        if common:
            text = ", ".join(f"{k}={format_value(v)}" for k, v in list(common.items())[:6])
            more = f" and {len(common) - 6} more (--json lists them)" if len(common) > 6 else ""
            out_console.print(f"  every column: {text}{more}", markup=False)
    for r in rankings(pivots):
        cats = ", ".join(r.categories)
        if len(r.entries) < 2:
            out_console.print(f"not ranked: {r.entries[0].label} on {r.dataset} is the only "
                              f"variant covering exactly {cats}", markup=False)
            continue
        out_console.print(f"ranking {r.dataset} — {r.metric} mean over {len(r.categories)} "
                          f"categories ({cats}); "
                          f"{'higher' if r.higher_is_better else 'lower'} is better:", markup=False)
        for e in r.entries:
            spread = f" ± {number_text(e.std, r.fraction)} over seeds" if e.std is not None else ""
            out_console.print(f"  {'-' if e.rank is None else e.rank}. {e.label} "
                              f"{number_text(e.mean, r.fraction)}{spread}", markup=False)


def _num(v: float | None, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _signed(v: float | None) -> str:
    return "-" if v is None else f"{v:+.2f}"


def print_comparison(result: Any) -> None:
    from rich.table import Table

    from adlab.analysis.compare import format_value

    if not result.groups:
        info("no runs match (check --status, --study, --metric and --scope)")
        return
    for d in result.differences:
        vals = ", ".join(f"{n}={format_value(v)}" for n, v in d.values.items())
        out_console.print(f"differs across groups: {d.key}: {vals}", markup=False)
    for g in result.groups:
        part = " ".join(f"{k}={format_value(v)}" for k, v in g.partition.items())
        keys = " ".join(f"{k}={format_value(v)}" for k, v in g.keys.items())
        head = (f"{g.label} [{part}]" + (f" {keys}" if keys else "") + f" — {g.n_runs} run(s); "
                + variant_summary(g, result.metric))
        if g.best:
            head += f"; best {g.best.name} (#{g.best.id}) {_num(g.best.value)}"
        out_console.print(head, markup=False)
        table = Table(show_edge=False, pad_edge=False)
        for col in ("rank", "id", "name"):
            table.add_column(col, justify="right" if col != "name" else "left")
        for m in result.metrics:
            table.add_column(m, justify="right")
        if g.baseline is not None:
            for m in result.metrics:
                table.add_column(f"Δ{m} (pp)", justify="right")
        for k in g.differing:
            table.add_column(k)
        multi = any(v.n > 1 for v in g.variants)
        if multi:
            table.add_column(f"{result.metric} over seeds", justify="right")
        for r in g.runs:
            cells = ["-" if r.rank is None else str(r.rank), str(r.id),
                     r.name + (" (baseline)" if r.is_baseline else "")]
            cells += [_num(r.values.get(m)) for m in result.metrics]
            if g.baseline is not None:
                cells += [_signed(r.delta_pp.get(m)) for m in result.metrics]
            cells += [format_value(r.params.get(k)) for k in g.differing]
            if multi:
                v = g.variants[r.variant]
                cells.append(f"{_num(v.mean)} ± {_num(v.std)} (n={v.n})" if v.n > 1 else "")
            table.add_row(*cells)
        out_console.print(table)
        if len(g.runs) < g.n_runs:
            out_console.print(f"  ... {g.n_runs - len(g.runs)} more run(s) (--top)", markup=False)
    info(f"{result.n_runs} run(s) in {len(result.groups)} group(s); ranked by {result.metric}"
         f" ({'higher' if result.higher_is_better[result.metric] else 'lower'} is better)")


def variant_summary(g: Any, metric: str) -> str:
    """What a group line may say about its values: the mean over seeds when the group is one
    variant, else how many variants it holds (their means are in the table)."""
    v = g.single_variant()
    if v is not None:
        spread = f" ± {_num(v.std)}" if v.std is not None else ""
        return f"{metric} {_num(v.mean)}{spread} over seeds (n={v.n})"
    return f"{len(g.variants)} variants" + ("" if g.complete else " among the listed runs")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
