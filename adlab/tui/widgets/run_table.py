"""A virtualised runs table: it holds a plain list of rows and renders only the visible lines,
so replacing 10,000 rows costs a list swap, not 10,000 widget updates (Textual's DataTable
takes ~1.7 s to add 10,000 rows on a laptop core)."""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from adlab.db.tui_queries import RunRow
from adlab.tui.columns import RUN_COLUMNS, Column, fit_columns
from adlab.tui.runs_model import RowContext

MARK = "●"


class RunTable(ScrollView, can_focus=True):
    """Runs, one per line, under a fixed header line. Space marks runs for bulk actions."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("enter", "activate", "Details", show=True),
        Binding("space", "toggle_mark", "Mark", show=True),
    ]
    COMPONENT_CLASSES = {"run-table--header", "run-table--cursor", "run-table--marked",
                         "run-table--sorted"}
    DEFAULT_CSS = """
    RunTable { height: 1fr; overflow-x: hidden; }
    RunTable > .run-table--header { text-style: bold; background: $panel; }
    RunTable > .run-table--cursor { background: $accent 35%; }
    RunTable:focus > .run-table--cursor { background: $accent 60%; }
    RunTable > .run-table--marked { color: $warning; }
    RunTable > .run-table--sorted { color: $accent; text-style: bold underline; }
    """

    cursor = reactive(0, always_update=True, repaint=True)

    class Highlighted(Message):
        def __init__(self, table: "RunTable", run_id: int | None) -> None:
            super().__init__()
            self.table, self.run_id = table, run_id

    class Activated(Message):
        def __init__(self, table: "RunTable", run_id: int) -> None:
            super().__init__()
            self.table, self.run_id = table, run_id

    class SortRequested(Message):
        def __init__(self, table: "RunTable", column: str) -> None:
            super().__init__()
            self.table, self.column = table, column

    def __init__(self, columns: Sequence[Column] = RUN_COLUMNS, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(name=name, id=id, classes=classes)
        self.columns = tuple(columns)
        self.rows: list[RunRow] = []
        self.marked: set[int] = set()
        self.now = dt.datetime.now(dt.timezone.utc)
        self.context = RowContext(self.now)
        self.sort_column, self.sort_reverse = "id", True
        self._index: dict[int, int] | None = {}
        self._layout: list[tuple[Column, int]] = []
        self._layout_width = -1
        self._paint: _Paint | None = None
        self._strips: dict[tuple, Strip] = {}  # rendered lines, see render_line

    # data ------------------------------------------------------------------------------------
    def set_rows(self, rows: list[RunRow], now: dt.datetime, *, to_top: bool = False,
                 context: RowContext | None = None) -> None:
        """Show ``rows`` (already filtered and sorted), keeping the cursor on the same run, or
        on the first row when ``to_top`` (a new sort order)."""
        current = self.current_id
        same_order = rows is self.rows
        self.rows, self.now = rows, now
        self.context = context or RowContext(now)
        if not same_order:
            self._index = None
        if self.marked:
            self.marked &= self.index.keys()
        self._set_virtual_size()
        if to_top:
            new_cursor = 0
            self.scroll_to(y=0, animate=False, immediate=True)
        elif current is not None:
            new_cursor = self.index_of(current)
            if new_cursor is None:
                new_cursor = min(self.cursor, max(0, len(rows) - 1))
        else:
            new_cursor = 0
        moved = new_cursor != self.cursor or current != self.current_id_at(new_cursor)
        self.cursor = new_cursor
        self._scroll_cursor_into_view()
        self.refresh()
        if moved:
            self.post_message(self.Highlighted(self, self.current_id))

    def set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self.refresh()

    @property
    def index(self) -> dict[int, int]:
        """Run id -> line, built when first asked for after the rows changed (10,000 rows:
        a few ms that a filter keystroke need not pay)."""
        if self._index is None:
            self._index = {r.id: i for i, r in enumerate(self.rows)}
        return self._index

    def index_of(self, run_id: int) -> int | None:
        """The line of ``run_id``: the cursor's run is usually near the top, so a scan from
        there finds it sooner than building the whole index."""
        if self._index is not None:
            return self._index.get(run_id)
        for i, row in enumerate(self.rows):
            if row.id == run_id:
                return i
        return None

    def current_id_at(self, index: int) -> int | None:
        return self.rows[index].id if 0 <= index < len(self.rows) else None

    @property
    def current_id(self) -> int | None:
        return self.current_id_at(self.cursor)

    @property
    def current_row(self) -> RunRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def selected_ids(self) -> list[int]:
        """Marked runs in table order, else the run under the cursor."""
        if self.marked:
            return [r.id for r in self.rows if r.id in self.marked]
        return [self.current_id] if self.current_id is not None else []

    def select_id(self, run_id: int) -> bool:
        index = self.index_of(run_id)
        if index is None:
            return False
        self.cursor = index
        self._scroll_cursor_into_view()
        self.post_message(self.Highlighted(self, run_id))
        return True

    # actions ---------------------------------------------------------------------------------
    def _move_to(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(len(self.rows) - 1, index))
        if index != self.cursor:
            self.cursor = index
            self.post_message(self.Highlighted(self, self.current_id))
        self._scroll_cursor_into_view()

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(1, self.visible_rows() - 1))

    def action_jump(self, where: int) -> None:
        self._move_to(len(self.rows) - 1 if where < 0 else where)

    def action_activate(self) -> None:
        if self.current_id is not None:
            self.post_message(self.Activated(self, self.current_id))

    def action_toggle_mark(self) -> None:
        run_id = self.current_id
        if run_id is None:
            return
        self.marked.symmetric_difference_update({run_id})
        self._move_to(self.cursor + 1)
        self.refresh()

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()

    def visible_rows(self) -> int:
        """Rows that fit under the header line (no horizontal scrollbar: overflow-x hidden)."""
        return max(1, self.scrollable_content_region.height - 1)

    def _set_virtual_size(self) -> None:
        """A new row count moves the scrollbar's thumb, which needs no layout of the screen
        (a reflow of every widget, ~3 ms a filter keystroke): the size is set quietly and the
        scrollbar updated here; a scrollbar that appears or goes still asks for the layout."""
        size = Size(self.scrollable_content_region.width, len(self.rows) + 1)
        if size == self.virtual_size:
            return
        if not self.is_mounted or size.width != self.virtual_size.width:
            self.virtual_size = size
            return
        self.set_reactive(RunTable.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Scrolling (wheel, scrollbar) drags the cursor along, so the run that Enter, ``x``
        and ``d`` act on is always one the user can see."""
        super().watch_scroll_y(old_value, new_value)
        if not self.rows:
            return
        top = int(new_value)
        last = min(len(self.rows) - 1, top + self.visible_rows() - 1)
        if self.cursor < top or self.cursor > last:
            self.cursor = max(top, min(self.cursor, last))
            self.post_message(self.Highlighted(self, self.current_id))

    def _scroll_cursor_into_view(self) -> None:
        visible = self.visible_rows()
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    # mouse -----------------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.post_message(self.SortRequested(self, column.key))
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.rows):
            self._move_to(index)
            if event.chain >= 2:
                self.action_activate()

    def _column_at(self, x: int) -> Column | None:
        pos = 2
        for column, width in self._columns_for(self.size.width):
            if pos <= x < pos + width:
                return column
            pos += width + 1
        return None

    # rendering -------------------------------------------------------------------------------
    def on_resize(self, _event: events.Resize) -> None:
        self._set_virtual_size()
        self._scroll_cursor_into_view()

    def _columns_for(self, width: int) -> list[tuple[Column, int]]:
        if width != self._layout_width:
            self._layout = fit_columns(self.columns, width)
            self._layout_width = width
        return self._layout

    def render_lines(self, crop: Region) -> list[Strip]:
        """Look the widget's styles up once per paint (``rich_style`` walks the DOM: 0.3 ms a
        call, 30 calls a page), then render the visible lines."""
        self._paint = _Paint(self.rich_style or Style(),
                             self.get_component_rich_style("run-table--cursor"),
                             self.get_component_rich_style("run-table--marked"),
                             self.get_component_rich_style("run-table--header"),
                             self.get_component_rich_style("run-table--sorted"))
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        layout = self._columns_for(width)
        paint = self._paint or _Paint(self.rich_style or Style(), Style(), Style(), Style(),
                                      Style())
        if y == 0:
            return self._render_header(layout, width, paint)
        index = int(self.scroll_y) + y - 1
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, paint.base)
        row = self.rows[index]
        marked = row.id in self.marked
        cursor = index == self.cursor
        # finished rows render the same whatever the clock says: cached by the row itself
        clock = (self.context.now, self.context.seeds.get(row.id)) if row.status in CLOCK_STATUSES \
            else None
        # only the cursor's line shows the cursor style (focus changes it): the other lines
        # stay cached across a focus change
        key = (row, width, marked, cursor, paint.key if cursor else paint.line_key, clock)
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) > 2000:
                self._strips.clear()
            cells = [column.render(row, self.context, w) for column, w in layout]
            styles = paint.cursor_styles if cursor else paint.row_styles
            lead = (MARK + " " if marked else "  ", paint.marked)
            strip = self._strips[key] = _line_strip(cells, layout, lead, styles, width)
        return strip

    def _render_header(self, layout: list[tuple[Column, int]], width: int,
                       paint: "_Paint") -> Strip:
        cells = []
        for column, _w in layout:
            label = column.label
            if column.key == self.sort_column:
                label += " ▼" if self.sort_reverse else " ▲"
                cells.append(Text(label, style=paint.sorted))
            else:
                cells.append(Text(label))
        return _line_strip(cells, layout, ("  ", None), paint.header_styles, width)


