"""A first comparison of a large scope (more than PREVIEW_ABOVE runs in view): its first screen
is read from the key on, while the screen is composed, and shows the same statistics as the
complete read that replaces it; the warm-up after the launch reads that first screen once
(statement shapes compiled) and keeps nothing of it."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import insert, select

from adlab.db.models import Metric, Run
from adlab.tui.compare_view import load_comparison, result_lines, warm_up
from adlab.tui.screens.compare import PREVIEW_ABOVE
from tui_lab import SIZE, runs_loaded, wait_for

N_RUNS = PREVIEW_ABOVE + 100


def _large_lab(engine) -> None:
    rng = random.Random(7)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    rows = [dict(name=f"patchcore_{i:04d}", study="s", pipeline="anomalib", status="succeeded",
                 config_json="{}", config_hash=f"{i:064d}", partition_hash=f"{i % 3:064d}",
                 group_hash=f"{i % 12:064x}", group_keys_json="[]", created_at=now,
                 started_at=now, finished_at=now, headline_metric="image_auroc",
                 headline_value=round(rng.random(), 4)) for i in range(N_RUNS)]
    with engine.begin() as conn:
        conn.execute(insert(Run), rows)
        done = conn.execute(select(Run.id, Run.headline_value)).all()
        conn.execute(insert(Metric), [dict(run_id=i, key="image_auroc", scope="", value=v,
                                           created_at=now) for i, v in done])


def _headings(text: str) -> list[str]:
    """Each group's size and statistics line (what the preview and the full read share)."""
    return [line.strip() for line in text.splitlines() if " run(s) · " in line]


@pytest.mark.asyncio
async def test_first_screen_read_from_the_key_shows_the_full_read_s_statistics(engine, make_app):
    from adlab.tui.screens.compare import CompareScreen

    _large_lab(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await runs_loaded(pilot)
        await wait_for(pilot, lambda: app.warmed_up, what="warm-up")
        assert app.compare_cache == {}  # the warm-up's read is not kept
        await pilot.press("c")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                                and app.screen, what="compare screen")
        await wait_for(pilot, lambda: screen.loads, timeout=60, what="full read")
        # the first screen was read from the key on, shown, then replaced by the full read
        assert screen.early_reads == 1 and screen.previews == 1 and screen._early is None
        full = screen.query_one("#compare-scroll").text
        scope = app.runs_screen.compare_scope()
    preview = load_comparison(engine, top=3, list_metrics=False, metric=None, group_keys=None,
                              **scope)
    first = "\n".join(line.plain for line in result_lines(preview, preview=True))
    assert "listing the best 3 of each group" in first
    assert f"{N_RUNS} run(s) with image_auroc in 12 group(s)" in first
    assert _headings(first) == _headings(full) and len(_headings(full)) == 12


def test_warm_up_with_a_scope_reads_the_same_first_screen(engine):
    _large_lab(engine)
    with engine.connect() as conn:
        ids = list(conn.execute(select(Run.id)).scalars())
    scope = dict(marked=[], in_view=ids, headlines={i: "image_auroc" for i in ids},
                 statuses={i: "succeeded" for i in ids}, whole_lab=True)
    warm_up(engine, scope)
    preview = load_comparison(engine, top=3, list_metrics=False, metric=None, group_keys=None,
                              **scope)
    lines = [line.plain for line in result_lines(preview, preview=True)]
    assert sum(g.n_runs for g in preview.comparison.groups) == N_RUNS
    assert any(line.startswith("listing the best 3") for line in lines)
