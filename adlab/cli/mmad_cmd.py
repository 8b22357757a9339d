"""``adlab mmad``: MMAD benchmark tools; ``adlab mmad score ANSWERS.json`` scores answers.

The answers file is MMAD's format, a JSON list of
``{image, question, question_type, correct_answer, gpt_answer}``. ``--json`` prints
``{"<dataset>": {"<type>": pct, ..., "Average": pct}, ..., "Average": {...}, "_summary": {...}}``;
``_summary`` holds the answer counts, every unparseable answer, the per-cell counts (``cells``:
correct, total, unparseable, failed) and the overkill and miss rates. ``--protocol adlab``
(default) counts every unanswered question wrong; ``--protocol official`` reproduces MMAD's
``summary.py`` (drops, its skip quirk, 0 % for missing cells). Rules: :mod:`adlab.metrics.mmad`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from adlab.cli._common import JsonOption, emit_json, info, out_console
from adlab.errors import AdlabError, NotFoundError

mmad_app = typer.Typer(help="MMAD benchmark tools (scoring).", no_args_is_help=True,
                       rich_markup_mode=None)


def _read_answers(path: Path) -> list:
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; pass the MMAD answers JSON file.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AdlabError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from exc


def _print_table(table: dict) -> None:
    from rich.table import Table

    from adlab.metrics.mmad import AVERAGE, SUMMARY

    summary = table[SUMMARY]
    columns = list(table[AVERAGE])
    grid = Table(show_edge=False)
    grid.add_column("dataset")
    for column in [*columns, "Overkill", "Miss"]:
        grid.add_column(column, justify="right")
    for dataset, row in table.items():
        if dataset == SUMMARY:
            continue
        cells = [f"{row[c]:.1f}" if c in row else "-" for c in columns]
        for rates in (summary["overkill"], summary["miss"]):
            value = rates.get(dataset, math.nan)
            cells.append("-" if math.isnan(value) else f"{value:.1f}")
        grid.add_row(dataset, *cells)
    out_console.print(grid)
    count = summary["n_unparseable"]
    if summary.get("protocol") == "official":
        out_console.print(f"{summary['n_answers']} answers; {summary['n_scored']} scored, "
                          f"{summary['n_dropped']} dropped (not a letter A-E), "
                          f"{summary['n_skipped']} skipped (summary.py's list-mutation quirk)",
                          markup=False)
    else:
        out_console.print(f"{summary['n_answers']} answers; {count} unparseable (counted wrong)"
                          + (f", {summary['n_failed']} failed (counted wrong)"
                             if summary.get("n_failed") else ""), markup=False)
    for item in summary["unparseable"][:5]:
        out_console.print(f"  #{item['index']} {item['image']}: {item['gpt_answer']!r}",
                          markup=False)
    if count > 5:
        out_console.print(f"  ... and {count - 5} more (see --json)", markup=False)


@mmad_app.command("score")
def score_command(
    answers: Path = typer.Argument(..., help="MMAD answers JSON (list of answer objects)."),
    protocol: str = typer.Option("adlab", "--protocol",
                                 help="adlab: every question counts, unanswered ones wrong; "
                                      "official: MMAD summary.py exactly (drops, quirks)."),
    as_json: bool = JsonOption,
) -> None:
    """Accuracy per dataset and question type with MMAD's rules, plus overkill and miss."""
    from adlab.metrics.mmad import score_answers

    table = score_answers(_read_answers(answers), protocol=protocol)
    summary = table["_summary"]
    unparseable = summary["n_unparseable"]
    if protocol == "official" and unparseable:
        info(f"{unparseable} answer(s) were not a letter A-E and were dropped; "
             f"{summary['n_skipped']} more were skipped by summary.py's quirk.")
    elif unparseable:
        info(f"{unparseable} answer(s) had no choice letter A-E and count as wrong.")
    if as_json:
        emit_json(table)
    else:
        _print_table(table)


def register(app: typer.Typer) -> None:
    app.add_typer(mmad_app, name="mmad")
