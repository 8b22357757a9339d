"""Pilot tests of the compare screen and the report export action."""
from __future__ import annotations

import pytest

from adlab.tui.capture import screen_text
from adlab.tui.screens.compare import CompareScreen
from adlab.tui.widgets.run_table import RunTable
from tui_lab import SIZE, open_compare, runs_loaded, wait_for

pytestmark = pytest.mark.asyncio


async def test_runs_in_view_are_ranked_inside_their_groups(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await runs_loaded(pilot)
        screen = await open_compare(pilot)
        result = screen.result
        assert result.mode == "ranking"
        comp = result.comparison
        assert comp.metric == "image_auroc"
        by_best = {g.best.name: [r.name for r in g.runs] for g in comp.groups}
        assert by_best == {"patchcore_wrn50_lr1e-3": ["patchcore_wrn50_lr1e-3", "patchcore_wrn50_lr1e-4"],
                           "padim_r18": ["padim_r18"]}
        text = screen_text(app)
        assert "★ best: #1 patchcore_wrn50_lr1e-3 = 0.9731" in text
        assert "★ 1" in text  # the best row is marked in its table


async def test_cross_group_selection_shows_differing_parameters(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        runs = await runs_loaded(pilot)
        table = runs.query_one(RunTable)
        for key in ("best", "padim"):
            table.select_id(lab[key])
            await pilot.press("space")
        screen = await open_compare(pilot)
        assert screen.result.mode == "differences"
        keys = [d.key for d in screen.result.comparison.differences]
        assert "model" in keys and "lr" not in keys
        text = screen_text(app)
        assert "not ranked against each other" in text
        assert "patchcore" in text and "padim" in text
        assert "★" not in text  # no ranking, no best


async def test_marked_runs_of_one_group_are_ranked(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        runs = await runs_loaded(pilot)
        table = runs.query_one(RunTable)
        for key in ("best", "second"):
            table.select_id(lab[key])
            await pilot.press("space")
        screen = await open_compare(pilot)
        assert screen.result.mode == "ranking"
        [group] = screen.result.comparison.groups
        assert [r.rank for r in group.runs] == [1, 2] and group.best.id == lab["best"]


async def test_export_report_for_the_selection(lab, make_app, isolated_lab):
    app = make_app()
    out = isolated_lab / "reports" / "selection.md"
    async with app.run_test(size=SIZE) as pilot:
        runs = await runs_loaded(pilot)
        table = runs.query_one(RunTable)
        for key in ("best", "second"):
            table.select_id(lab[key])
            await pilot.press("space")
        await pilot.press("e")
        dialog = await wait_for(pilot, lambda: app.screen is not runs and app.screen, what="dialog")
        dialog.query_one("#path").value = str(out)
        await pilot.press("enter")
        await wait_for(pilot, lambda: out.exists(), timeout=60, what="report written")
        report = out.read_text(encoding="utf-8")
        assert "patchcore_wrn50_lr1e-3" in report and "padim_r18" not in report


async def test_reopened_comparison_shows_at_once_and_is_read_again_after_a_change(lab, make_app):
    """Reopened on the same scope: with no run changed since, the comparison read before is
    the answer, on screen from the first frame; after a change it shows at once, marked with
    when it was read, and is replaced by a fresh read."""
    from sqlmodel import Session, update

    from adlab.db.models import Run

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        runs = await runs_loaded(pilot)
        first = await open_compare(pilot)
        assert first.previews == 0  # nothing to show before the first read
        text = first.query_one("#compare-scroll").text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is runs, what="back to runs")
        await pilot.press("c")
        again = await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                               and app.screen is not first and app.screen, what="reopened")
        assert again.loads == 1 and again.previews == 0  # complete at mount: nothing read
        assert again.query_one("#compare-scroll").text == text

        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is runs, what="back to runs again")
        version = app.data.stamp()
        with Session(app.engine) as s:  # a run moves on, in place: the same runs in view
            s.exec(update(Run).where(Run.id == lab["running"]).values(progress_done=130))
            s.commit()
        await wait_for(pilot, lambda: app.data.stamp() != version, what="the change read")
        await pilot.press("c")
        third = await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                               and app.screen not in (first, again) and app.screen,
                               what="reopened after a change")
        assert third.previews == 1  # the remembered comparison, shown on mount
        await wait_for(pilot, lambda: third.loads, what="read again")
        assert "shown as read at" not in third.query_one("#compare-scroll").text