CLOCK_STATUSES = frozenset({"running"})  # elapsed, ETA and staleness move with the clock


class _StyleSum:
    """``base + style`` for the styles of one paint, each sum computed once (Rich's Style
    addition and parsing cost microseconds that add up over 30 lines × 10 cells)."""

    def __init__(self, base: Style, over: Style | None = None) -> None:
        self.base, self.over = base, over
        self._sums: dict[object, Style] = {}

    def __call__(self, style: str | Style | None) -> Style:
        got = self._sums.get(style)
        if got is None:
            parsed = Style.parse(style) if isinstance(style, str) else style
            got = self.base + parsed if parsed else self.base
            if self.over is not None:
                got = got + self.over
            self._sums[style] = got
        return got


class _Paint:
    """The table's resolved styles for one paint; equal paints share cached lines."""

    def __init__(self, base: Style, cursor: Style, marked: Style, header: Style,
                 sorted_: Style) -> None:
        self.base, self.marked, self.sorted = base, marked, sorted_
        self.key = (base, cursor, marked, header, sorted_)
        self.line_key = (base, marked)  # what a line other than the cursor's is drawn with
        self.row_styles = _StyleSum(base)
        # the cursor's background over the cell's own colours
        self.cursor_styles = _StyleSum(base, Style(bgcolor=cursor.bgcolor, bold=cursor.bold)
                                       if cursor.bgcolor else None)
        self.header_styles = _StyleSum(base + header)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Paint) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


