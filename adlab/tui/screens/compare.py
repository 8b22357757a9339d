"""The compare screen: ``adlab compare`` for the marked runs, else for the runs in view."""
from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, Iterable, Mapping

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from adlab.tui.compare_view import PREVIEW_TOP, CompareResult, load_comparison, result_lines
from adlab.tui.screens.base import LabScreen
from adlab.tui.widgets.lines_view import LinesView

COMPARE_GROUP = "compare-load"
PREVIEW_ABOVE = 500  # runs in view above which a first, shorter listing is shown at once
PAINT_WAIT_S = 0.5  # the full read waits at most this long for the preview to be drawn


class CoalescingFooter(Footer):
    """Textual's Footer, rebuilt only when the keys it shows change, and once for any number of
    binding changes that arrive before it gets to them. The stock one rebuilds all its keys on
    every change, and opening this screen sends four (screen, focus, widgets mounting) that
    change nothing it shows: ~20 ms of the UI thread each, while the first comparison was
    being read. Its keys are built with the screen instead. What it shows is the same."""

    _rebuild_pending = False
    _shown: tuple | None = None

    def compose(self) -> ComposeResult:
        # the keys are built with the screen (in its one style pass), not after it
        self.set_reactive(Footer._bindings_ready, True)
        self._shown = self._keys_shown()
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    def _keys_shown(self) -> tuple:
        active = self.screen.active_bindings
        keys = tuple((b.key, b.action, b.description, b.group, enabled, tooltip)
                     for _node, b, enabled, tooltip in active.values() if b.show)
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        return (keys, self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE,
                None if palette is None else (palette[1].key, palette[2], palette[3]))

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if not self.is_attached:
            return
        shown = self._keys_shown()
        if shown == self._shown:
            return
        self._shown = shown
        await self.recompose()


