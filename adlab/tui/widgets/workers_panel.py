"""The workers panel: every worker's device, current run and heartbeat age. A worker whose
heartbeat is older than the lease is shown dead, without the run it last held (the queue hands
that run to another worker, so showing it would put two workers on one run)."""
from __future__ import annotations

import datetime as dt

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from adlab.db.tui_queries import WorkerRow
from adlab.tui import fmt
from adlab.tui.runs_model import heartbeat_expired


def is_stale(worker: WorkerRow, now: dt.datetime, lease_s: float) -> bool:
    """A worker that says it is alive but has not sent a heartbeat within its lease."""
    return worker.status != "stopped" and heartbeat_expired(worker.heartbeat_at, now, lease_s)


def workers_summary(workers: list[WorkerRow], now: dt.datetime, lease_s: float) -> Text:
    """``11 workers: 8 busy · 2 idle · 1 STALE (no heartbeat for the lease: presumed dead)``."""
    counts: dict[str, int] = {}
    for w in workers:
        state = "STALE" if is_stale(w, now, lease_s) else w.status
        counts[state] = counts.get(state, 0) + 1
    text = Text(f"{len(workers)} worker(s): ", style="bold")
    order = ["busy", "idle", "STALE", "stopped"] + sorted(set(counts) - {"busy", "idle", "STALE", "stopped"})
    text.append(" · ".join(f"{counts[s]} {s}" for s in order if counts.get(s)))
    if counts.get("STALE"):
        text.append(f"  STALE: silent > {fmt.duration(lease_s)}, presumed dead", style="#e06c75")
    return text


def workers_table(workers: list[WorkerRow], now: dt.datetime, lease_s: float) -> Table:
    table = Table(expand=True, box=None, padding=(0, 1), header_style="bold")
    # minimum widths keep the state, heartbeat and count whole in an 80-column terminal
    for label, ratio, width in (("Worker", 3, None), ("Host", 2, None), ("Device", None, 7),
                                ("State", None, 5), ("Current run", 4, None),
                                ("Heartbeat", None, 11), ("Done", None, 4)):
        table.add_column(label, ratio=ratio, width=width, no_wrap=True, overflow="ellipsis",
                         justify="right" if label == "Done" else "left")
    for w in workers:
        stale = is_stale(w, now, lease_s)
        if stale:
            state = Text("STALE", style="bold reverse #e06c75")
            run = Text("— dead, run handed back" if w.current_run_id else "— dead", style="dim")
        else:
            state = Text(w.status, style={"busy": "#e5c07b", "idle": "#98c379",
                                          "stopped": "dim"}.get(w.status, ""))
            run = Text(f"#{w.current_run_id} {w.current_run_name or ''}" if w.current_run_id else "")
        beat = Text(fmt.age(w.heartbeat_at, now), style="#e06c75" if stale else "dim")
        table.add_row(w.name, w.host, w.device, state, run, beat, str(w.runs_done),
                      style="dim" if w.status == "stopped" else None)
    return table


class WorkersPanel(VerticalScroll):
    """Re-rendered from each snapshot; every worker is listed and the panel scrolls when they
    do not fit (its height is capped so the runs table keeps most of the screen)."""

    DEFAULT_CSS = """
    WorkersPanel { height: auto; max-height: 40%; border-top: solid $panel-lighten-2; }
    WorkersPanel > Static { height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="workers-body")

    def on_mount(self) -> None:
        self._shown: tuple | None = None
        self._shape: tuple | None = None

    def show(self, workers: list[WorkerRow], now: dt.datetime, lease_s: float) -> None:
        """Repaint only when what is shown changed (the ages tick once a second); measure the
        screen again only when its lines may have (another worker count or summary)."""
        shown = (tuple(workers), now.replace(microsecond=0), lease_s)
        if shown == self._shown:
            return
        self._shown = shown
        body = self.query_one("#workers-body", Static)
        if not workers:
            shape: tuple = (0, "")
            content: Text | Group = Text("no workers registered — start one with `adlab worker`",
                                         style="dim")
        else:
            summary = workers_summary(workers, now, lease_s)
            shape = (len(workers), summary.plain)
            content = Group(summary, workers_table(workers, now, lease_s))
        body.update(content, layout=shape != self._shape)
        self._shape = shape
