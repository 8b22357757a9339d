"""Snapshot tests of the main screens at a fixed terminal size, clock and database."""
from __future__ import annotations

import pytest

from adlab.tui.screens.compare import CompareScreen
from adlab.tui.screens.detail import RunDetailScreen
from adlab.tui.widgets.run_table import RunTable
from snapshot import assert_snapshot
from tui_lab import SIZE, settled, wait_for

pytestmark = pytest.mark.asyncio


async def test_runs_screen(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert_snapshot(app, "runs")


async def test_runs_screen_narrow_terminal(lab, make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert_snapshot(app, "runs_80x24")


async def test_detail_screen(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await settled(pilot)
        screen.query_one(RunTable).select_id(lab["best"])
        await pilot.press("enter")
        detail = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                                and app.screen.refreshes and app.screen, what="detail")
        await pilot.pause(0.1)
        assert_snapshot(app, "detail_overview")
        await pilot.press("2")
        await pilot.pause(0.1)
        assert_snapshot(app, "detail_metrics")
        assert detail.run_id == lab["best"]


async def test_compare_screen(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.loads,
                       what="comparison")
        await pilot.pause(0.1)
        assert_snapshot(app, "compare")


async def test_delete_dialog(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await settled(pilot)
        screen.query_one(RunTable).select_id(lab["failed"])
        await pilot.press("d")
        await pilot.pause(0.2)
        assert_snapshot(app, "delete_dialog")


async def test_runs_screen_wide_terminal(lab, make_app):
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await settled(pilot)
        assert_snapshot(app, "runs_160x45")


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_compare_screen_sizes(lab, make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.loads,
                       what="comparison")
        await pilot.pause(0.1)
        assert_snapshot(app, f"compare_{size[0]}x{size[1]}")


async def test_detail_metrics_80x24(lab, make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settled(pilot)
        screen.query_one(RunTable).select_id(lab["best"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.refreshes, what="detail")
        await pilot.press("2")
        await pilot.pause(0.1)
        assert_snapshot(app, "detail_metrics_80x24")
