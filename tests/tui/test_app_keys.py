"""Keys that arrive fast: `q` followed by more keys, bursts after `/`, and the cursor staying on
a visible run while scrolling (issue 18, items 1-3)."""
from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

from adlab.db.queries import get_run, list_runs
from adlab.tui.capture import screen_text
from adlab.tui.runs_model import RunFilter
from adlab.tui.screens.detail import RunDetailScreen
from adlab.tui.screens.dialogs import ConfirmDialog
from adlab.tui.screens.runs import RunsScreen
from adlab.tui.widgets.run_table import RunTable
from tui_lab import SIZE, burst, many_runs, runs_loaded, wait_for

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("keys", [("q", "c"), ("q", "n"), ("q", "e"), tuple("quick")])
async def test_keys_right_after_q_quit_cleanly(lab, make_app, keys):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await runs_loaded(pilot)
        burst(app, keys)
        await pilot.pause(0.3)
    assert app.return_code == 0 and app._exception is None
    assert app.quitting


async def test_typing_quick_with_the_table_focused_exits_without_a_traceback(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await runs_loaded(pilot)
        await pilot.press(*"quick")
    assert app.return_code == 0 and app._exception is None


@pytest.mark.parametrize("text", ["max", "diag", "xdr cancel", "/a/b"])
async def test_a_burst_after_slash_goes_into_the_filter(lab, make_app, text):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        table.select_id(lab["running"])
        burst(app, ["slash", *[{" ": "space", "/": "slash"}.get(c, c) for c in text]])
        box = screen.query_one("#filter-text", Input)
        await wait_for(pilot, lambda: box.value == text, what=f"filter {text!r}")
        await pilot.pause(0.3)
        assert app.screen is screen  # no dialog, no compare screen
        assert app.focused is box
        assert get_run(app.engine, run_id=lab["running"]).status == "running"
        assert len(list_runs(app.engine)) == 7


async def test_each_key_in_the_filter_box_filters_the_table_before_the_next_frame(
        lab, make_app):
    """The table follows a key typed into the filter box while that key is handled (not
    after a trip through a worker thread, which cost a frame or two), so the frame that shows
    the key shows its rows; Backspace too. No key is lost on the way."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("slash")
        table = screen.query_one(RunTable)
        box = screen.query_one("#filter-text", Input)
        every = list(table.rows)
        assert len(every) == 7
        for typed in ("d", "di", "dia", "diag", "diag_", "diag_s"):
            event = events.Key(typed[-1], typed[-1])
            event.set_sender(app)
            await app.on_event(event)  # the app's own handling of a key from the terminal
            # no pause: nothing queued since has run yet
            want = {r.name for r in every if RunFilter(text=typed).matches(r)}
            assert {r.name for r in table.rows} == want, typed
        assert {r.name for r in table.rows} == {"diag_smoke"}
        assert box.value == "diag_s" and screen.run_filter.text == "diag_s"
        box.action_delete_left()  # Backspace's action
        back = {r.name for r in every if RunFilter(text="diag_").matches(r)}
        assert {r.name for r in table.rows} == back and len(back) > 1
        await pilot.pause(0.3)  # the messages queued meanwhile change nothing
        assert box.value == "diag_" and {r.name for r in table.rows} == back
        assert "2 of 7 runs" in screen_text(app)


async def test_the_filter_box_swaps_the_footer_for_a_hint_without_composing_it_again(
        lab, make_app):
    """While the filter box has focus the footer's keys would go into the box: a hint line
    takes its place, and the footer comes back as it was (the same widgets, not composed
    again: that cost the first key after `/` ~25 ms)."""
    from textual.widgets._footer import FooterKey

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        footer_line = await wait_for(pilot, lambda: "x Cancel" in screen_text(app).splitlines()[-1]
                                     and screen_text(app).splitlines()[-1], what="footer")
        keys = list(screen.query(FooterKey))
        for leave in ("escape", "enter"):
            await pilot.press("slash", "d")
            await pilot.pause(0.1)
            last = screen_text(app).splitlines()[-1]
            assert last.strip().startswith("typing a filter") and "esc" in last, last
            await pilot.press(leave)
            await pilot.pause(0.1)
            assert screen_text(app).splitlines()[-1] == footer_line
            assert list(screen.query(FooterKey)) == keys  # the very same widgets
        await pilot.click("#filter-text")  # focus by mouse: the hint too
        await pilot.pause(0.1)
        assert screen_text(app).splitlines()[-1].strip().startswith("typing a filter")


async def test_the_periodic_read_waits_while_a_filter_is_typed_but_not_for_long(
        lab, make_app):
    from adlab.tui.screens import runs

    app = make_app(refresh_s=60.0)  # the ticks below are the test's own
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        await wait_for(pilot, lambda: not screen._inflight, what="the first read done")
        await pilot.press("slash", "d")
        screen._tick()
        assert not screen._inflight  # a key was typed just now: no read
        screen._read_at -= runs.TYPING_HOLD_S  # typing for that long: read anyway
        screen._tick()
        assert screen._inflight
        await wait_for(pilot, lambda: not screen._inflight, what="the read done")
        assert screen.query_one("#filter-text", Input).value == "d"


async def test_burst_with_enter_filters_then_acts_on_the_table(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        burst(app, ["slash", *"draem", "enter", "d"])  # filter, back to the table, delete
        dialog = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen,
                                what="delete dialog for the filtered run")
        assert "draem_tiny" in dialog.prompt
        assert screen.query_one("#filter-text", Input).value == "draem"
        await pilot.press("n")


async def test_one_press_call_after_slash_escape_returns(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("slash", *"diag", "escape")
        assert isinstance(app.focused, RunTable)
        await wait_for(pilot, lambda: {r.name for r in screen.query_one(RunTable).rows}
                       == {"diag_smoke", "diag_long"}, what="diag filter")


async def test_the_scrollbar_follows_the_filtered_row_count(engine, make_app):
    """A filter keystroke sets the table's size without a layout of the screen: the scrollbar
    still shows the new count, goes when the rows fit, comes back when they do not, and the
    last run can still be scrolled to."""
    many_runs(engine, 60)  # sweep_lr_000 .. sweep_lr_059
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        assert table.show_vertical_scrollbar
        assert table.vertical_scrollbar.window_virtual_size == 61  # 60 lines and the header
        await pilot.press("end", "slash", *"lr_0")  # 000..059 all match: scrolled to the end
        await pilot.press("2")  # 020..029
        await pilot.pause(0.1)
        assert len(table.rows) == 10 and not table.show_vertical_scrollbar
        assert table.scroll_y == 0 and table.cursor < 10
        assert "sweep_lr_029" in screen_text(app) and "sweep_lr_020" in screen_text(app)
        await pilot.press("backspace")
        await pilot.pause(0.1)
        assert len(table.rows) == 60 and table.show_vertical_scrollbar
        assert table.vertical_scrollbar.window_virtual_size == 61
        await pilot.press("escape", "end")
        await pilot.pause(0.1)
        last = table.rows[-1].name
        assert last in screen_text(app) and table.current_row.name == last


async def test_cursor_stays_visible_and_the_last_run_can_be_seen(engine, make_app):
    ids = many_runs(engine, 60)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        assert not table.show_horizontal_scrollbar
        await pilot.press("end")
        await pilot.pause(0.1)
        assert table.current_id == ids[0]
        lines = screen_text(app).splitlines()
        assert any(line.split()[:1] == [str(ids[0])] for line in lines), "run #1 row not on screen"
        # the mouse wheel moves the view; the cursor comes along and stays on a visible row
        for _ in range(10):
            table.post_message(events.MouseScrollUp(table, 0, 0, 0, 0, 0, False, False, False))
        await pilot.pause(0.3)
        top = int(table.scroll_y)
        assert top <= table.cursor < top + table.visible_rows()
        visible_id = table.current_id
        assert any(line.split()[:1] == [str(visible_id)] for line in screen_text(app).splitlines())
        await pilot.press("enter")
        detail = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen,
                                what="detail")
        assert detail.run_id == visible_id


async def test_sorting_starts_at_the_top(engine, make_app):
    many_runs(engine, 60)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        table = screen.query_one(RunTable)
        await pilot.press("end")
        assert table.cursor == 59
        before = screen.refreshes
        await pilot.press("s")  # from the default order ("needs attention") to # (newest first)
        await wait_for(pilot, lambda: screen.refreshes > before and screen.sort.column == "id",
                       what="sorted")
        await pilot.pause(0.1)
        assert table.cursor == 0 and table.scroll_y == 0
        assert isinstance(app.screen, RunsScreen)