def _text_parts(text: Text, styles: _StyleSum) -> list[tuple[str, Style]]:
    """A cell's Text as (text, style) runs without Rich's render pipeline: the cell texts are
    short and made of appended parts, so each run between span edges gets base + text + span
    styles."""
    plain = text.plain
    if not text.spans:
        return [(plain, styles(text.style or None))]
    edges = sorted({0, len(plain), *(sp.start for sp in text.spans),
                    *(sp.end for sp in text.spans)})
    out: list[tuple[str, Style]] = []
    for start, end in zip(edges, edges[1:]):
        if start >= end or start >= len(plain):
            continue
        style = Style.parse(text.style) if isinstance(text.style, str) else (text.style or Style())
        for sp in text.spans:
            if sp.start <= start and end <= sp.end:
                style += Style.parse(sp.style) if isinstance(sp.style, str) else sp.style
        out.append((plain[start:end], styles(style)))
    return out


def _line_strip(cells: list[Text], layout: list[tuple[Column, int]],
                lead: tuple[str, Style | None], styles: _StyleSum, width: int) -> Strip:
    """One table line: lead, then each cell cut to its width (ellipsis) and padded; runs of
    one style (padding, separators, plain cells) are joined into one segment, so the line has
    a few segments instead of ~30 (each one costs in Textual's filters and in the terminal)."""
    parts: list[tuple[str, Style]] = [(lead[0], styles(lead[1]))]
    blank = styles(None)
    total = cell_len(lead[0])
    for i, (cell, (column, cell_width)) in enumerate(zip(cells, layout)):
        if i:
            parts.append((" ", blank))
            total += 1
        length = cell.cell_len
        if length > cell_width:
            cell.truncate(cell_width, overflow="ellipsis")
            length = cell.cell_len
        pad = cell_width - length
        if column.justify == "right" and pad:
            parts.append((" " * pad, blank))
        parts += _text_parts(cell, styles)
        if column.justify != "right" and pad:
            parts.append((" " * pad, blank))
        total += cell_width
    segments: list[Segment] = []
    text, style = parts[0]
    for next_text, next_style in parts[1:]:
        if next_style is style:
            text += next_text
        else:
            segments.append(Segment(text, style))
            text, style = next_text, next_style
    segments.append(Segment(text, style))
    if total == width:
        return Strip(segments, width)
    return Strip(segments).adjust_cell_length(width, blank)
