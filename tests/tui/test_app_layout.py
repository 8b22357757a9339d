"""Small terminals, honest progress and the workers panel (issue 18, items 5-7)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session

from adlab.db.models import Worker
from adlab.db.tui_queries import fetch_run_rows
from adlab.tui.capture import screen_text
from adlab.tui.runs_model import ProgressSeeds, RowContext, RunFilter, row_eta
from adlab.tui.screens.compare import CompareScreen
from tui_lab import NOW, add_run, ago, settled, wait_for

pytestmark = pytest.mark.asyncio


async def test_80x24_keeps_status_progress_eta_and_telling_names(lab, make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if "Status" in line)
        for column in ("Status", "Name", "Progress", "ETA"):
            assert column in header
        text = "\n".join(lines)
        assert "30m00s" in text  # the running run's ETA
        # both patchcore runs keep the end of their names, which tells them apart
        assert "lr1e-3" in text and "lr1e-4" in text


async def test_60x20_keeps_the_failed_count(lab, make_app):
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await settled(pilot)
        title = screen_text(app).splitlines()[0]
        assert "1 failed" in title and "1 running" in title and "1 queued" in title


async def test_compare_headings_are_not_cut_at_80_columns(lab, make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        runs = await settled(pilot)
        # a filtered view: compared by run ids (the fixture's stored group hashes are synthetic)
        runs.set_filter(RunFilter(pipeline="anomalib"))
        await wait_for(pilot, lambda: runs.view_current() and len(runs.snapshot.view) == 4,
                       what="anomalib runs")
        await pilot.press("c")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                                and app.screen.loads and app.screen, what="comparison")
        await pilot.press("k", *"lr", "enter")
        view = screen.query_one("#compare-scroll")
        await wait_for(pilot, lambda: screen.group_keys == ["lr"] and "lr=" in view.text,
                       what="regrouped by lr")
        assert "lr=0.0001" in view.text and "lr=0.001" in view.text, view.text
        assert "0.0…" not in view.text
        seen = ""
        for _ in range(10):  # and on screen, whole, as the view scrolls down
            seen += screen_text(app)
            if "lr=0.0001" in seen:
                break
            await pilot.press("pagedown")
        assert "lr=0.0001" in seen and "lr=0.0…" not in seen


async def test_every_worker_listed_and_a_dead_one_holds_no_run(lab, make_app, engine):
    with Session(engine) as s:
        for k in range(8):
            s.add(Worker(name=f"extra-{k:02d}", host="node3", pid=200 + k, device="cpu",
                         status="idle", started_at=ago(4000), heartbeat_at=ago(5), runs_done=k))
        s.add(Worker(name="killed", host="node4", pid=300, device="cuda:2", status="busy",
                     current_run_id=lab["running"], started_at=ago(4000), heartbeat_at=ago(300),
                     runs_done=2))
        s.commit()
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await settled(pilot)
        panel = screen.query_one("#workers")
        body = str(screen.query_one("#workers-body").render())
        assert body  # rendered
        text = screen_text(app)
        assert "12 worker(s)" in text
        killed = next(line for line in text.splitlines() if line.strip().startswith("killed"))
        assert "STALE" in killed and "#4" not in killed and "dead" in killed
        holders = [line for line in text.splitlines() if "#4 mmad_qwen_fewshot1" in line
                   and line.strip().startswith(("gpu-", "killed", "extra"))]
        assert len(holders) == 1  # only the live worker shows the run
        healthy = next(line for line in text.splitlines() if line.strip().startswith("extra-00"))
        assert "idle" in healthy and "5s ago" in healthy and "STALE" not in healthy
        # all 12 are reachable: scroll the panel to its end
        panel.scroll_end(animate=False, immediate=True)
        await pilot.pause(0.1)
        assert "extra-07" in screen_text(app)


async def test_stale_run_is_marked_and_has_no_eta(engine, make_app):
    with Session(engine) as s:
        run = add_run(s, name="orphan", status="running", started=900, done=50, total=100,
                      worker="killed", device="cuda:0")
        run.heartbeat_at = ago(400)
        s.commit()
    app = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await settled(pilot)
        line = next(line for line in screen_text(app).splitlines() if "orphan" in line)
        assert "stale" in line and "running" not in line
        assert line.count("15m00s") == 1  # the elapsed time; no ETA (it was 15m00s too)


def _row(engine, name):
    return next(r for r in fetch_run_rows(engine).rows if r.name == name)


def test_resumed_attempt_eta_uses_its_own_rate(engine):
    """263/400 done one minute into attempt 2: the run-wide guess said 32 s left; the monitor
    waits until it sees the attempt move, then extrapolates that rate."""
    with Session(engine) as s:
        run = add_run(s, name="resumed", status="running", started=61, done=263, total=400)
        run.attempt = 2
        s.commit()
    seeds = ProgressSeeds()
    row = _row(engine, "resumed")
    ctx = RowContext(NOW, 60.0, seeds.observe([row], NOW))
    assert row_eta(row, ctx) is None  # rate unknown yet: no optimistic guess
    later = NOW + dt.timedelta(seconds=30)
    moved = row._replace(progress_done=283, heartbeat_at=later)
    ctx = RowContext(later, 60.0, seeds.observe([moved], later))
    assert row_eta(moved, ctx) == pytest.approx(30 / 20 * (400 - 283))  # 175.5 s, not 32 s


def test_a_phase_that_restarts_its_count_restarts_the_rate(engine):
    with Session(engine) as s:
        add_run(s, name="phased", status="running", started=120, done=3, total=3)
        s.commit()
    row = _row(engine, "phased")
    seeds = ProgressSeeds()
    ctx = RowContext(NOW, 60.0, seeds.observe([row], NOW))
    assert row_eta(row, ctx) is None  # 3/3 but still running (exporting): not "ETA 0s"
    later = NOW + dt.timedelta(seconds=10)
    scoring = row._replace(progress_done=0, progress_total=15, progress_message="score",
                           heartbeat_at=later)
    seeds.observe([scoring], later)
    later2 = later + dt.timedelta(seconds=10)
    scoring2 = scoring._replace(progress_done=5, heartbeat_at=later2)
    ctx = RowContext(later2, 60.0, seeds.observe([scoring2], later2))
    assert row_eta(scoring2, ctx) == pytest.approx(10 / 5 * 10)
