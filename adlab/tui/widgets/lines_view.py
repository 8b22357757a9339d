"""A virtual view of pre-built text lines: only the lines on screen are turned into segments,
so a comparison of 10,000 runs (thousands of lines) shows as fast as a short one. Scrolls both
ways (wide tables keep whole values instead of `lr=0.0…`)."""
from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LinesView(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up", "scroll_up", "Up", show=False),
        Binding("down", "scroll_down", "Down", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "End", show=False),
    ]
    DEFAULT_CSS = "LinesView { height: 1fr; }"

    def __init__(self, lines: list[Text] | None = None, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.lines: list[Text] = []
        self._cache: dict[int, Strip] = {}
        self.set_lines(lines or [])

    def set_lines(self, lines: list[Text], *, keep_scroll: bool = False) -> None:
        """Show ``lines`` from the top (``keep_scroll``: where the user is, e.g. when a longer
        listing replaces a preview)."""
        self.lines = lines
        self._cache.clear()
        width = max((line.cell_len for line in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        if not keep_scroll:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    @property
    def text(self) -> str:
        """Every line as plain text (what a capture of the whole view would read)."""
        return "\n".join(line.plain for line in self.lines)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = int(self.scroll_y) + y
        if not 0 <= index < len(self.lines):
            return Strip.blank(width, self.rich_style)
        strip = self._cache.get(index)
        if strip is None:
            line = self.lines[index]
            strip = Strip(list(line.render(self.app.console)), line.cell_len)
            self._cache[index] = strip
        x = int(self.scroll_x)
        return strip.crop(x, x + width).adjust_cell_length(width).apply_style(self.rich_style)
