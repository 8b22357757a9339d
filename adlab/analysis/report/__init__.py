"""``render_report``: the paper-ready markdown (and LaTeX) report, computed from the database.

Sections (as in the MoLE-Flow analysis the seed shows, all computed): overview, group
definitions, per group the ranking (best value bold), effect and ablation tables against the
group's baseline, cross-group caution, best per group, per-dataset summary, per-category
tables (categories x variants, mean ± std over seeds) and the ranking of variants, the
pipelines' own sections (their specs' ``report_sections``: MMAD accuracy per dataset x
question type), figures (PNG beside the report).

Baseline per group: ``baseline=RUN`` for the group holding that run; otherwise the run whose
name contains ``baseline`` (else ``full_model``, else ``full``), lowest id first.
Reproducible: the same database gives the same bytes (sorted orders, fixed number formats,
no clock reads, PNGs without timestamps).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Sequence

from sqlalchemy.engine import Engine

from adlab.analysis.compare import Group, compare
from adlab.analysis.pivot import pivot_category, rankings
from adlab.analysis.report import pivots as P
from adlab.analysis.report import sections as S
from adlab.analysis.report.document import Document, to_latex_text, to_markdown_text
from adlab.db import compare_queries as cq
from adlab.db.compare_queries import RunFilter
from adlab.errors import AdlabError

__all__ = ["render_report", "build_document", "RunFilter"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


class _Figures:
    """Draws figures into ``<report stem>_figures/`` and returns their paths relative to the
    report; does nothing when figures are off."""

    def __init__(self, out: Path | None, data: "S.ReportData") -> None:
        self.dir = out.parent / f"{out.stem}_figures" if out is not None else None
        self.rel = f"{out.stem}_figures" if out is not None else ""
        self.data = data
        self.written: list[Path] = []

    def __call__(self, kind: str, *args: Any) -> str | None:
        if self.dir is None:
            return None
        from adlab.analysis import figures

        c = self.data.comparison
        if kind == "bars":
            g, runs = args
            g: Group
            if len(runs) < 1:
                return None
            name = f"{_slug(g.label)}_{_slug(c.metric)}.png"
            best = next((i for i, r in enumerate(runs) if g.best and r.id == g.best.id), None)
            figures.bar_chart(self.dir / name, labels=[r.name for r in runs],
                              values=[r.values.get(c.metric) for r in runs],
                              title=f"{g.label}: {c.metric}", ylabel=c.metric, highlight=best,
                              digits=4 if c.metric in c.fraction_metrics else 2)
        else:
            curve_kind, curves = args
            name = f"{curve_kind}_curves.png"
            figures.curve_chart(self.dir / name, curves=curves, kind=curve_kind,
                                title=f"{curve_kind.upper()} (best run per group)")
        self.written.append(self.dir / name)
        return f"{self.rel}/{name}"


def build_document(engine: Engine, *, filters: RunFilter | None = None,
                   metrics: Sequence[str] | None = None, group_keys: Sequence[str] | None = None,
                   baseline: int | None = None, scope: str = "", title: str | None = None,
                   top: int | None = None, out: Path | None = None,
                   lower_is_better: Sequence[str] = ()) -> tuple[Document, list[Path]]:
    """The report as a document (and the figures drawn when ``out`` is given)."""
    filters = filters or RunFilter()
    comparison = compare(engine, metrics=metrics, group_keys=group_keys, filters=filters,
                         baseline=baseline, auto_baseline=True, scope=scope,
                         lower_is_better=lower_is_better)
    if not comparison.groups:
        raise AdlabError("no runs match the report's filters (status, study, metric); "
                         "check them with `adlab compare`")
    run_group = {r.id: g for g in comparison.groups for r in g.runs}
    wanted = list(dict.fromkeys(comparison.metrics))
    run_values = cq.metric_values(engine, run_ids=list(run_group), metrics=wanted, scope=scope)
    data = S.ReportData(engine=engine, comparison=comparison, filters=filters,
                        group_params=S.group_best_params(engine, comparison.groups),
                        run_values=run_values, run_group=run_group, figures_dir=None,
                        figures_rel="", top=top,
                        scoped=cq.scoped_metrics(engine, run_ids=list(run_group)))
    figure = _Figures(out, data)
    doc = Document(title or _default_title(filters, comparison))
    S.overview(doc, data)
    S.group_definitions(doc, data)
    S.group_rankings(doc, data, figure)
    S.cross_group_caution(doc, data)
    S.best_per_group(doc, data)
    S.dataset_summary(doc, data)
    pivots = pivot_category(engine, metrics=comparison.metrics, filters=filters,
                            lower_is_better=lower_is_better)
    P.category_pivots(doc, pivots)
    P.variant_rankings(doc, rankings(pivots))
    S.pipeline_sections(doc, data)
    S.curve_figures(doc, data, figure)
    S.run_figures(doc, data, figure)
    doc.p("*Generated by `adlab report` from the lab database; every number above is computed "
          "from stored runs. Compare runs only inside one group.*")
    return doc, figure.written


def _default_title(filters: RunFilter, comparison: Any) -> str:
    what = filters.study or filters.pipeline or "adlab"
    return f"{what} results: {comparison.metric}"


def render_report(engine: Engine, *, out: Path, fmt: Literal["markdown", "latex"] = "markdown",
                  filters: RunFilter | None = None, metrics: Sequence[str] | None = None,
                  group_keys: Sequence[str] | None = None, baseline: int | None = None,
                  scope: str = "", title: str | None = None, top: int | None = None,
                  lower_is_better: Sequence[str] = ()) -> Path:
    """Write the report to ``out`` (markdown; with ``fmt="latex"`` also ``out`` with suffix
    ``.tex``, booktabs tables) and its figures to ``<stem>_figures/``. Returns the main file."""
    if fmt not in ("markdown", "latex"):
        raise AdlabError(f"unknown report format {fmt!r}; use markdown or latex")
    out = Path(out)
    md_path = out if out.suffix.lower() in (".md", ".markdown") else out.with_suffix(".md")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    doc, written = build_document(engine, filters=filters, metrics=metrics, group_keys=group_keys,
                            baseline=baseline, scope=scope, title=title, top=top, out=md_path,
                            lower_is_better=lower_is_better)
    md_path.write_text(to_markdown_text(doc), encoding="utf-8")
    figures_dir = md_path.parent / f"{md_path.stem}_figures"
    for stale in sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []:
        if stale not in written:  # left from an earlier report of another database state
            stale.unlink()
    if fmt == "latex":
        tex = md_path.with_suffix(".tex")
        tex.write_text(to_latex_text(doc), encoding="utf-8")
        return tex
    return md_path
