"""`?`: every key of the monitor, read from the screens' own bindings (so it cannot drift)."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA = (("space", "Mark / unmark the highlighted run (bulk actions use the marks)"),
         ("click header", "Sort by that column (again to reverse)"),
         ("ctrl+p", "Command palette: every action by name"))


def _keys(binding: Binding) -> str:
    return binding.key_display or ", ".join(k.strip() for k in binding.key.split(","))


def help_table() -> Table:
    from adlab.tui.screens.compare import CompareScreen
    from adlab.tui.screens.detail import RunDetailScreen
    from adlab.tui.screens.runs import RunsScreen
    from adlab.tui.widgets.run_table import RunTable

    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column(style="bold #e5c07b", no_wrap=True)
    table.add_column()
    for title, classes in (("Runs", (RunsScreen, RunTable)), ("Run detail", (RunDetailScreen,)),
                           ("Compare", (CompareScreen,))):
        table.add_row(Text(title, style="bold underline"), "")
        seen: set[str] = set()
        for cls in classes:
            for b in cls.BINDINGS:
                if not isinstance(b, Binding) or not b.description or b.description in seen:
                    continue
                seen.add(b.description)
                table.add_row(_keys(b), b.description)
        if title == "Runs":
            for key, text in EXTRA:
                table.add_row(key, text)
        table.add_row("", "")
    table.add_row("q", "Quit")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 100%; height: 90%;
                                  border: thick $accent; background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_table())

    def action_dismiss(self) -> None:
        self.dismiss(None)
