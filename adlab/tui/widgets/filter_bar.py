"""The filter bar above the runs table: free text plus status, pipeline and group menus."""
from __future__ import annotations

from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.geometry import Size
from textual.message import Message
from textual.widgets import Input, Select

from adlab.tui.runs_model import STATUSES, RunFilter


class FilterText(Input):
    """The free-text box: tells its bar of each edit as the value changes, not later through
    the message queue (Input.Changed reaches the screen after a frame has been drawn)."""

    def _watch_value(self, value: str) -> None:
        # The box's width is fixed (a share of the bar), so its text growing by a letter needs
        # no layout of the screen (Input asks for one with each value): the size is set
        # quietly first, and Input's own assignment then changes nothing.
        self.set_reactive(Input.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)
        if isinstance(self.parent, FilterBar):
            self.parent._text_edited()


class FilterBar(Horizontal):
    """Posts :class:`FilterBar.Changed` with the new :class:`RunFilter` on every edit, and
    hands each edit of the text box to ``on_edit`` as it happens (the runs screen filters the
    table then, so the key and the table it implies are drawn in one frame)."""

    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar Input { width: 2fr; }
    FilterBar Select { width: 1fr; }
    """

    class Changed(Message):
        def __init__(self, run_filter: RunFilter) -> None:
            super().__init__()
            self.run_filter = run_filter

    def __init__(self, *, id: str | None = None,  # noqa: A002
                 on_edit: Callable[[RunFilter], None] | None = None) -> None:
        super().__init__(id=id)
        self._on_edit = on_edit
        self._setting = False  # set_filter changes several controls: one Changed at the end
        self._pipelines: list[str] = []
        self._groups: list[tuple[str, str]] = []
        # Values asked for by set_filter that no menu option shows yet (a group prefix, a
        # pipeline with no runs): kept until the user touches that menu.
        self._pinned: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield FilterText(placeholder="/ filter: name, study, worker, error…", id="filter-text")
        yield Select([(s, s) for s in STATUSES], prompt="status", id="filter-status")
        yield Select([], prompt="pipeline", id="filter-pipeline")
        yield Select([], prompt="group", id="filter-group")

    @property
    def value(self) -> RunFilter:
        def pick(select_id: str) -> str:
            value = self.query_one(select_id, Select).value
            if value == Select.NULL:
                return self._pinned.get(select_id, "")
            return str(value)

        return RunFilter(status=pick("#filter-status"), pipeline=pick("#filter-pipeline"),
                         group=pick("#filter-group"),
                         text=self.query_one("#filter-text", Input).value.strip())

    def set_choices(self, pipelines: list[str], groups: list[tuple[str, str]]) -> None:
        """Refresh the menus when the set of pipelines or groups changed (keeps the choice)."""
        if pipelines != self._pipelines:
            self._pipelines = pipelines
            self._reset(self.query_one("#filter-pipeline", Select), [(p, p) for p in pipelines])
        if groups != self._groups:
            self._groups = groups
            self._reset(self.query_one("#filter-group", Select), groups)

    @staticmethod
    def _reset(select: Select, options: list[tuple[str, str]]) -> None:
        current = select.value
        with select.prevent(Select.Changed):
            select.set_options(options)
            if current != Select.NULL and any(v == current for _, v in options):
                select.value = current

    def _text_edited(self) -> None:
        if self._on_edit is not None and not self._setting and self.is_mounted:
            self._on_edit(self.value)

    def set_filter(self, run_filter: RunFilter) -> None:
        """Show ``run_filter`` in the controls (posts one Changed)."""
        self._setting = True
        try:
            self._show(run_filter)
        finally:
            self._setting = False
        self.post_message(self.Changed(self.value))

    def _show(self, run_filter: RunFilter) -> None:
        self.query_one("#filter-text", Input).value = run_filter.text
        for select_id, value in (("#filter-status", run_filter.status),
                                 ("#filter-pipeline", run_filter.pipeline),
                                 ("#filter-group", run_filter.group)):
            select = self.query_one(select_id, Select)
            options = [v for v in select._legal_values if v != Select.NULL]
            match = next((v for v in options if v == value), None) or next(
                (v for v in options if value and str(v).startswith(value)), None)
            with select.prevent(Select.Changed):
                if match is not None:
                    select.value = match
                    self._pinned.pop(select_id, None)
                else:
                    select.clear()
                    if value:
                        self._pinned[select_id] = value
                    else:
                        self._pinned.pop(select_id, None)

    @on(Input.Changed, "#filter-text")
    @on(Select.Changed)
    def _changed(self, event: Input.Changed | Select.Changed) -> None:
        event.stop()
        if isinstance(event, Select.Changed) and event.select.id:
            self._pinned.pop(f"#{event.select.id}", None)
        self.post_message(self.Changed(self.value))
