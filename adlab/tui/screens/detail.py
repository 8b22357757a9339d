"""One run in depth: config and provenance, metrics per category, the live log, artifacts, and
the tabs the run's pipeline declares (``detail_tabs``: MMAD's accuracy per question type as
the answers come in)."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Log, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from adlab.core.phase import split_phase
from adlab.tui import fmt
from adlab.tui.data import run_detail_bundle
from adlab.tui.runs_model import heartbeat_expired
from adlab.tui.screens.base import LabScreen, NoMatches

if TYPE_CHECKING:  # the pipelines package and the file viewer load only when needed
    from adlab.pipelines.views import DetailTab, TabView
    from adlab.tui.app import LabApp

DETAIL_GROUP = "detail-refresh"
PROVENANCE_KEYS = ("status", "attempt", "worker", "device", "created_at", "started_at",
                   "finished_at", "git_commit", "git_dirty", "seed", "output_dir",
                   "config_hash", "group_hash", "partition_hash", "error")


def _parse_ts(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def title_text(d: dict[str, Any], now: dt.datetime, lease_s: float | None = None) -> Text:
    """The run in one line. A running run whose heartbeat is older than the lease is shown
    stale, with no ETA (its worker is presumed dead: the runs table's rule)."""
    status = d["status"]
    started, finished = _parse_ts(d.get("started_at")), _parse_ts(d.get("finished_at"))
    elapsed = fmt.elapsed_seconds(status, started, finished, now)
    stale = status == "running" and heartbeat_expired(_parse_ts(d.get("heartbeat_at")), now,
                                                      lease_s)
    eta = None if stale else fmt.eta_seconds(status, elapsed, d.get("progress_done") or 0,
                                             d.get("progress_total"))
    shown = fmt.stale_text() if stale else fmt.status_text(
        status, cancelling=bool(d.get("cancel_requested")))
    text = Text.assemble((f" #{d['id']} ", "bold reverse"), " ", (d["name"], "bold"), "  ",
                         shown, "  ", (d["pipeline"], "#61afef"), "  ")
    text.append_text(fmt.progress_bar(d.get("progress_done") or 0, d.get("progress_total"), 24))
    if elapsed is not None:
        text.append(f"  elapsed {fmt.duration(elapsed)}")
    if eta is not None:
        text.append(f"  ETA {fmt.duration(eta)}", style="#e5c07b")
    if d.get("headline_value") is not None:
        text.append(f"  {fmt.headline(d.get('headline_metric'), d.get('headline_value'))}",
                    style="bold")
    if d.get("progress_message") and status == "running":
        label, rest = split_phase(d["progress_message"])
        if label:
            text.append(f"  {label}", style="#c678dd")
        if rest:
            text.append(f"  {rest}", style="dim")
    return text


def overview_renderable(d: dict[str, Any]) -> Group:
    prov = Table.grid(padding=(0, 2))
    prov.add_column(style="bold #8aa4c8", no_wrap=True)
    prov.add_column()
    for key in PROVENANCE_KEYS:
        value = d.get(key)
        if value is None or value == "":
            continue
        if key.endswith("_at"):
            value = fmt.timestamp(_parse_ts(value))
        prov.add_row(key, Text(str(value), style="#e06c75" if key == "error" else ""))
    for key, value in sorted((d.get("versions") or {}).items()):
        prov.add_row(f"version {key}", str(value))
    for key, value in sorted((d.get("info") or {}).items()):
        prov.add_row(f"info {key}", json.dumps(value) if not isinstance(value, str) else value)
    params = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
    params.add_column("parameter", style="#56b6c2", no_wrap=True)
    params.add_column("value")
    for key, value in (d.get("params") or {}).items():
        params.add_row(key, value)
    if d.get("group_keys"):
        params.caption = f"group keys: {', '.join(d['group_keys'])}"
    return Group(Text("Provenance", style="bold underline"), prov, Text(""),
                 Text("Parameters", style="bold underline"), params, Text(""),
                 Text("Config", style="bold underline"),
                 Text(json.dumps(d.get("config"), indent=2, sort_keys=True), style="dim"))


def metrics_renderable(metrics: list[dict[str, Any]]) -> Table | Text:
    """One row per metric and category (scope × value), the run-level value first: readable at
    any width, however many metrics a run records (18 metric columns did not fit 160 cells)."""
    if not metrics:
        return Text("no metrics recorded yet", style="dim")
    keys: list[str] = []
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for m in metrics:
        if m["key"] not in keys:
            keys.append(m["key"])
        cells[(m["key"], m["scope"])] = m  # the latest step of a metric recorded several times
    table = Table(box=None, padding=(0, 2), header_style="bold")
    table.add_column("metric", style="bold", no_wrap=True)
    table.add_column("category", style="#56b6c2", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    for key in keys:
        scopes = sorted((sc for k, sc in cells if k == key), key=lambda sc: (sc != "", sc))
        for i, scope in enumerate(scopes):
            m = cells[(key, scope)]
            if m["value"] is None:
                value: Text | str = Text("undefined" if not m.get("note") else
                                         f"n/a ({m['note']})", style="dim")
            else:
                value = fmt.metric_value(m["value"])
            table.add_row(key if i == 0 else "", scope or "(run)", value,
                          style="bold" if scope == "" else None)
        table.add_section()
    return table


def tab_renderable(view: TabView) -> Table | Text | Group:
    """A pipeline tab's plain table (first column as labels, trailing summary rows bold) and
    its note, or its error."""
    if view.error is not None or view.table is None:
        return Text(view.error or "nothing to show yet", style="#e06c75")
    t = view.table
    table = Table(box=None, padding=(0, 2), header_style="bold")
    for i, column in enumerate(t.columns):
        align = t.align[i] if i < len(t.align) else "l"
        justify = {"l": "left", "c": "center", "r": "right"}[align]
        if i == 0:
            table.add_column(column, style="#56b6c2", no_wrap=True, justify=justify)
        else:
            table.add_column(column, justify=justify)
    first_footer = len(t.rows) - t.footer_rows
    for n, row in enumerate(t.rows):
        cells = ["" if c.value is None else c.value if isinstance(c.value, str)
                 else fmt.metric_value(c.value) for c in row]
        table.add_row(*cells, style="bold" if n >= first_footer else None)
    if not t.note:
        return table
    return Group(table, Text(""), Text(t.note, style="dim"))


def open_command() -> list[str] | None:
    """The desktop opener, when there is a desktop to open on (not over plain SSH)."""
    if sys.platform == "darwin":
        return ["open"]
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        opener = shutil.which("xdg-open")
        return [opener] if opener else None
    return None


def resolve_artifact(stored: str) -> Path:
    from adlab.settings import artifacts_root

    path = Path(stored)
    return path if path.is_absolute() else artifacts_root() / path


class RunDetailScreen(LabScreen):
    AUTO_FOCUS = "#overview VerticalScroll"  # arrows act on the content at once
    BINDINGS = [
        Binding("escape,backspace", "app.pop_screen", "Back"),
        Binding("o", "open_artifact", "Open artifact"),
        Binding("y", "copy_path", "Copy path"),
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('metrics')", "Metrics", show=False),
        Binding("3", "tab('log')", "Log", show=False),
        Binding("4", "tab('artifacts')", "Artifacts", show=False),
        Binding("5", "pipeline_tab(0)", "Pipeline tab", show=False),
    ]

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.detail: dict[str, Any] | None = None
        self.last_event_id = 0
        self.tab_signatures: dict[str, tuple] = {}  # pipeline tab id -> its items' signature
        self.tab_data: dict[str, Mapping[str, Any]] = {}  # pipeline tab id -> its view's data
        self.pipeline_tab_ids: list[str] = []
        self.refreshes = 0
        self._inflight = False
        self._shown: dict[str, Any] = {}

    @property
    def lab(self) -> "LabApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(Text(f" run #{self.run_id} — loading…"), id="detail-title",
                     classes="screen-title")
        with TabbedContent(id="detail-tabs", initial="overview"):
            with TabPane("Overview", id="overview"):
                with VerticalScroll():
                    yield Static(id="overview-body")
            with TabPane("Metrics", id="metrics"):
                with VerticalScroll():
                    yield Static(id="metrics-body")
            with TabPane("Log", id="log"):
                yield Log(id="log-body", max_lines=5000, auto_scroll=True)
            with TabPane("Artifacts", id="artifacts"):
                yield DataTable(id="artifacts-body", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#artifacts-body", DataTable)
        table.add_columns("kind", "path", "size")
        self._focus_pane("overview")
        self.request_refresh()
        self.set_interval(self.lab.refresh_s, self.request_refresh, name="detail-refresh")

    # live data -------------------------------------------------------------------------------
    def request_refresh(self) -> None:
        if self._inflight:
            return
        self._inflight = True
        # the first read paints the screen; the pipeline's own tabs come with the next one
        self._load(self.last_event_id, dict(self.tab_signatures), self.refreshes > 0)

    @work(thread=True, group=DETAIL_GROUP, exit_on_error=False)
    def _load(self, after_event_id: int, signatures: dict[str, tuple],
              with_tabs: bool) -> dict[str, Any]:
        with self.lab.data.watch.reads():  # a lost database: one sentence in the title
            return run_detail_bundle(self.lab.engine, self.run_id, after_event_id=after_event_id,
                                     tab_signatures=signatures, with_tabs=with_tabs)

    @on(Worker.StateChanged)
    def _loaded(self, event: Worker.StateChanged) -> None:
        if event.worker.group != DETAIL_GROUP:
            return
        if event.state == WorkerState.SUCCESS and self.is_attached:
            try:
                self._apply(event.worker.result)
            except NoMatches:  # closed while the read was in flight
                pass
        elif event.state == WorkerState.ERROR and self.is_attached:
            self.query_one("#detail-title", Static).update(
                Text(f" run #{self.run_id}: {event.worker.error}", style="bold #e06c75"))
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self._inflight = False

    def _changed(self, part: str, value: Any) -> bool:
        if self._shown.get(part) == value:
            return False
        self._shown[part] = value
        return True

    def _apply(self, bundle: dict[str, Any]) -> None:
        d = bundle["detail"]
        self.detail = d
        now = self.lab.clock()
        self.query_one("#detail-title", Static).update(title_text(d, now, self.lab.lease_s))
        overview_key = {k: v for k, v in d.items() if k not in ("metrics", "artifacts",
                                                                 "heartbeat_at", "progress_done",
                                                                 "progress_message")}
        if self._changed("overview", overview_key):
            self.query_one("#overview-body", Static).update(overview_renderable(d))
        if self._changed("metrics", d["metrics"]):
            self.query_one("#metrics-body", Static).update(metrics_renderable(d["metrics"]))
        if self._changed("artifacts", d["artifacts"]):
            table = self.query_one("#artifacts-body", DataTable)
            table.clear()
            for i, a in enumerate(d["artifacts"]):
                table.add_row(a["kind"], a["path"], fmt.human_bytes(a["bytes"]), key=str(i))
        log = self.query_one("#log-body", Log)
        for e in bundle["events"]:
            ts = e["ts"].strftime("%H:%M:%S") if hasattr(e["ts"], "strftime") else str(e["ts"])
            log.write_line(f"{ts} {e['level']:<7} {e['source']:>10}  {e['message']}")
            self.last_event_id = e["id"]
        self.tab_signatures = bundle["tab_signatures"]
        for tab, view in bundle["tabs"].values():
            self.tab_data[tab.id] = view.data
            self._show_tab(tab, view)
        self.refreshes += 1

    def _show_tab(self, tab: DetailTab, view: TabView) -> None:
        """Add the pipeline's tab the first time its items exist, then update it in place."""
        body = tab_renderable(view)
        if not self.query(f"#{tab.id}-body"):
            tabs = self.query_one("#detail-tabs", TabbedContent)
            tabs.add_pane(TabPane(tab.title, VerticalScroll(Static(body, id=f"{tab.id}-body")),
                                  id=tab.id))
            self.pipeline_tab_ids.append(tab.id)
        else:
            self.query_one(f"#{tab.id}-body", Static).update(body)

    # actions ---------------------------------------------------------------------------------
    def action_pipeline_tab(self, index: int) -> None:
        """Key 5: the first tab the run's pipeline added (once it exists)."""
        if index < len(self.pipeline_tab_ids):
            self.action_tab(self.pipeline_tab_ids[index])

    def action_tab(self, tab: str) -> None:
        if self.query(f"#{tab}"):
            self.query_one("#detail-tabs", TabbedContent).active = tab
            self._focus_pane(tab)

    @on(TabbedContent.TabActivated, "#detail-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self._focus_pane(event.pane.id)

    def _focus_pane(self, tab: str) -> None:
        """Give the pane's content the focus, so arrow keys move in the artifacts list or
        scroll the metrics without a Tab first."""
        for widget in self.query_one(f"#{tab}", TabPane).query("*"):
            if widget.focusable:
                self.set_focus(widget)
                return

    def _current_artifact(self) -> Path | None:
        if not self.detail or not self.detail["artifacts"]:
            self.notify("this run has no artifacts", severity="warning")
            return None
        table = self.query_one("#artifacts-body", DataTable)
        index = max(0, min(table.cursor_row, len(self.detail["artifacts"]) - 1))
        return resolve_artifact(self.detail["artifacts"][index]["path"])

    @on(DataTable.RowSelected, "#artifacts-body")
    def _artifact_chosen(self) -> None:
        self.action_open_artifact()

    def action_open_artifact(self) -> None:
        """Text files (reports, logs) open in the built-in viewer; images and other files in
        the desktop's viewer when there is a desktop, else their path goes to the clipboard."""
        path = self._current_artifact()
        if path is None:
            return
        if not path.exists():
            self.notify(f"{path} does not exist on this machine", severity="error")
            return
        from adlab.tui.screens.viewer import FileViewer, is_viewable

        if is_viewable(path):
            self.app.push_screen(FileViewer(path))
            return
        command = open_command()
        if command:
            subprocess.Popen([*command, str(path)], stdout=subprocess.DEVNULL,  # noqa: S603
                             stderr=subprocess.DEVNULL, start_new_session=True)
            self.notify(f"opened {path.name}")
        else:
            self.app.copy_to_clipboard(str(path))
            self.notify(f"no desktop to open {path.name} on; path copied: {path}", timeout=8)

    def action_copy_path(self) -> None:
        path = self._current_artifact()
        if path is not None:
            self.app.copy_to_clipboard(str(path))
            self.notify(f"copied {path}")

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Back to runs", "Close the run detail", self.app.pop_screen)
        yield SystemCommand("Open artifact", "Open the highlighted artifact (reports, heatmaps)",
                            self.action_open_artifact)
        yield SystemCommand("Copy artifact path", "Copy the highlighted artifact's path",
                            self.action_copy_path)
        for tab in ("overview", "metrics", "log", "artifacts", *self.pipeline_tab_ids):
            yield SystemCommand(f"Show {tab}", f"Switch to the {tab} tab",
                                lambda t=tab: self.action_tab(t), discover=False)

