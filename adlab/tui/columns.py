"""Columns of the runs table: label, width, how a cell renders, which columns go first when the
terminal is narrow (a laptop over SSH keeps id, status, name and progress)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.text import Text

from adlab.db.tui_queries import RunRow
from adlab.tui import fmt
from adlab.tui.runs_model import RowContext, is_stale_run, row_eta

CellRenderer = Callable[[RunRow, RowContext, int], Text]


@dataclass(frozen=True)
class Column:
    key: str  # also the sort key (see runs_model.SORT_KEYS)
    label: str
    width: int  # for the flexible column: its minimum
    render: CellRenderer
    drop_order: int = 0  # 0 = never dropped; higher numbers go first when space runs out
    justify: str = "left"
    flex: bool = False


def _id(r: RunRow, _ctx: RowContext, _w: int) -> Text:
    return Text(str(r.id), style="dim")


def _status(r: RunRow, ctx: RowContext, _w: int) -> Text:
    if is_stale_run(r, ctx):
        return fmt.stale_text()
    return fmt.status_text(r.status, cancelling=r.cancel_requested)


def _name(r: RunRow, _ctx: RowContext, width: int) -> Text:
    """The name cut in the middle when narrow; the error or progress message after it only
    in the room left."""
    name = fmt.middle_truncate(r.name, width)
    text = Text(name)
    extra = ""
    if r.status == "failed" and r.error:
        extra, style = r.error, "#e06c75 dim"
    elif r.status == "running" and r.progress_message:
        extra, style = r.progress_message, "dim"
    if extra and width - len(name) > 4:
        text.append(f"  {extra}", style=style)
    return text


def _pipeline(r: RunRow, _ctx: RowContext, _w: int) -> Text:
    return Text(r.pipeline)


def _group(r: RunRow, _ctx: RowContext, _w: int) -> Text:
    return Text(r.group_hash[:8], style="#56b6c2")


def _progress(r: RunRow, _ctx: RowContext, width: int) -> Text:
    return fmt.progress_bar(r.progress_done, r.progress_total, width)


def _elapsed(r: RunRow, ctx: RowContext, _w: int) -> Text:
    return Text(fmt.duration(fmt.elapsed_seconds(r.status, r.started_at, r.finished_at, ctx.now)))


def _eta(r: RunRow, ctx: RowContext, _w: int) -> Text:
    eta = row_eta(r, ctx)
    if eta is not None:
        return Text(fmt.duration(eta), style="#e5c07b")
    if r.status == "running" and r.progress_total and not is_stale_run(r, ctx):
        return Text("…", style="dim")  # rate not measured yet, or an uncounted phase
    return Text("")


def _metric(r: RunRow, _ctx: RowContext, _w: int) -> Text:
    """The value first (it is what survives truncation), then the metric's name."""
    if r.headline_value is None:
        return Text("")
    text = Text(fmt.metric_value(r.headline_value), style="bold")
    if r.headline_metric:
        text.append(f" {r.headline_metric}", style="dim")
    return text


def _worker(r: RunRow, _ctx: RowContext, _w: int) -> Text:
    if not r.worker:
        return Text("")
    return Text(f"{r.worker}·{r.device}" if r.device else r.worker, style="dim")


RUN_COLUMNS: tuple[Column, ...] = (
    Column("id", "#", 5, _id, justify="right"),
    Column("status", "Status", 11, _status),
    Column("name", "Name", 16, _name, flex=True),
    Column("pipeline", "Pipeline", 8, _pipeline, drop_order=5),
    Column("group", "Group", 8, _group, drop_order=6),
    Column("progress", "Progress", 14, _progress, drop_order=1),
    Column("elapsed", "Elapsed", 7, _elapsed, drop_order=4, justify="right"),
    Column("eta", "ETA", 7, _eta, drop_order=2, justify="right"),
    Column("metric", "Metric", 16, _metric, drop_order=3),
    Column("worker", "Worker", 12, _worker, drop_order=7),
)
COLUMN_BY_KEY = {c.key: c for c in RUN_COLUMNS}


def fit_columns(columns: tuple[Column, ...], width: int, *, gap: int = 1,
                lead: int = 2) -> list[tuple[Column, int]]:
    """Columns that fit in ``width`` cells with their widths; the flexible column takes the
    rest. ``lead`` cells on the left hold the selection mark."""
    shown = list(columns)

    def fixed(cols: list[Column]) -> int:
        return sum(c.width for c in cols if not c.flex) + gap * (len(cols) - 1) + lead

    flex = next((c for c in shown if c.flex), None)
    min_flex = flex.width if flex else 0
    for victim in sorted((c for c in columns if c.drop_order), key=lambda c: -c.drop_order):
        if fixed(shown) + min_flex <= width:
            break
        shown.remove(victim)
    rest = max(min_flex, width - fixed(shown))
    return [(c, rest if c.flex else c.width) for c in shown]