class CompareScreen(LabScreen):
    AUTO_FOCUS = "#compare-scroll"  # arrows act on the content at once
    BINDINGS = [Binding("escape,backspace", "app.pop_screen", "Back"),
                Binding("m", "focus_metric", "Metric"),
                Binding("k", "focus_keys", "Group keys"),
                Binding("ctrl+r", "reload", "Reload", show=False)]

    def __init__(self, *, marked: list[int], in_view: list[int],
                 headlines: Mapping[int, str | None] | None = None,
                 statuses: Mapping[int, str] | None = None, whole_lab: bool = False) -> None:
        super().__init__()
        self.whole_lab = whole_lab
        self.marked, self.in_view = marked, in_view
        self.headlines, self.statuses = headlines, statuses
        self.metric: str | None = None
        self.group_keys: list[str] | None = None
        self.result: CompareResult | None = None
        self.loads = 0  # complete comparisons shown (tests wait on this)
        self.previews = 0  # first screens shown before the full listing
        self._previews_at_reload = 0
        self.early_reads = 0  # first screens read from the key on (tests read this)
        # the first screen's read starts with the key, not once the screen is composed and
        # mounted (~30 ms of the UI thread on a first open); the read waits on the database
        # with the interpreter lock released, so both go on at once
        self._early: Future[tuple[CompareResult, list[Text], tuple]] | None = None
        try:
            lab = self.lab
            cached = self._cache_key() in lab.compare_cache
        except Exception:  # noqa: BLE001 - built outside a running app
            return
        if not cached and not marked and len(in_view) > PREVIEW_ABOVE:
            self._early = Future()
            threading.Thread(target=self._read_preview, args=(lab, self._early), daemon=True,
                             name="compare-first-screen").start()

    def _scope_args(self, metric: str | None, group_keys: list[str] | None) -> dict:
        return dict(marked=self.marked, in_view=self.in_view, metric=metric,
                    group_keys=group_keys, headlines=self.headlines, statuses=self.statuses,
                    whole_lab=self.whole_lab)

    def _read_preview(self, lab: Any, future: Future) -> None:
        """The first screen of a large scope: the statistics and the best few runs of each
        group (a fraction of the full read). Run at the key (see ``__init__``)."""
        try:
            stamp = lab.data.stamp()  # before the read: a change during it forces the next
            preview = load_comparison(lab.engine, top=PREVIEW_TOP, list_metrics=False,
                                      **self._scope_args(None, None))
            future.set_result((preview, result_lines(preview, preview=True), stamp))
        except BaseException as exc:  # noqa: BLE001 - raised again by the worker that waits
            future.set_exception(exc)

    def compose(self) -> ComposeResult:
        scope = (f"{len(self.marked)} marked run(s)" if self.marked
                 else f"{len(self.in_view)} run(s) in view (succeeded runs are ranked)")
        yield Static(Text.assemble((" Compare ", "bold reverse"), f"  {scope}"),
                     classes="screen-title")
        with Horizontal(id="compare-controls"):
            yield Label("metric ")
            yield Select([], prompt="headline metric", id="compare-metric")
            yield Label("  group by ")
            yield Input(placeholder="stored groups (or keys: lr,epochs)", id="compare-keys")
        # scrolls both ways: wide tables keep whole headings and values instead of `lr=0.0…`
        yield LinesView([Text("comparing…", style="dim")], id="compare-scroll")
        yield CoalescingFooter()

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#compare-scroll"))  # arrows scroll the results at once
        self.action_reload()

    def action_reload(self) -> None:
        if not self.live:
            return
        views = self.query("#compare-scroll")
        if not views:  # not composed: the app is exiting
            return
        self.result = None
        self._previews_at_reload = self.previews
        cached = self.lab.compare_cache.get(self._cache_key())
        if cached is not None and cached[3] and cached[4] == self.lab.data.stamp():
            # read complete since the last change to any run: nothing to read again
            self.result, lines = cached[0], cached[1]
            views.first(LinesView).set_lines(lines)
            self._set_metric_choices(self.result.metric_keys)
            self.loads += 1
            return
        if cached is not None:
            # the same comparison shown a moment ago: on screen at once, marked as such, and
            # replaced by a fresh read (which may differ if the lab changed meanwhile)
            result, lines, at = cached[:3]
            note = Text(f"shown as read at {at:%H:%M:%S}; reading the lab again…",
                        style="dim italic")
            self._show_preview(result, [note, *lines])
            # the read starts once this frame is painted: started at once, it took the
            # interpreter lock from the first paint (a remembered comparison showed in 0.7 s
            # instead of 0.1 s)
            self.call_after_refresh(self._load, self.metric, self.group_keys, False)
            return
        views.first(LinesView).set_lines([Text("comparing…", style="dim")])
        # nothing to show before the read: it starts at once (waiting for the screen's first
        # frames, Select and Input included, cost ~75 ms before the read even began)
        self._load(self.metric, self.group_keys, True)

    def _cache_key(self) -> tuple:
        return (tuple(self.marked), hash(tuple(self.in_view)), len(self.in_view), self.whole_lab,
                self.metric, tuple(self.group_keys or ()))

    @work(thread=True, group=COMPARE_GROUP, exclusive=True, exit_on_error=False)
    def _load(self, metric: str | None, group_keys: list[str] | None, preview: bool = True
              ) -> tuple[CompareResult, list[Text]]:
        """Off the UI thread: for a large scope, first the statistics and the best few runs of
        each group (a fraction of the read), shown at once; then the full listing."""
        worker = get_current_worker()
        stamp = self.lab.data.stamp()  # before the read: a change during it forces the next
        args = self._scope_args(metric, group_keys)
        early, self._early = self._early, None
        if preview and not self.marked and len(self.in_view) > PREVIEW_ABOVE:
            if early is not None and metric is None and group_keys is None:
                # started with the key; its stamp is older, so it is the one kept
                preview, lines, stamp = early.result()
                self.early_reads += 1
            else:
                preview = load_comparison(self.lab.engine, top=PREVIEW_TOP,
                                          list_metrics=False, **args)
                lines = result_lines(preview, preview=True)
            self.lab.remember_comparison(self._cache_key(), preview, lines, stamp,
                                         complete=False)
            if worker.is_cancelled or not self.is_attached:
                return preview, lines  # closed meanwhile: no full read for a screen not shown
            painted = threading.Event()
            self.app.call_from_thread(self._show_preview, preview, lines, painted)
            # the full read starts once the preview is on screen: started at once, it held the
            # interpreter lock while the preview's frame was being drawn
            painted.wait(PAINT_WAIT_S)
            if worker.is_cancelled or not self.is_attached:
                return preview, lines
        result = load_comparison(self.lab.engine, **args)
        lines = result_lines(result)  # built here, off the UI thread
        self.lab.remember_comparison(self._cache_key(), result, lines, stamp)
        return result, lines

    def _show_preview(self, result: CompareResult, lines: list[Text],
                      painted: threading.Event | None = None) -> None:
        views = self.query("#compare-scroll")
        if not self.is_attached or not views or self.result is not None:
            if painted is not None:
                painted.set()
            return
        if painted is not None:
            self.call_after_refresh(painted.set)
        views.first(LinesView).set_lines(lines)
        if result.metrics_listed:
            self._set_metric_choices(result.metric_keys)
        self.previews += 1

    @on(Worker.StateChanged)
    def _loaded(self, event: Worker.StateChanged) -> None:
        if event.worker.group != COMPARE_GROUP or not self.is_attached:
            return
        views = self.query("#compare-scroll")
        if not views:
            return
        body = views.first(LinesView)
        if event.state == WorkerState.SUCCESS:
            self.result, lines = event.worker.result
            body.set_lines(lines, keep_scroll=self.previews > self._previews_at_reload)
            self._set_metric_choices(self.result.metric_keys)
            self.loads += 1
        elif event.state == WorkerState.ERROR:
            self.result = None
            body.set_lines([Text(str(event.worker.error), style="bold #e06c75")])
            self.loads += 1

    def _set_metric_choices(self, keys: list[str]) -> None:
        select = self.query_one("#compare-metric", Select)
        with select.prevent(Select.Changed):
            select.set_options([(k, k) for k in keys])
            if self.metric in keys:
                select.value = self.metric

    @on(Select.Changed, "#compare-metric")
    def _metric_chosen(self, event: Select.Changed) -> None:
        self.metric = None if event.value == Select.NULL else str(event.value)
        self.action_reload()

    @on(Input.Submitted, "#compare-keys")
    def _keys_entered(self, event: Input.Submitted) -> None:
        keys = [k.strip() for k in event.value.split(",") if k.strip()]
        self.group_keys = keys or None
        self.action_reload()

    def action_focus_metric(self) -> None:
        self.query_one("#compare-metric", Select).focus()

    def action_focus_keys(self) -> None:
        self.query_one("#compare-keys", Input).focus()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Back to runs", "Close the comparison", self.app.pop_screen)
        yield SystemCommand("Choose metric", "Rank by another metric", self.action_focus_metric)
        yield SystemCommand("Group by keys", "Group by named parameters instead of stored groups",
                            self.action_focus_keys)
        yield SystemCommand("Reload comparison", "Compare again with the latest results",
                            self.action_reload)
