"""Run the app headless just long enough to capture the loaded runs screen as text."""
from __future__ import annotations

import asyncio

from adlab.tui.app import LabApp
from adlab.tui.capture import screen_text

LOAD_TIMEOUT_S = 30.0


def capture_runs_screen(app: LabApp, size: tuple[int, int]) -> str:
    """The runs screen's text after its first refresh (the app exits afterwards)."""
    result: dict[str, str] = {}

    async def pilot(p) -> None:  # noqa: ANN001 - textual.pilot.Pilot
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOAD_TIMEOUT_S
        while loop.time() < deadline:
            screens = [s for s in app.screen_stack if getattr(s, "refreshes", 0)]
            if screens:
                break
            await p.pause(0.05)
        await p.pause(0.1)
        result["text"] = screen_text(app)
        app.exit()

    app.run(headless=True, size=size, auto_pilot=pilot)
    return result.get("text", "")
