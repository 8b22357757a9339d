"""What the runs screen paints before the whole lab is read, and what later view-only rebuilds
keep (issue 18: launch to a populated table; refresh never loses the workers)."""
from __future__ import annotations

import pytest
from sqlmodel import Session

from adlab.tui.capture import screen_text
from adlab.tui.data import LabData
from adlab.tui.runs_model import NEWEST_FIRST, RunFilter, SortSpec
from adlab.tui.widgets.run_table import RunTable
from tui_lab import add_run, fixed_clock, runs_loaded, wait_for


def mixed_lab(engine) -> None:
    """300 runs: mostly finished, with queued and running ones spread through the ids, old and
    recent failures, so the first page of "needs attention" is not the newest ids."""
    with Session(engine) as s:
        for i in range(300):
            if i % 37 == 0:
                status, kw = "running", dict(started=600, done=3, total=10)
            elif i % 41 == 0:
                status, kw = "queued", {}
            elif i % 23 == 0:  # failures: some within the day, some older
                status, kw = "failed", dict(started=200_000 if i % 2 else 900,
                                            finished=190_000 if i % 2 else 800)
            else:
                status, kw = "succeeded", dict(started=900 + i, finished=800 + i, done=5, total=5)
            add_run(s, name=f"run_{i:03d}", status=status, **kw)
        s.commit()


@pytest.mark.parametrize("sort", [SortSpec(), NEWEST_FIRST])
def test_first_page_is_the_top_of_the_whole_view(engine, sort):
    mixed_lab(engine)
    data = LabData(engine, clock=fixed_clock, lease_s=60.0)
    page = data.first_page(sort, 40)
    assert page is not None and page.partial
    full = LabData(engine, clock=fixed_clock, lease_s=60.0).snapshot(RunFilter(), sort)
    assert [r.id for r in page.view] == [r.id for r in full.view[:40]]
    assert page.total == full.total == 300 and page.counts == full.counts
    assert data.first_page(SortSpec("name", False), 40) is None  # other orders wait for all


@pytest.mark.asyncio
async def test_a_filter_keeps_the_workers_listed(lab, make_app):
    app = make_app(refresh_s=30.0)  # no periodic read: the filter's rebuild alone
    async with app.run_test(size=(120, 32)) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("slash", *"patchcore")
        await wait_for(pilot, lambda: len(screen.query_one(RunTable).rows) == 2, what="filtered")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "3 worker(s)" in text and "no workers" not in text
