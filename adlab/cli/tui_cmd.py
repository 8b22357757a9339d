"""``adlab tui``: the live monitor. Textual and the TUI code load only when the command runs."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from adlab.cli._common import db_url, info


def _parse_size(size: str) -> tuple[int, int]:
    from adlab.errors import AdlabError

    try:
        width, height = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise AdlabError(f"--size {size!r}: expected COLUMNSxROWS, e.g. 120x32") from None
    if width < 40 or height < 10:
        raise AdlabError(f"--size {size!r} is too small; use at least 40x10")
    return width, height


def tui_command(
    refresh: float = typer.Option(1.0, "--refresh", min=0.1, help="Seconds between database reads."),
    capture: Optional[Path] = typer.Option(
        None, "--capture",
        help="Write a text capture of the runs screen to FILE once loaded, then exit "
             "(no terminal needed; for docs and bug reports)."),
    size: str = typer.Option("120x32", "--size", help="Terminal size for --capture (COLSxROWS)."),
) -> None:
    """Watch the lab live: runs, progress, workers, details, comparison, and actions."""
    from adlab.db.engine import get_engine
    from adlab.errors import AdlabError

    engine = get_engine(db_url())
    from adlab.tui.app import LabApp

    if capture is not None:
        from adlab.tui.capture_run import capture_runs_screen

        text = capture_runs_screen(LabApp(engine=engine, refresh_s=refresh), _parse_size(size))
        capture.write_text(text, encoding="utf-8")
        info(f"wrote {capture}")
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise AdlabError("adlab tui needs an interactive terminal; use `adlab runs` in scripts "
                         "or `adlab tui --capture FILE` for a text capture")
    app = LabApp(engine=engine, refresh_s=refresh)
    app.run()
    if app.return_code:
        raise typer.Exit(app.return_code)


def register(app: typer.Typer) -> None:
    app.command("tui")(tui_command)
