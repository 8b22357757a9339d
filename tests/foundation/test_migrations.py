"""Schema: a blank database migrates to head; models and migrations agree; concurrent opens."""
from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import inspect

from adlab.db.engine import get_engine, make_engine
from adlab.db.migrate import current_revision, head_revision, schema_drift, upgrade


def test_blank_database_migrates_to_head(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    assert upgrade(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"runs", "params", "metrics", "artifacts", "run_items", "events", "workers"} <= tables
    assert upgrade(engine) == head_revision()  # idempotent


def test_models_and_migrations_agree(tmp_path):
    from adlab.db.schema_scripts import scanned_head

    engine = get_engine(f"sqlite:///{tmp_path / 'lab.db'}")
    assert schema_drift(engine) == []
    assert scanned_head() == head_revision()  # the fast open-time check knows the newest migration


def test_wal_mode_and_busy_timeout(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'lab.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def _open(url: str) -> None:
    get_engine(url)


def test_concurrent_first_open_migrates_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    with make_engine(url).connect() as conn:
        assert current_revision(conn) == head_revision()


def test_db_cli(cli, tmp_path):
    proc = cli("--db", str(tmp_path / "x.db"), "db", "upgrade", "--json")
    assert proc.returncode == 0, proc.stderr
    assert f'"revision": "{head_revision()}"' in proc.stdout


def test_a_database_at_the_first_revision_upgrades_on_open_and_keeps_its_runs(tmp_path):
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = make_engine(url)
    assert upgrade(old, "0001") == "0001"
    with old.begin() as conn:
        conn.execute(text(
            "INSERT INTO runs (name, study, pipeline, status, config_json, config_hash, "
            "partition_hash, group_hash, group_keys_json, priority, attempt, max_attempts, "
            "cancel_requested, progress_done, created_at, headline_metric, headline_value) "
            "VALUES ('r1', '', 'diag', 'succeeded', '{}', 'c', 'p', 'g', '[]', 0, 1, 1, 0, 0, "
            "'2026-01-01 00:00:00', 'score', 0.5)"))
    old.dispose()
    engine = get_engine(url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert conn.execute(text("SELECT name, headline_value FROM runs")).all() == [("r1", 0.5)]
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("runs")}
    assert {"ix_runs_headline_group", "ix_runs_headline_partition",
            "ix_runs_status_headline"} <= indexes
