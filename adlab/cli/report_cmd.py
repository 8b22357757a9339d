"""``adlab report [filters] -o exports/NAME.md``: the computed markdown (or LaTeX) report."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from adlab.cli._common import JsonOption, db_url, emit_json, info
from adlab.cli.compare_cmd import (NameOption, PipelineOption, StatusOption, StudyOption,
                                   WhereOption, build_filter, split_keys)


def report_command(
    out: Path = typer.Option(..., "--output", "-o", help="Report file, e.g. exports/study.md (figures go to <stem>_figures/)."),
    fmt: str = typer.Option("markdown", "--format", help="markdown, or latex (also writes <stem>.tex with booktabs tables)."),
    metric: Optional[List[str]] = typer.Option(None, "--metric", "-m", help="Metrics (repeatable; the first ranks). Default: the headline metric."),
    group: Optional[List[str]] = typer.Option(None, "--group", help="Regroup by these keys (comma-separated)."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="Baseline run (id or name) of its group; others: a run named *baseline*."),
    scope: str = typer.Option("", "--scope", help="Metric scope; default the run-level value."),
    lower: Optional[List[str]] = typer.Option(None, "--lower-is-better", help="Metric where lower is better (repeatable)."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="List at most N runs per ranking table."),
    title: Optional[str] = typer.Option(None, "--title", help="Report title."),
    study: Optional[str] = StudyOption,
    pipeline: Optional[str] = PipelineOption,
    status: Optional[List[str]] = StatusOption,
    name: Optional[str] = NameOption,
    where: Optional[List[str]] = WhereOption,
    as_json: bool = JsonOption,
) -> None:
    """Write the grouped results report (tables computed from the database, figures as PNG)."""
    from adlab.analysis.report import render_report
    from adlab.db.compare_queries import run_lookup
    from adlab.db.engine import get_engine

    engine = get_engine(db_url())
    base_id = run_lookup(engine, refs=[baseline])[0] if baseline else None
    path = render_report(engine, out=out, fmt=fmt,  # type: ignore[arg-type]
                         filters=build_filter(study=study, pipeline=pipeline, status=status,
                                              name=name, where=where),
                         metrics=metric or None, group_keys=split_keys(group) or None,
                         baseline=base_id, scope=scope, title=title, top=top,
                         lower_is_better=lower or ())
    figures_dir = path.parent / f"{path.stem}_figures"
    figures = sorted(str(p) for p in figures_dir.glob("*.png")) if figures_dir.is_dir() else []
    if as_json:
        emit_json({"report": str(path), "markdown": str(path.with_suffix(".md")),
                   "figures": figures})
    else:
        info(f"wrote {path}" + (f" and {len(figures)} figure(s) in {figures_dir}" if figures else ""))


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
