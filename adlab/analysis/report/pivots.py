"""The report's per-category tables and the ranking of variants: the same pivots as
``adlab compare --pivot category`` (:mod:`adlab.analysis.pivot`), written as tables."""
from __future__ import annotations

from typing import Sequence

from adlab.analysis.compare import format_value
from adlab.analysis.pivot import Pivot, Ranking, cell_text, mean_text, number_text
from adlab.analysis.report.document import Document
from adlab.analysis.report.tables import Cell, Table

INTRO = ("Rows are categories, columns are variants (a run's configuration without its seed and "
         "its data); a cell is the mean ± std over the variant's runs in that category (n runs). "
         "The Mean row averages a variant's categories and is given only for variants with a "
         "value in every category of the table. The best cell of each row is bold, by the "
         "metric's declared direction.")


def _direction(p: Pivot) -> str:
    return {True: "higher is better", False: "lower is better", None: "not ranked"}[
        p.higher_is_better(0)]


def pivot_table(p: Pivot) -> Table:
    t = Table(["Category", *[c.label for c in p.columns]], align=["l", *["c"] * len(p.columns)],
              caption=f"{p.dataset}: {p.metric} per category, mean ± std over seeds "
                      f"({_direction(p)})")
    for row in p.rows:
        best = p.best_in_row(row)
        t.rows.append([Cell(row.category), *[Cell(cell_text(x, p.fraction), bold=i in best)
                                             for i, x in enumerate(row.cells)]])
    best = p.best_mean()
    t.rows.append([Cell("Mean", bold=True),
                   *[Cell(mean_text(m, len(p.rows), p.fraction), bold=i in best)
                     for i, m in enumerate(p.mean)]])
    return t


def _legend(doc: Document, p: Pivot) -> None:
    common, differing = p.legend()
    items = [f"**{c.label}**: " + (", ".join(f"`{k}={format_value(v)}`" for k, v in params.items())
                                   or "the only column")
             for c, params in zip(p.columns, differing)]
    doc.bullets(items)
    if common:
        doc.p("Every column: " + ", ".join(f"`{k}={format_value(v)}`" for k, v in common.items()))


def category_pivots(doc: Document, pivots: Sequence[Pivot]) -> None:
    if not pivots:
        return
    doc.h(1, "Per-category results")
    doc.p(INTRO)
    for p in pivots:
        doc.h(2, f"{p.dataset} — {p.metric}")
        doc.table(pivot_table(p))
        _legend(doc, p)


def variant_rankings(doc: Document, rankings: Sequence[Ranking]) -> None:
    """Variants of one dataset partition ranked by their mean over the categories they all
    cover; a variant covering other categories is ranked only against its own kind."""
    if not rankings:
        return
    doc.h(1, "Ranking of variants")
    doc.p("Variants are ranked by their mean over categories, only against variants of the same "
          "dataset, protocol and category set; ± is the std over seeds of the per-seed means.")
    for r in rankings:
        cats = ", ".join(r.categories)
        doc.h(2, f"{r.dataset} — {r.metric} over {len(r.categories)} categories")
        t = Table(["Rank", "Variant", f"Mean {r.metric}"], align=["c", "l", "c"],
                  caption=f"{r.dataset} ({cats}): {r.metric}, "
                          f"{'higher' if r.higher_is_better else 'lower'} is better")
        for e in r.entries:
            spread = f" ± {number_text(e.std, r.fraction)}" if e.std is not None else ""
            t.rows.append([Cell("-" if e.rank is None else str(e.rank)), Cell(e.label),
                           Cell(number_text(e.mean, r.fraction) + spread,
                                bold=e.rank == 1 and len(r.entries) > 1)])
        doc.table(t)
        if len(r.entries) == 1:
            doc.p(f"{r.entries[0].label} is the only variant covering exactly these categories.")
