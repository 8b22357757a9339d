"""Arrow keys work where the eye is (artifacts, compare results) and destructive actions ask
first (issue 18, item 8)."""
from __future__ import annotations

import pytest

from adlab.db.queries import get_run, list_runs
from adlab.tui.screens.compare import CompareScreen
from adlab.tui.screens.detail import RunDetailScreen
from adlab.tui.screens.dialogs import ConfirmDialog
from adlab.tui.screens.viewer import FileViewer
from adlab.tui.widgets.run_table import RunTable
from tui_lab import SIZE, runs_loaded, wait_for

pytestmark = pytest.mark.asyncio


async def test_artifacts_take_arrow_keys_and_o_opens_the_highlighted_one(lab, make_app, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        screen.query_one(RunTable).select_id(lab["best"])
        await pilot.press("enter")
        detail = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                                and app.screen.refreshes and app.screen, what="detail")
        await pilot.press("4", "down", "o")  # no Tab in between
        await pilot.pause(0.2)
        assert app.screen is detail  # the heatmap (2nd row) has no in-app viewer: path copied
        assert app.clipboard.endswith("heatmap_bottle.png")
        await pilot.press("up", "o")
        await wait_for(pilot, lambda: isinstance(app.screen, FileViewer), what="report viewer")
        assert app.screen.path.name == "report.md"


async def test_compare_results_scroll_with_arrows_at_once(lab, make_app):
    app = make_app()
    async with app.run_test(size=(80, 12)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("c")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                                and app.screen.loads and app.screen, what="comparison")
        scroll = screen.query_one("#compare-scroll")
        assert app.focused is scroll
        await pilot.press("down", "down")
        await pilot.pause(0.1)
        assert scroll.scroll_y == 2


async def test_cancelling_a_running_run_asks_first(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        screen.query_one(RunTable).select_id(lab["running"])
        await pilot.press("x")
        dialog = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen,
                                what="confirmation")
        assert "mmad_qwen_fewshot1" in dialog.prompt and "running" in dialog.prompt
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not get_run(app.engine, run_id=lab["running"]).cancel_requested
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="again")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.last_message and "Cancel…" not in screen.last_message[0],
                       what="cancel done")
        run = get_run(app.engine, run_id=lab["running"])
        assert run.cancel_requested or run.status == "cancelled", screen.last_message


async def test_requeueing_several_runs_asks_first(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        for key in ("failed", "cancelled"):
            table.select_id(lab[key])
            await pilot.press("space")
        await pilot.press("R")
        dialog = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen,
                                what="confirmation")
        assert "Queue 2 new run(s)" in dialog.prompt
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert len(list_runs(app.engine)) == 7
