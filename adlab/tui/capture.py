"""Screen captures of the running app as plain text (for docs, bug reports and snapshot tests)
and as text with the styles spelled out (so a colour change is a visible difference too)."""
from __future__ import annotations

import io

from rich.console import Console
from textual.app import App


def _render(app: App, *, styles: bool) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor" if styles else None, record=True,
                      legacy_windows=False, safe_box=False)
    update = app.screen._compositor.render_update(full=True,
                                                  screen_stack=app._background_screens)
    console.print(update)
    return console.export_text(styles=styles)


def screen_text(app: App) -> str:
    """What the terminal shows, one line per row, trailing spaces trimmed."""
    lines = _render(app, styles=False).splitlines()
    return "\n".join(line.rstrip() for line in lines).rstrip("\n") + "\n"


def screen_styled(app: App) -> str:
    """The same with ANSI style codes, for comparing colours and emphasis too."""
    return _render(app, styles=True)
