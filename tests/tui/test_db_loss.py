"""The monitor outlives its database: a lab.db deleted, replaced or damaged under a running
``adlab tui``, or its PostgreSQL server stopped, is one line in the status bar (no traceback,
no stale lab shown as live), the refresh keeps retrying, the table keeps the rows last read,
and q still quits. Real SQLite files and a real PostgreSQL server."""
from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from adlab.tui.widgets.run_table import RunTable

from tui_lab import SIZE, runs_loaded, wait_for

pytestmark = pytest.mark.asyncio


def status_line(app) -> str:
    return str(app.screen.query_one("#runs-status").render())


def lab_files(root: Path) -> list[Path]:
    return [p for p in (root / "lab.db", root / "lab.db-wal", root / "lab.db-shm") if p.exists()]


async def lost(pilot, *words: str) -> str:
    """The status line once it reports the lost database with ``words``; one line, no trace."""
    line = await wait_for(pilot, lambda: (s := status_line(pilot.app)).startswith("database lost:")
                          and all(w in s for w in words) and s, what=f"database lost: {words}")
    assert "\n" not in line and "Traceback" not in line and "[SQL:" not in line, line
    return line


async def quits(pilot) -> None:
    await pilot.press("q")
    await wait_for(pilot, lambda: pilot.app.return_code is not None or not pilot.app.is_running,
                   what="quit")


