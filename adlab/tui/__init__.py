"""``adlab tui``: the live monitor (Textual). Importing this package loads Textual only when
:func:`run_tui` is called, so the CLI stays fast."""
from __future__ import annotations


def run_tui(db_url: str, *, refresh_s: float = 1.0) -> int:
    """Open the monitor on ``db_url`` and block until the user quits; returns the exit code."""
    from adlab.tui.app import LabApp

    app = LabApp(db_url=db_url, refresh_s=refresh_s)
    app.run()
    return int(app.return_code or 0)
