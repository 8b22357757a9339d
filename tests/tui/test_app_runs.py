"""Pilot tests of the runs screen: it loads, filters, sorts, and the actions change the lab."""
from __future__ import annotations

import pytest

from adlab.db.queries import get_run, list_runs
from adlab.tui.runs_model import RunFilter
from adlab.tui.widgets.run_table import RunTable

from tui_lab import SIZE, runs_loaded, wait_for

pytestmark = pytest.mark.asyncio


def shown(app) -> list[str]:
    return [r.name for r in app.screen.query_one(RunTable).rows]


async def test_opens_with_every_run_needing_attention_first(lab, make_app):
    """Running, then queued, then the failures of the last day, then the rest newest first."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        assert [r.id for r in table.rows] == [lab["running"], lab["queued"], lab["failed"],
                                              lab["cancelled"], lab["padim"], lab["second"],
                                              lab["best"]]
        assert screen.snapshot.counts == {"queued": 1, "running": 1, "succeeded": 3,
                                          "failed": 1, "cancelled": 1}
        assert "sorted by needs attention ▼" in str(screen.query_one("#runs-status").render())


async def test_newest_first_is_a_sort_option(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("s")  # the first column after the default order: # (newest first)
        await wait_for(pilot, lambda: screen.view_current() and screen.sort.column == "id",
                       what="sorted by id")
        assert screen.sort.reverse
        assert [r.id for r in screen.query_one(RunTable).rows] == sorted(lab.values(), reverse=True)
        assert "sorted by # ▼" in str(screen.query_one("#runs-status").render())


async def test_free_text_status_and_pipeline_filters(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("slash", *"patchcore")
        await wait_for(pilot, lambda: len(shown(app)) == 2, what="text filter")
        assert set(shown(app)) == {"patchcore_wrn50_lr1e-3", "patchcore_wrn50_lr1e-4"}
        await pilot.press("enter")  # back to the table
        assert isinstance(app.focused, RunTable)

        screen.set_filter(RunFilter())
        await wait_for(pilot, lambda: len(shown(app)) == 7, what="filter cleared")
        # status menu driven with the keyboard: open it and pick "failed" (4th status)
        app.screen.query_one("#filter-status").focus()
        await pilot.press("enter", "down", "down", "down", "down", "enter")
        await wait_for(pilot, lambda: shown(app) == ["draem_tiny"], what="status filter")

        screen.set_filter(RunFilter(pipeline="anomalib", text="lr1e-4"))
        await wait_for(pilot, lambda: shown(app) == ["patchcore_wrn50_lr1e-4"], what="pipeline+text")
        group = get_run(app.engine, run_id=lab["padim"]).group_hash
        screen.set_filter(RunFilter(group=group[:8]))
        await wait_for(pilot, lambda: set(shown(app)) == {"padim_r18", "draem_tiny"}, what="group")
        assert "2 of 7 runs" in str(screen.query_one("#runs-status").render())


async def test_sorting_by_key_and_by_header_click(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        x = 2 + sum(w + 1 for c, w in table._columns_for(table.size.width)[:2])  # Name column
        await pilot.click(RunTable, offset=(x + 1, 0))
        await wait_for(pilot, lambda: screen.sort.column == "name" and shown(app) == sorted(shown(app)),
                       what="sort by name")
        await pilot.click(RunTable, offset=(x + 1, 0))  # again: reversed
        await wait_for(pilot, lambda: shown(app) == sorted(shown(app), reverse=True), what="reverse")
        screen.sort_by("metric", reverse=True)
        await wait_for(pilot, lambda: shown(app)[:3] == ["patchcore_wrn50_lr1e-3",
                                                         "patchcore_wrn50_lr1e-4", "padim_r18"],
                       what="sort by metric")
        await pilot.press("s")  # cycles to the next column
        await wait_for(pilot, lambda: screen.sort.column == "worker", what="cycled sort")


async def test_cancel_retry_requeue_from_the_keyboard(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        table.select_id(lab["queued"])
        await pilot.press("x")
        await wait_for(pilot, lambda: get_run(app.engine, run_id=lab["queued"]).status == "cancelled",
                       what="cancel")
        await wait_for(pilot, lambda: next(r for r in table.rows if r.id == lab["queued"]).status
                       == "cancelled", what="table shows cancel")
        table.select_id(lab["failed"])
        await pilot.press("r")
        await wait_for(pilot, lambda: get_run(app.engine, run_id=lab["failed"]).status == "queued",
                       what="retry")
        table.select_id(lab["cancelled"])
        await pilot.press("R")
        await wait_for(pilot, lambda: len(shown(app)) == 8, what="re-queued run in the table")
        again = [r for r in list_runs(app.engine) if r.name == "diag_long"]
        assert [r.status for r in again] == ["cancelled", "queued"]
        assert get_run(app.engine, run_id=again[1].id).config_hash == \
            get_run(app.engine, run_id=lab["cancelled"]).config_hash
        # an action that cannot apply reports the queue's own sentence
        table.select_id(lab["best"])
        await pilot.press("r")
        await wait_for(pilot, lambda: "only failed or cancelled runs can be retried"
                       in str(screen.query_one("#runs-status").render()), what="error shown")


async def test_delete_asks_first_and_acts_on_marked_runs(lab, make_app):
    from adlab.tui.screens.dialogs import ConfirmDialog

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        table.select_id(lab["cancelled"])
        await pilot.press("space")  # mark, cursor moves down
        table.select_id(lab["failed"])
        await pilot.press("space")
        # in table order ("needs attention": the recent failure above the cancelled run)
        assert table.selected_ids() == [lab["failed"], lab["cancelled"]]
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="dialog")
        assert "2 run(s)" in app.screen.prompt
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="dialog closed")
        assert len(list_runs(app.engine)) == 7
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="dialog again")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(shown(app)) == 5, what="rows gone")
        assert {r.id for r in list_runs(app.engine)} == set(lab.values()) - {lab["cancelled"], lab["failed"]}


async def test_queue_a_config_file_through_the_dialog(lab, make_app, isolated_lab):
    study = isolated_lab / "study.yaml"
    study.write_text("pipeline: diag\nsteps: 2\ngrid:\n  value: [0.25, 0.75]\n", encoding="utf-8")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await runs_loaded(pilot)
        await pilot.press("n")
        await pilot.press(*"study.yaml", "enter")  # relative to the working directory
        await wait_for(pilot, lambda: len(shown(app)) == 9, what="queued runs shown")
        assert {"diag_2x0s_value0.25", "diag_2x0s_value0.75"} <= set(shown(app))
        await pilot.press("n", *"missing.yaml", "enter")
        await wait_for(pilot, lambda: "does not exist" in str(app.screen.query_one("#runs-status").render()),
                       what="missing file reported")


async def test_every_action_has_a_footer_key_and_a_palette_entry(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        from adlab.tui.capture import screen_text

        footer = await wait_for(pilot, lambda: "x Cancel" in screen_text(app).splitlines()[-1]
                                and screen_text(app).splitlines()[-1], what="footer")
        for label in ("c Compare", "n Queue file", "x Cancel", "r Retry", "R Re-queue",
                      "d Delete", "e Export", "/ Filter", "^p palette"):
            assert label in footer
        titles = {c.title for c in app.get_system_commands(screen)}
        assert {"Queue config file", "Cancel runs", "Retry runs", "Re-queue runs", "Delete runs",
                "Export report", "Compare runs", "Run details"} <= titles
        # the palette runs the action: cancel the highlighted queued run
        screen.query_one(RunTable).select_id(lab["queued"])
        await pilot.press("ctrl+p")
        await pilot.press(*"Cancel runs")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: get_run(app.engine, run_id=lab["queued"]).status == "cancelled",
                       what="palette cancel")


async def test_live_update_when_a_real_worker_runs_the_queue(engine, make_app):
    import subprocess
    import sys

    from adlab.config.loader import build_run_specs
    from adlab.queue import enqueue

    specs = build_run_specs({"pipeline": "diag", "steps": 4, "step_seconds": 0.25,
                             "value": 0.625})
    [run_id] = enqueue(engine, specs).created
    app = make_app(clock=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        assert table.rows[0].status == "queued"
        worker = subprocess.Popen([sys.executable, "-m", "adlab", "worker", "--until-empty",
                                   "--poll", "0.1", "--name", "live-w"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            seen: set[str] = set()

            def status() -> str:
                seen.add(table.rows[0].status)
                return table.rows[0].status

            await wait_for(pilot, lambda: status() == "succeeded", timeout=60, what="succeeded")
            assert "running" in seen  # the table showed the run while it ran
            row = table.rows[0]
            assert (row.headline_metric, row.headline_value) == ("value", 0.625)
            assert (row.progress_done, row.progress_total) == (4, 4)
            await wait_for(pilot, lambda: any(w.name == "live-w" for w in screen.snapshot.workers),
                           what="worker listed")
        finally:
            worker.wait(timeout=60)
        assert worker.returncode == 0, worker.stderr.read()
