"""The runs screen: live table, filters, workers panel, and the actions on selected runs."""
from __future__ import annotations

import functools
import gc
import time
from typing import Any, Callable, Iterable

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import Footer, Input, Static
from textual.actions import SkipAction
from textual.worker import Worker, WorkerState

from adlab.errors import DatabaseError
from adlab.tui import actions
from adlab.tui.columns import RUN_COLUMNS
from adlab.tui.data import LabSnapshot
from adlab.tui.fmt import STATUS_STYLES
from adlab.tui.runs_model import STATUSES, RunFilter, SortSpec
from adlab.tui.screens.base import LabScreen, NoMatches
from adlab.tui.screens.dialogs import ConfirmDialog, PathDialog
from adlab.tui.widgets.filter_bar import FilterBar
from adlab.tui.widgets.run_table import RunTable
from adlab.tui.widgets.workers_panel import WorkersPanel

REFRESH_GROUP = "runs-refresh"
DESCENDING = ("id", "metric", "elapsed", "progress", "attention")  # first shown high to low
TITLE_ORDER = ("running", "queued", "failed", "succeeded", "cancelled")
ACTION_GROUP = "runs-action"
FIRST_PAGE = 200  # lines painted from the first small read, before the whole lab is read
# The periodic read waits while keys are typed into the filter box (its thread competes with
# the keys' frames for the interpreter lock), but never longer than TYPING_HOLD_S in a row.
TYPING_QUIET_S = 0.5
TYPING_HOLD_S = 3.0


FILTER_HINT = Text.assemble(
    ("typing a filter", "bold"), "  ", ("⏎", "bold"), " or ", ("esc", "bold"),
    " back to the table (the filter stays)  ", ("⌫", "bold"), " erase  ", ("^p", "bold"),
    " palette", no_wrap=True, overflow="ellipsis")


def _keys_shown(screen: Any) -> tuple:
    """What a Footer shows for ``screen``'s active bindings."""
    bindings = screen.active_bindings
    palette = bindings.get(screen.app.COMMAND_PALETTE_BINDING)
    return (tuple((b.key, b.description, b.action, enabled, tooltip)
                  for _node, b, enabled, tooltip in bindings.values() if b.show),
            palette[2:] if palette else None)


class RunsFooter(Footer):
    """The runs screen's footer, composed again only when the keys it shows change, and not
    while the filter box has focus (a hint line stands in for it then, see
    ``RunsScreen._typing``): composing mounts a dozen widgets and repaints the whole screen,
    ~25 ms that the first key typed after `/` waited for, and again after Enter or Escape."""

    _keys: tuple | None = None

    def bindings_changed(self, screen: Any) -> None:
        focused = screen.focused
        if isinstance(focused, Input) and focused.id == "filter-text":
            return  # hidden meanwhile; back on the table the same keys show again
        keys = _keys_shown(screen)
        if keys == self._keys:
            return
        if screen.app.app_focus:
            self._keys = keys
        super().bindings_changed(screen)


def on_current_view(method: Callable[..., None]) -> Callable[..., None]:
    """Run an action on the selection only once the table shows the filter and order the user
    asked for: `/draem⏎d` must delete from the filtered view, not from the one before it."""
    @functools.wraps(method)
    def wrapper(self: "RunsScreen", *args: Any) -> None:
        self.when_current(lambda: method(self, *args))
    return wrapper