async def test_a_deleted_lab_db_is_reported_and_a_copy_put_back_is_not_shown_as_it(
        lab, make_app, isolated_lab: Path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        saved = isolated_lab / "saved"
        saved.mkdir()
        for f in lab_files(isolated_lab):
            shutil.copy(f, saved / f.name)
            f.unlink()
        line = await lost(pilot, f"database {isolated_lab / 'lab.db'} was deleted",
                          "retrying; q quits")
        assert len(screen.query_one(RunTable).rows) == 7  # the rows last read stay
        assert not (isolated_lab / "lab.db").exists()  # the retries do not create an empty lab
        refreshes = screen.refreshes

        for f in saved.iterdir():  # the same bytes, but another file: not the lab it opened
            shutil.copy(f, isolated_lab / f.name)
        line = await lost(pilot, "was replaced by another file", "restart the command")
        await pilot.pause(0.5)  # retried a few times, still refused
        assert status_line(app) == line and screen.refreshes == refreshes

        screen.query_one(RunTable).select_id(lab["queued"])
        await pilot.press("x")  # cancel: refused, the other file is not the lab shown
        await wait_for(pilot, lambda: screen.last_message is not None
                       and "was replaced by another file" in screen.last_message[0],
                       what="action refused")
        with contextlib.closing(sqlite3.connect(isolated_lab / "lab.db")) as conn:
            assert conn.execute("SELECT status, cancel_requested FROM runs WHERE id = ?",
                                (lab["queued"],)).fetchone() == ("queued", 0)
        await quits(pilot)


async def test_the_lost_database_sentence_is_whole_at_80_by_24_and_goes_when_it_is_back(
        lab, make_app, isolated_lab: Path):
    """What is wrong and what to do (restore the file, or point --db/ADLAB_DB at the lab) is
    on the screen at 80 columns: the status line wraps the sentence instead of cutting it,
    and is one line again once the database answers."""
    from adlab.tui.capture import screen_text

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        saved = isolated_lab / "saved"
        saved.mkdir()
        files = lab_files(isolated_lab)
        for f in files:
            shutil.copy(f, saved / f.name)
            f.unlink()
        await lost(pilot, "was deleted", "restore the file", "retrying; q quits")
        sentence = screen.db_lost
        assert sentence is not None and len(sentence) > 80  # it cannot fit on one line
        status = screen.query_one("#runs-status")

        async def whole(sentence: str) -> None:
            await wait_for(pilot, lambda: status.region.height > 1, what="the line wrapped")
            await pilot.pause(0.1)
            x, y, width, height = status.region
            shown = [line[x:x + width] for line in screen_text(app).splitlines()[y:y + height]]
            # every character of the sentence, in order, inside the status line (wrapping
            # only breaks it between words)
            assert "".join("".join(shown).split()) == "".join(sentence.split()), shown
            assert screen.query_one(RunTable).region.height >= 5  # the table still shows runs

        await whole(sentence)
        for f in saved.iterdir():  # another file in its place: another sentence, also whole
            shutil.copy(f, isolated_lab / f.name)
        await lost(pilot, "was replaced by another file", "restart the command")
        await whole(screen.db_lost)
        await quits(pilot)


async def test_a_lab_db_damaged_in_place_is_reported_and_recovers_when_restored(
        lab, make_app, isolated_lab: Path):
    db = isolated_lab / "lab.db"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        with contextlib.closing(sqlite3.connect(db)) as conn:  # fold the WAL into the file
            assert conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()[0] == 0
        original = db.read_bytes()
        with db.open("r+b") as f:  # same file (same inode), garbage over its pages
            f.write(b"this is not an sqlite database".ljust(len(original), b"\0"))
        # Open connections keep reading the pages they cached (WAL mode trusts its index);
        # a connection opened after the damage (the pool opens one whenever reads overlap)
        # reads the file itself.
        app.engine.dispose()
        await lost(pilot, f"{db} is not an SQLite database", "retrying; q quits")
        with db.open("r+b") as f:
            f.write(original)
        await wait_for(pilot, lambda: screen.db_lost is None
                       and "of 7 runs" in status_line(app), what="recovered")
        # the summary is one line again, however many the lost sentence took
        await wait_for(pilot, lambda: screen.query_one("#runs-status").region.height == 1,
                       what="one status line")
        await quits(pilot)


def pg_ctl(pg, *args: str) -> None:
    proc = subprocess.run(pg._cmd(str(pg.bin_dir / "pg_ctl"), "-D", str(pg.root / "data"), *args),
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr


async def test_a_stopped_postgresql_server_is_reported_and_recovers_when_it_is_back(
        isolated_lab: Path):
    from testservers.postgres import PostgresUnavailable, start_temp_postgres

    from tui_lab import fixed_clock

    from adlab.config.loader import build_run_specs
    from adlab.db.engine import get_engine
    from adlab.queue import enqueue
    from adlab.tui.app import LabApp

    try:
        pg = start_temp_postgres(max_connections=20)
    except PostgresUnavailable as exc:
        pytest.skip(f"needs a PostgreSQL server: {exc}")
    try:
        engine = get_engine(pg.create_database("tui_loss"))
        enqueue(engine, build_run_specs({"pipeline": "diag", "grid": {"value": [1, 2, 3]}}))
        app = LabApp(engine=engine, refresh_s=0.2, clock=fixed_clock, lease_s=60.0,
                     db_label="pg")
        async with app.run_test(size=SIZE) as pilot:
            screen = await runs_loaded(pilot)
            pg_ctl(pg, "-m", "fast", "stop")
            await lost(pilot, f"PostgreSQL database 'tui_loss' at 127.0.0.1:{pg.port}")
            assert len(screen.query_one(RunTable).rows) == 3
            pg_ctl(pg, "-w", "-t", "60", "-l", str(pg.root / "server.log"), "restart")
            await wait_for(pilot, lambda: screen.db_lost is None
                           and "of 3 runs" in status_line(app), timeout=30, what="recovered")
            await quits(pilot)
    finally:
        pg.stop()


async def test_the_run_detail_screen_reports_a_deleted_lab_db_in_its_title(
        lab, make_app, isolated_lab: Path):
    from adlab.tui.screens.detail import RunDetailScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await runs_loaded(pilot)
        screen.query_one(RunTable).select_id(lab["running"])
        await pilot.press("enter")
        detail = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                                and app.screen.refreshes and app.screen, what="detail")
        for f in lab_files(isolated_lab):
            f.unlink()
        title = await wait_for(pilot, lambda: "was deleted" in (
            t := str(detail.query_one("#detail-title").render())) and t, what="detail lost")
        assert f"run #{lab['running']}: database {isolated_lab / 'lab.db'} was deleted" in title
        await quits(pilot)
