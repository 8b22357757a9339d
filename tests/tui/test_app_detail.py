"""Pilot tests of the run detail screen: config, provenance, metrics per category, the log
following live, artifacts that open, and MMAD accuracy per question type as answers land."""
from __future__ import annotations

import pytest
from sqlmodel import Session

from adlab.db.models import Event, Metric
from adlab.tui.capture import screen_text
from adlab.tui.screens.detail import RunDetailScreen
from adlab.tui.screens.viewer import FileViewer
from adlab.tui.widgets.run_table import RunTable
from tui_lab import SIZE, add_answers, runs_loaded, wait_for

pytestmark = pytest.mark.asyncio


async def open_detail(pilot, run_id: int) -> RunDetailScreen:
    screen = await runs_loaded(pilot)
    screen.query_one(RunTable).select_id(run_id)
    await pilot.press("enter")
    return await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen)
                          and pilot.app.screen.refreshes and pilot.app.screen, what="detail")


async def test_detail_shows_config_provenance_and_metrics_per_category(lab, make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, lab["best"])
        text = screen_text(app)
        assert "patchcore_wrn50_lr1e-3" in text and "image_auroc=0.9731" in text
        assert "git_commit" in text and "0123abcd" in text and '"lr": 0.001' in text
        await pilot.press("2")
        await pilot.pause(0.1)
        text = screen_text(app)
        for row in ("(run)", "bottle", "cable", "0.9950", "0.8804", "n/a (no defect pixels)"):
            assert row in text
        assert detail.run_id == lab["best"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RunDetailScreen), what="back")


async def test_log_follows_new_events_live(lab, make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, lab["running"])
        await pilot.press("3")
        log = detail.query_one("#log-body")
        assert log.line_count == 0
        with Session(engine) as s:
            s.add(Event(run_id=lab["running"], source="pipeline", message="answered 121 of 480"))
            s.commit()
        await wait_for(pilot, lambda: any("answered 121 of 480" in line for line in log.lines),
                       what="new log line")
        with Session(engine) as s:
            s.add(Metric(run_id=lab["running"], key="accuracy", value=61.5, scope="MVTec-AD"))
            s.commit()
        await pilot.press("2")
        await wait_for(pilot, lambda: "MVTec-AD" in screen_text(app), what="new metric shown")


async def test_artifacts_open_in_the_viewer_or_copy_their_path(lab, make_app, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot, lab["best"])
        await pilot.press("4")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "runs/best/report.md" in text and "heatmap_bottle.png" in text
        await pilot.press("o")  # first row: the markdown report
        await wait_for(pilot, lambda: isinstance(app.screen, FileViewer), what="viewer")
        await wait_for(pilot, lambda: "PatchCore report" in screen_text(app), what="report text")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="back")
        app.screen.query_one("#artifacts-body").move_cursor(row=1)
        await pilot.press("o")  # the heatmap: no desktop here, so its path is copied
        await wait_for(pilot, lambda: app.clipboard.endswith("runs/best/heatmap_bottle.png"),
                       what="path copied")


async def test_mmad_accuracy_per_question_type_accumulates(lab, make_app, engine):
    run_id = lab["running"]
    add_answers(engine, run_id, [
        ("MVTec-AD/bottle/test/good/000.png", "Anomaly Detection", "A", "A"),
        ("MVTec-AD/bottle/test/broken/001.png", "Anomaly Detection", "B", "A"),
        ("MVTec-AD/bottle/test/broken/001.png", "Defect Type", "C", "C"),
        ("MVTec-AD/bottle/test/broken/001.png", "Object Structure", "D", None),
    ])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, run_id)
        await wait_for(pilot, lambda: detail.tab_data.get("mmad") is not None, what="MMAD scored")
        await pilot.press("5")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "MMAD accuracy" in text
        assert "100.0% (1/1)" in text  # Defect Type
        assert "0.0% (0/1)" in text  # Object Analysis (merged), unparseable counts wrong
        assert detail.tab_data["mmad"]["MVTec-AD"]["Anomaly Detection"] == 50.0  # balanced: 100% and 0%
        assert "1 unparseable" in text
        add_answers(engine, run_id, [
            ("MVTec-AD/bottle/test/broken/002.png", "Defect Type", "A", "B"),
            ("VisA/pcb1/test/good/003.png", "Defect Type", "A", "A"),
        ], start=10)
        await wait_for(pilot, lambda: detail.tab_data["mmad"]["MVTec-AD"]["Defect Type"] == 50.0,
                       what="accuracy updated")
        assert detail.tab_data["mmad"]["VisA"]["Defect Type"] == 100.0
        await wait_for(pilot, lambda: "50.0% (1/2)" in screen_text(app), what="screen updated")


def test_detail_title_marks_a_silent_running_run_stale_without_eta():
    """The detail title follows the runs table: a running run whose heartbeat is older than
    the lease is stale and has no ETA (it showed "running … ETA 961d22h")."""
    from adlab.tui.screens.detail import title_text
    from tui_lab import NOW, ago

    run = {"id": 4, "name": "mmad_qwen_fewshot1", "status": "running", "pipeline": "mmad",
           "started_at": ago(600), "progress_done": 120, "progress_total": 480}
    live = title_text({**run, "heartbeat_at": ago(2)}, NOW, 60.0).plain
    assert "running" in live and "ETA 30m00s" in live
    dead = title_text({**run, "heartbeat_at": ago(600)}, NOW, 60.0).plain
    assert "stale" in dead and "ETA" not in dead and "running" not in dead