class RunsScreen(LabScreen):
    """The lab at a glance. Reads happen in a worker thread; the table only swaps row lists."""
    # what has focus when the screen shows (Textual's default, the first focusable widget,
    # was the filter box: keys meant for the table went into it)
    AUTO_FOCUS = "#runs"
    DEFAULT_CSS = """
    RunsScreen #filter-hint {
        dock: bottom; height: 1; display: none; padding: 0 1;
        background: $footer-background; color: $footer-foreground;
    }
    """

    BINDINGS = [
        # `/`, and Enter/Escape in the filter box, are applied as they arrive by capture_key;
        # these bindings are their footer entry and the route for synthetic key presses.
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("escape", "focus_table", "Table", show=False),
        # off the footer (it has no room left at 120 columns); the status line names it
        Binding("question_mark", "help", "Help", key_display="?", show=False),
        Binding("c", "compare", "Compare"),
        Binding("n", "queue_file", "Queue file"),
        Binding("x", "cancel_runs", "Cancel"),
        Binding("r", "retry_runs", "Retry"),
        Binding("R", "requeue_runs", "Re-queue", key_display="R"),
        Binding("d,delete", "delete_runs", "Delete"),
        Binding("e", "export_report", "Export"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False, key_display="S"),
        Binding("u", "clear_marks", "Unmark", show=False),
        Binding("w", "toggle_workers", "Workers", show=False),
        Binding("ctrl+r", "refresh_now", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_filter = RunFilter()
        self.sort = SortSpec()
        self.snapshot: LabSnapshot | None = None
        self.refreshes = 0  # applied snapshots (tests and the benchmark wait on this)
        self.last_apply_ms = 0.0
        self._inflight = False
        self._pending_fetch: bool | None = None
        self._requested_at = 0.0
        self.last_cycle_ms = 0.0  # request -> table updated, for the latest refresh
        self.last_message: tuple[str, bool] | None = None  # outcome of the latest action
        self._shown_sort: SortSpec | None = None  # the order the table shows now
        self._deferred: list[Callable[[], None]] = []  # actions waiting for the asked-for view
        self._lines: dict[str, tuple] = {}  # what each one-line Static shows (see _set_line)
        self._first_page_done = False
        self._edited_at = -1e9  # time.monotonic() of the latest edit of the filter box
        self._read_at = -1e9  # ... of the latest read asked for
        self.db_lost: str | None = None  # why the latest refresh failed, shown instead of the summary

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title", classes="screen-title")
        yield FilterBar(id="filters", on_edit=self._filter_edited)
        yield RunTable(RUN_COLUMNS, id="runs")
        yield Static(id="runs-status", classes="status-line")
        yield WorkersPanel(id="workers")
        yield RunsFooter()
        yield Static(FILTER_HINT, id="filter-hint")

    def on_mount(self) -> None:
        self.query_one(RunTable).focus()
        self._render_title()
        self.request_refresh()
        self.set_interval(self.lab.refresh_s, self._tick, name="runs-refresh")

    def _tick(self) -> None:
        """The periodic read, only while this screen is on top: under the detail or compare
        screen it would compete for the one interpreter lock with their loads (a comparison
        of 10,000 runs took twice as long), and its result would not be seen. Nor while keys
        are typed into the filter box (up to TYPING_HOLD_S): the rows it has are filtered
        without it, and its thread would delay the frames that show the keys."""
        if not self.is_current:
            return
        now = time.monotonic()
        if now - self._edited_at < TYPING_QUIET_S and now - self._read_at < TYPING_HOLD_S:
            return  # someone is typing a filter: the next tick reads
        self.request_refresh()

    def on_screen_resume(self) -> None:
        if self.snapshot is not None:
            self.request_refresh()  # what changed while another screen was on top

    # refresh ---------------------------------------------------------------------------------
    def request_refresh(self, fetch: bool = True) -> None:
        """Ask for a new snapshot; while one is in flight, remember to take another after it.
        A new view of the rows already read (``fetch`` False: a filter or sort change) is built
        here at once when the data layer can do so without waiting (see ``LabData.view_now``)."""
        if not fetch and self._show_now():
            return
        if self._inflight:
            self._pending_fetch = bool(self._pending_fetch) or fetch
            return
        self._inflight = True
        self._requested_at = time.perf_counter()
        if fetch:
            self._read_at = time.monotonic()
        self._load_snapshot(self.run_filter, self.sort, fetch)

    @work(thread=True, group=REFRESH_GROUP, exit_on_error=False)
    def _load_snapshot(self, run_filter: RunFilter, sort: SortSpec, fetch: bool) -> LabSnapshot:
        if self.snapshot is None and not self._first_page_done:
            # paint the first page from a few small reads, then read the whole lab
            self._first_page_done = True
            page = None if run_filter.active else self.lab.data.first_page(sort, FIRST_PAGE)
            if page is not None:
                self.app.call_from_thread(self._apply, page)
        return self.lab.data.snapshot(run_filter, sort, fetch=fetch)

    def _show_now(self) -> bool:
        """Show the asked-for filter and order of the rows already read, built on this (the
        UI) thread, so a keystroke's table is drawn in the same frame as the key itself (a round
        trip through a worker thread missed that frame and the next: ~30 ms). False when it
        cannot be built without waiting: a refresh thread builds it."""
        if not self.is_attached:
            return False
        snap = self.lab.data.view_now(self.run_filter, self.sort)
        if snap is None:
            return False
        self._apply(snap)
        return True

    @on(Worker.StateChanged)
    def _worker_done(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == REFRESH_GROUP:
            if event.state == WorkerState.SUCCESS:
                self.db_lost = None  # the database answers (again)
                snap = worker.result
                if snap.run_filter == self.run_filter and snap.sort == self.sort:
                    self._apply(snap)
                elif self._pending_fetch is None:
                    # asked for before the latest filter or sort (shown since by _show_now):
                    # not shown, which would flash the old view; its rows are read, so the
                    # view asked for now is built from them next
                    self._pending_fetch = False
            elif event.state == WorkerState.ERROR:
                self._lost(worker.error)
            if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
                self._inflight = False
                if self._pending_fetch is not None:
                    fetch, self._pending_fetch = self._pending_fetch, None
                    self.request_refresh(fetch)
        elif worker.group == ACTION_GROUP and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self._action_finished(worker, event.state)

    def _apply(self, snap: LabSnapshot) -> None:
        if not self.is_attached:
            return
        try:
            self._apply_snapshot(snap)
        except NoMatches:  # the screen is being torn down (the app quits)
            return

    def _apply_snapshot(self, snap: LabSnapshot) -> None:
        t0 = time.perf_counter()
        if snap.full_reload:
            # Move the freshly loaded rows (and the widgets) out of the cyclic collector's
            # view: with 10,000 cached runs a full collection costs 50-80 ms and landed in
            # random refreshes. Rows are plain tuples, so refcounting still frees old ones.
            gc.freeze()
        self.snapshot = snap
        table = self.query_one(RunTable)
        table.set_sort(snap.sort.column, snap.sort.reverse)
        # A new order starts at its top; a refresh in the same order keeps the cursor's run.
        to_top = self._shown_sort is not None and snap.sort != self._shown_sort
        self._shown_sort = snap.sort
        table.set_rows(snap.view, snap.now, to_top=to_top, context=snap.context)
        if not snap.partial:
            self.query_one(FilterBar).set_choices(snap.pipelines, snap.groups)
        if snap.fetched:  # a keystroke's view: the workers (and their ages) wait for a read
            self.query_one(WorkersPanel).show(snap.workers, snap.now, self.lab.lease_s)
        self._render_title()
        self._render_status()
        if not snap.partial:
            self.refreshes += 1  # a complete view (tests and the benchmark wait on this)
        if self._deferred and self.view_current():
            waiting, self._deferred = self._deferred, []
            for fn in waiting:
                fn()
        now = time.perf_counter()
        self.last_apply_ms = (now - t0) * 1000
        self.last_cycle_ms = (now - self._requested_at) * 1000

    def _render_title(self) -> None:
        snap = self.snapshot
        title = Text.assemble((" adlab ", "bold reverse"), " ", no_wrap=True, overflow="ellipsis")
        if snap is not None:  # what needs attention first: it survives a narrow terminal
            for status in TITLE_ORDER:
                n = snap.counts.get(status, 0)
                if n:
                    title.append(f"{n} {status}", style=STATUS_STYLES[status])
                    title.append("  ")
        title.append(self.lab.db_label, style="dim")
        self._set_line("#runs-title", title)

    def _set_line(self, selector: str, text: Text, *, wrap: bool = False) -> None:
        """Update a one-line Static only when its text changed, and without a layout pass:
        its height is fixed, and a layout of the whole screen (every widget measured and
        repainted) on each refresh and each cursor move cost more than the table itself.
        ``wrap``: the line grows to hold the whole text, wrapped (a sentence that says what is
        wrong and what to do must not be cut at 80 columns)."""
        key = (text.plain, tuple(text.spans), str(text.style), wrap)
        if self._lines.get(selector) == key:
            return
        previous = self._lines.get(selector)
        was_wrapped = previous is not None and previous[3]
        self._lines[selector] = key
        widget = self.query_one(selector, Static)
        if wrap != was_wrapped:
            widget.styles.height = "auto" if wrap else None  # None: the stylesheet's one line
        widget.update(text, layout=wrap or was_wrapped)

    def _lost(self, error: BaseException | None) -> None:
        """A refresh failed: one line in place of the summary until a read succeeds again (the
        periodic refresh keeps retrying; the table keeps the rows last read; q still quits)."""
        what = "database lost" if isinstance(error, DatabaseError) else "database read failed"
        self.db_lost = f"{what}: {error} (retrying; q quits)"
        self._render_status()

    def _render_status(self) -> None:
        if self.db_lost is not None:
            self._set_line("#runs-status", Text(self.db_lost, style="bold #e06c75"), wrap=True)
            return
        snap = self.snapshot
        if snap is None:
            return
        table = self.query_one(RunTable)
        parts = [f"{len(snap.view)} of {snap.total} runs"]
        if snap.partial:
            parts.append("loading the rest…")
        if self.run_filter.active:
            parts.append("filtered")
        if table.marked:
            parts.append(f"{len(table.marked)} marked")
        column = next((c.label for c in RUN_COLUMNS if c.key == self.sort.column),
                      "needs attention" if self.sort.column == "attention" else self.sort.column)
        parts.append(f"sorted by {column} {'▼' if self.sort.reverse else '▲'}")
        parts.append("? keys")
        line = Text(" · ".join(parts), style="dim")
        if self.last_message is not None:
            message, error = self.last_message
            line.append("  │  ", style="dim")
            line.append(message, style="bold #e06c75" if error else "#98c379")
        self._set_line("#runs-status", line)

    def _status(self, message: str, *, error: bool = False) -> None:
        """Show the outcome of an action (or a failure) beside the table summary."""
        self.last_message = (message, error)
        if self.snapshot is None:
            self._set_line("#runs-status", Text(message, style="bold #e06c75" if error else "dim"))
        else:
            self._render_status()

    def view_current(self) -> bool:
        snap = self.snapshot
        return (snap is not None and not snap.partial and snap.run_filter == self.run_filter
                and snap.sort == self.sort)

    def when_current(self, fn: Callable[[], None]) -> None:
        if self.view_current():
            fn()
        else:
            self._deferred.append(fn)
            self.request_refresh(fetch=False)

    # filters and sorting ---------------------------------------------------------------------
    def _filter_edited(self, run_filter: RunFilter) -> None:
        """Called by the filter bar as each edit of the text box happens (a key, a paste,
        Backspace), before the frame that shows it: the table follows in that frame."""
        self._edited_at = time.monotonic()
        if run_filter != self.run_filter:
            self.run_filter = run_filter
            self.request_refresh(fetch=False)

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        # the bar's values now, not the event's: keys typed since have been applied already
        # (_filter_edited), and an older Changed still on its way must not undo them
        try:
            wanted = self.query_one(FilterBar).value
        except NoMatches:  # the screen is being torn down
            return
        self._filter_edited(wanted)

    @on(Input.Submitted, "#filter-text")
    def _filter_submitted(self) -> None:
        self._leave_filter()

    @on(RunTable.SortRequested)
    def _sort_requested(self, event: RunTable.SortRequested) -> None:
        self.sort_by(event.column)

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        if reverse is None:  # clicking the sorted column again flips it
            reverse = not self.sort.reverse if column == self.sort.column else column in DESCENDING
        self.sort = SortSpec(column, reverse)
        self.request_refresh(fetch=False)

    def action_cycle_sort(self) -> None:
        keys = [c.key for c in RUN_COLUMNS] + ["attention"]
        nxt = keys[(keys.index(self.sort.column) + 1) % len(keys)] if self.sort.column in keys else "id"
        self.sort_by(nxt, reverse=nxt in DESCENDING)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort.column, not self.sort.reverse)

    def set_filter(self, run_filter: RunFilter) -> None:
        self.query_one(FilterBar).set_filter(run_filter)

    def _filter_input(self) -> Input:
        return self.query_one("#filter-text", Input)

    def action_focus_filter(self) -> None:
        box = self._filter_input()
        if self.focused is box:
            raise SkipAction()  # a `/` typed into the filter is text
        self.set_focus(box)  # synchronous, unlike Widget.focus(): the next key goes to the box
        self._typing(True)

    def capture_key(self, event: events.Key) -> bool:
        """Called by the app for each key as it arrives, before it is queued anywhere: `/`
        moves focus to the filter box at once, and while the box has focus, text, Enter and
        Escape are applied at once, so a pasted or lagged burst such as `/max` never reaches the
        table's bindings, and `/draem⏎d` deletes from the filtered view. Other keys (arrows,
        backspace) take the normal route."""
        if not self.live or self.app.screen is not self:
            return False
        box = self._filter_input()
        if self.focused is not box:
            if event.key == "slash" and not isinstance(self.focused, Input):
                self.set_focus(box)
                self._typing(True)
                return True
            return False
        if event.key in ("enter", "escape"):
            self._leave_filter()
            return True
        if event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)
            return True
        return False

    def _leave_filter(self) -> None:
        self.set_focus(self.query_one(RunTable))
        self._typing(False)
        wanted = self.query_one(FilterBar).value
        if wanted != self.run_filter:  # the box's Changed message may still be on its way
            self.run_filter = wanted
            self.request_refresh(fetch=False)

    def _typing(self, typing: bool) -> None:
        """While the filter box has focus, a hint line stands in for the footer (whose keys
        would go into the box): one line swapped, not the footer's widgets composed again."""
        try:
            footer, hint = self.query_one(RunsFooter), self.query_one("#filter-hint")
        except NoMatches:  # being torn down
            return
        if footer.display == typing:
            footer.display, hint.display = not typing, typing

    def on_descendant_focus(self, _event: events.DescendantFocus) -> None:
        self._typing(self.focused is self._filter_input())  # a click or Tab into the box too

    def on_descendant_blur(self, _event: events.DescendantBlur) -> None:
        self._typing(self.focused is self._filter_input())

    def action_focus_table(self) -> None:
        self.query_one(RunTable).focus()

    def action_help(self) -> None:
        from adlab.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_toggle_workers(self) -> None:
        panel = self.query_one(WorkersPanel)
        panel.display = not panel.display

    def action_clear_marks(self) -> None:
        self.query_one(RunTable).clear_marks()
        self._render_status()

    def action_refresh_now(self) -> None:
        self.request_refresh()

    @on(RunTable.Highlighted)
    def _highlighted(self) -> None:
        self._render_status()

    # navigation ------------------------------------------------------------------------------
    @on(RunTable.Activated)
    def _activated(self, event: RunTable.Activated) -> None:
        self.action_open_detail()

    def open_detail(self, run_id: int) -> None:
        from adlab.tui.screens.detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(run_id))

    @on_current_view
    def action_open_detail(self) -> None:
        run_id = self.query_one(RunTable).current_id
        if run_id is not None:
            self.open_detail(run_id)

    @on_current_view
    def action_compare(self) -> None:
        from adlab.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(**self.compare_scope()))

    def compare_scope(self, *, with_marked: bool = True) -> dict[str, Any]:
        """What the compare screen compares: the marked runs, else the runs in view."""
        table = self.query_one(RunTable)
        marked = [r.id for r in table.rows if r.id in table.marked] if with_marked else []
        return dict(marked=marked, in_view=[r.id for r in table.rows],
                    headlines={r.id: r.headline_metric for r in table.rows},
                    statuses={r.id: r.status for r in table.rows},
                    whole_lab=not self.run_filter.active)

    # actions ---------------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        return self.query_one(RunTable).selected_ids()

    def _describe(self, ids: list[int]) -> str:
        names = {r.id: r.name for r in self.query_one(RunTable).rows}
        shown = ", ".join(f"#{i} {names.get(i, '')}".strip() for i in ids[:5])
        return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")

    def run_action(self, label: str, fn: Callable[..., Any], *args: Any,
                   forget: bool = False) -> None:
        """Run ``fn(engine, *args)`` in a thread; report its outcome as a notification."""
        self._status(f"{label}…")
        self._action_worker(label, fn, args, forget)

    @work(thread=True, group=ACTION_GROUP, exit_on_error=False)
    def _action_worker(self, label: str, fn: Callable[..., Any], args: Iterable[Any],
                       forget: bool) -> tuple[str, Any, bool]:
        with self.lab.data.watch.reads():  # never act on a lab that replaced the one shown
            return label, fn(self.lab.engine, *args), forget

    def _action_finished(self, worker: Worker, state: WorkerState) -> None:
        from adlab.errors import AdlabError

        if state == WorkerState.ERROR:
            exc = worker.error
            text = str(exc) if isinstance(exc, AdlabError) else f"{type(exc).__name__}: {exc}"
            self.notify(text, severity="error", timeout=8)
            self._status(text, error=True)
        else:
            label, result, forget = worker.result
            if isinstance(result, actions.BulkResult):
                if forget and result.done:
                    self.lab.data.forget(result.done)
                    self.query_one(RunTable).marked.difference_update(result.done)
                self.notify(result.summary(), title=label,
                            severity="warning" if result.errors else "information")
                self._status(result.summary(), error=bool(result.errors))
            else:
                self.notify(str(result), title=label)
                self._status(str(result))
        self.request_refresh()

    def _need_selection(self) -> list[int] | None:
        ids = self.selected_ids()
        if not ids:
            self.notify("no run selected", severity="warning")
            return None
        return ids

    def _confirm(self, prompt: str, yes_label: str, then: Callable[[], None]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmDialog(prompt, yes_label=yes_label), answered)

    @on_current_view
    def action_cancel_runs(self) -> None:
        """Cancelling queued runs is undone by Retry; stopping a running one loses its work,
        so that asks first."""
        if (ids := self._need_selection()) is None:
            return
        statuses = {r.id: r.status for r in self.query_one(RunTable).rows}
        running = [i for i in ids if statuses.get(i) == "running"]
        if not running:
            self.run_action("Cancel", actions.cancel_runs, ids)
            return
        self._confirm(f"Cancel {len(ids)} run(s) — {self._describe(ids)}? {len(running)} of "
                      "them running: their worker stops them and the work done so far is lost.",
                      "Cancel runs", lambda: self.run_action("Cancel", actions.cancel_runs, ids))

    @on_current_view
    def action_retry_runs(self) -> None:
        if (ids := self._need_selection()) is not None:
            self.run_action("Retry", actions.retry_runs, ids)

    @on_current_view
    def action_requeue_runs(self) -> None:
        if (ids := self._need_selection()) is None:
            return
        if len(ids) == 1:
            self.run_action("Re-queue", actions.requeue_runs, ids)
            return
        self._confirm(f"Queue {len(ids)} new run(s) with the configs of {self._describe(ids)}?",
                      "Re-queue", lambda: self.run_action("Re-queue", actions.requeue_runs, ids))

    @on_current_view
    def action_delete_runs(self) -> None:
        ids = self._need_selection()
        if ids is None:
            return

        self._confirm(
            f"Delete {len(ids)} run(s) — {self._describe(ids)} — with their metrics, artifact "
            "records and logs? This cannot be undone.", "Delete",
            lambda: self.run_action("Delete", actions.delete_runs, ids, forget=True))

    def action_queue_file(self) -> None:
        def chosen(path: str | None) -> None:
            if path:
                self.run_action("Queue", actions.queue_config, path)

        self.app.push_screen(PathDialog("Queue a config file (study YAML):",
                                        placeholder="examples/study.yaml"), chosen)

    @on_current_view
    def action_export_report(self) -> None:
        ids = self.selected_ids() if self.query_one(RunTable).marked else \
            [r.id for r in self.query_one(RunTable).rows]
        if not ids:
            self.notify("no runs in view to report on", severity="warning")
            return

        def chosen(path: str | None) -> None:
            if path:
                self.run_action("Export", actions.export_report, ids, path)

        default = f"exports/reports/report_{len(ids)}_runs.md"
        self.app.push_screen(PathDialog(f"Export a report of {len(ids)} run(s) to:",
                                        value=default), chosen)

    # command palette -------------------------------------------------------------------------
    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Run details", "Open the highlighted run", self.action_open_detail)
        yield SystemCommand("Compare runs", "Grouped comparison of the marked runs, else of the runs in view", self.action_compare)
        yield SystemCommand("Queue config file", "Expand a study YAML and queue its runs", self.action_queue_file)
        yield SystemCommand("Cancel runs", "Cancel the marked (or highlighted) runs", self.action_cancel_runs)
        yield SystemCommand("Retry runs", "Put failed/cancelled runs back in the queue", self.action_retry_runs)
        yield SystemCommand("Re-queue runs", "Queue a fresh run with the same config", self.action_requeue_runs)
        yield SystemCommand("Delete runs", "Delete the marked (or highlighted) runs, after confirmation", self.action_delete_runs)
        yield SystemCommand("Export report", "Write a markdown report of the selection", self.action_export_report)
        yield SystemCommand("Filter runs", "Focus the free-text filter", self.action_focus_filter)
        yield SystemCommand("Clear filters", "Show every run", lambda: self.set_filter(RunFilter()))
        yield SystemCommand("Toggle workers panel", "Show or hide the workers", self.action_toggle_workers)
        yield SystemCommand("Clear marks", "Unmark every run", self.action_clear_marks)
        for status in STATUSES:
            yield SystemCommand(f"Show {status} runs", f"Filter the table to {status} runs",
                                lambda s=status: self.set_filter(RunFilter(status=s)), discover=False)
        for column in RUN_COLUMNS:
            yield SystemCommand(f"Sort by {column.label if column.key != 'id' else 'id'}",
                                "Sort the runs table (again to reverse)",
                                lambda k=column.key: self.sort_by(k), discover=False)
