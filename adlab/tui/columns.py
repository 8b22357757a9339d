"""Columns of the runs table: label, width, how a cell renders, which columns go first when the
terminal is narrow (a laptop over SSH keeps id, status, name and progress)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.text import Text

from adlab.core.phase import split_phase
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
    comfort: int = 0  # flexible column: optional columns go before it gets less than this
    grow: int = 0  # cells this column takes from a roomy flexible column (wide terminals)


ESSENTIAL = 2  # drop orders up to this (progress, ETA) go only when the name would not fit


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
        extra, style = split_phase(r.progress_message)[1] or "", "dim"  # the label: Phase
    if extra and width - len(name) > 4:
        text.append(f"  {extra}", style=style)
    return text


def _pipeline(r: RunRow, _ctx: RowContext, _w: int) -> Text:
    return Text(r.pipeline)


def _group(r: RunRow, _ctx: RowContext, _w: int) -> Text:
    return Text(r.group_hash[:8], style="#56b6c2")


def _progress(r: RunRow, _ctx: RowContext, width: int) -> Text:
    return fmt.progress_bar(r.progress_done, r.progress_total, width)


def _phase(r: RunRow, _ctx: RowContext, _w: int) -> Text:
    """What a running run is doing now (``score 2/3 cable``), from its progress message."""
    if r.status != "running":
        return Text("")
    label, _rest = split_phase(r.progress_message)
    return Text(label or "", style="#c678dd")


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


# At 80 columns: id, status, name, progress, phase and ETA (what a running run is doing and
# when it ends); wider terminals add the metric, elapsed time, pipeline, group and worker.
RUN_COLUMNS: tuple[Column, ...] = (
    Column("id", "#", 5, _id, justify="right"),
    Column("status", "Status", 11, _status),
    # below 22 cells a sweep's names (patchcore_wrn50_lr1e-3) stop being told apart
    Column("name", "Name", 16, _name, flex=True, comfort=22),
    Column("pipeline", "Pipeline", 8, _pipeline, drop_order=6),
    Column("group", "Group", 8, _group, drop_order=7),
    Column("progress", "Progress", 14, _progress, drop_order=1),
    Column("phase", "Phase", 14, _phase, drop_order=3, grow=6),
    Column("elapsed", "Elapsed", 7, _elapsed, drop_order=5, justify="right"),
    Column("eta", "ETA", 7, _eta, drop_order=2, justify="right"),
    Column("metric", "Metric", 16, _metric, drop_order=4),
    Column("worker", "Worker", 12, _worker, drop_order=8),
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
    comfort = max(min_flex, flex.comfort) if flex else 0
    for victim in sorted((c for c in columns if c.drop_order), key=lambda c: -c.drop_order):
        need = min_flex if victim.drop_order <= ESSENTIAL else comfort
        if fixed(shown) + need <= width:
            break
        shown.remove(victim)
    rest = max(min_flex, width - fixed(shown))
    extra: dict[str, int] = {}
    for c in shown:  # the flexible column keeps its comfort and 10 cells more
        if c.grow and not c.flex:
            extra[c.key] = min(c.grow, max(0, rest - comfort - 10))
            rest -= extra[c.key]
    return [(c, rest if c.flex else c.width + extra.get(c.key, 0)) for c in shown]
