"""An in-app viewer for text artifacts (reports, logs, JSON), usable over SSH where no desktop
application can open a file."""
from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Label, Markdown, TextArea

MAX_BYTES = 2_000_000
TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".log", ".json", ".csv", ".tsv", ".yaml", ".yml",
                 ".toml", ".ini", ".py", ".html", ".svg"}


def is_viewable(path: Path) -> bool:
    return path.suffix.lower() in TEXT_SUFFIXES


class FileViewer(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield Label(f" {self.path}", classes="screen-title")
        try:
            data = self.path.read_bytes()[:MAX_BYTES].decode("utf-8", "replace")
        except OSError as exc:
            data = f"cannot read {self.path}: {exc.strerror or exc}"
        if self.path.suffix.lower() in (".md", ".markdown"):
            yield Markdown(data, id="viewer")
        else:
            yield TextArea(data, read_only=True, id="viewer", show_line_numbers=True)
        yield Footer()
