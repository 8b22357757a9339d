"""The workers panel: each worker's device, current run and heartbeat age; stale ones marked."""
from __future__ import annotations

import datetime as dt

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from adlab.db.tui_queries import WorkerRow
from adlab.tui import fmt


def is_stale(worker: WorkerRow, now: dt.datetime, lease_s: float) -> bool:
    """A worker that says it is alive but has not sent a heartbeat within its lease."""
    if worker.status == "stopped" or worker.heartbeat_at is None:
        return False
    return (now - worker.heartbeat_at).total_seconds() > lease_s


def workers_table(workers: list[WorkerRow], now: dt.datetime, lease_s: float) -> Table:
    table = Table(expand=True, box=None, padding=(0, 1), header_style="bold")
    for label, ratio in (("Worker", 3), ("Host", 2), ("Device", 1), ("State", 1),
                         ("Current run", 4), ("Heartbeat", 2), ("Done", 1)):
        table.add_column(label, ratio=ratio, no_wrap=True, overflow="ellipsis",
                         justify="right" if label == "Done" else "left")
    for w in workers:
        stale = is_stale(w, now, lease_s)
        state = Text("STALE", style="bold reverse #e06c75") if stale else Text(
            w.status, style={"busy": "#e5c07b", "idle": "#98c379", "stopped": "dim"}.get(w.status, ""))
        run = f"#{w.current_run_id} {w.current_run_name or ''}" if w.current_run_id else ""
        beat = Text(fmt.age(w.heartbeat_at, now), style="#e06c75" if stale else "dim")
        table.add_row(w.name, w.host, w.device, state, run, beat, str(w.runs_done),
                      style="dim" if w.status == "stopped" else None)
    return table


class WorkersPanel(Static):
    """Re-rendered from each snapshot; workers are few, so a Rich table is enough."""

    DEFAULT_CSS = """
    WorkersPanel { height: auto; max-height: 10; border-top: solid $panel-lighten-2; }
    """

    def show(self, workers: list[WorkerRow], now: dt.datetime, lease_s: float) -> None:
        if not workers:
            self.update(Text("no workers registered — start one with `adlab worker`", style="dim"))
            return
        self.update(workers_table(workers, now, lease_s))
