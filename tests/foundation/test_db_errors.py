"""Reading a lab needs no write access; a database adlab must not use is left as it was.

The read-only cases run ``adlab`` as a real process that sees file modes as an ordinary user
does (as root: without the permission-override capabilities). The sentences for each failure
are checked case by case in tests/lifecycle/test_bad_inputs.py.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from adlab.db.engine import dispose_all, get_engine
from adlab.errors import DatabaseError
from adlab.interchange.importers import ImportedRun, write_runs

NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def _as_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot see file modes as a user would")
    return NO_OVERRIDE


def _adlab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*_as_user(), sys.executable, "-m", "adlab", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def _seeded_lab(path: Path) -> None:
    engine = get_engine(f"sqlite:///{path}")
    write_runs(engine, [ImportedRun(
        name=f"r{i}", pipeline="moleflow", params={"lr": 1e-4, "seed": i},
        metrics=[("img_auc", "", 0.9 + i / 100)], headline_metric="img_auc")
        for i in range(3)], source="test")
    dispose_all()


def _freeze(folder: Path) -> None:
    for p in folder.iterdir():
        p.chmod(0o444)
    folder.chmod(0o555)


@pytest.fixture
def read_only_lab(tmp_path):
    folder = tmp_path / "share"
    folder.mkdir()
    _seeded_lab(folder / "lab.db")
    assert sorted(p.name for p in folder.iterdir()) == ["lab.db"]  # no -wal/-shm left
    _freeze(folder)
    yield folder / "lab.db"
    folder.chmod(0o755)


def test_a_lab_in_a_read_only_folder_can_be_listed_compared_reported_and_exported(
        read_only_lab, tmp_path):
    db = str(read_only_lab)
    runs = _adlab("--db", db, "runs", "--json", cwd=tmp_path)
    assert runs.returncode == 0, runs.stderr
    assert [r["name"] for r in json.loads(runs.stdout)] == ["r0", "r1", "r2"]
    compared = _adlab("--db", db, "compare", "--json", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["n_runs"] == 3
    out = tmp_path / "out"
    out.mkdir()
    report = _adlab("--db", db, "report", "-o", str(out / "r.md"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "r2" in (out / "r.md").read_text()
    exported = _adlab("--db", db, "export", "--format", "csv", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.count("\n") == 4  # header + 3 runs
    assert sorted(p.name for p in read_only_lab.parent.iterdir()) == ["lab.db"]  # nothing written


def test_a_read_only_reader_sees_what_a_live_writer_committed(tmp_path):
    """A writer (another user, here this process) keeps ``-wal``/``-shm`` beside the lab: the
    read-only reader opens through them (not as an immutable file) and sees the newest commit,
    which is still only in the WAL."""
    folder = tmp_path / "share"
    folder.mkdir()
    _seeded_lab(folder / "lab.db")
    writer = sqlite3.connect(folder / "lab.db")
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE runs SET name = 'committed_in_wal' WHERE name = 'r2'")
        writer.commit()
        assert (folder / "lab.db-wal").stat().st_size > 0
        _freeze(folder)
        runs = _adlab("--db", str(folder / "lab.db"), "runs", "--json", cwd=tmp_path)
    finally:
        folder.chmod(0o755)
        writer.close()
    assert runs.returncode == 0, runs.stderr
    assert "committed_in_wal" in [r["name"] for r in json.loads(runs.stdout)]


def test_a_write_to_a_read_only_lab_is_one_sentence_and_changes_nothing(read_only_lab, tmp_path):
    before = read_only_lab.read_bytes()
    proc = _adlab("--db", str(read_only_lab), "delete", "--yes", "1", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert f"database {read_only_lab} is read-only for this user" in proc.stderr
    assert read_only_lab.read_bytes() == before


def test_another_applications_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="holds tables of another application"):
        get_engine(f"sqlite:///{path}")
    assert path.read_bytes() == before


def test_a_newer_schema_is_refused_on_open_and_by_db_upgrade_but_db_current_reads_it(
        tmp_path, cli):
    db = tmp_path / "lab.db"
    _seeded_lab(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = 'ffff0000'")
    conn.commit()
    conn.close()
    current = cli("--db", str(db), "db", "current", "--json")
    assert current.returncode == 0, current.stderr
    assert json.loads(current.stdout)["revision"] == "ffff0000"
    for args in (("runs",), ("db", "upgrade")):
        proc = cli("--db", str(db), *args)
        assert proc.returncode == 1
        assert "schema revision 'ffff0000', which this adlab" in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_postgres_connection_lost_mid_command_is_one_sentence_naming_the_database(pg_url):
    """The server ends the session while a query runs (as on a restart): the CLI's last-resort
    handler words the driver error (which carries its engine's URL) as one sentence."""
    import threading
    import time

    import psycopg
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from adlab.cli._common import database_failure

    engine = get_engine(pg_url)
    url = make_url(pg_url)

    def terminate() -> None:
        time.sleep(1.0)
        with psycopg.connect(host=url.host, port=url.port, user="postgres", dbname="postgres",
                             autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,))

    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        with pytest.raises(Exception) as caught, engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(30)"))
    finally:
        killer.join()
    said = database_failure(caught.value)
    assert isinstance(said, DatabaseError)
    assert str(said).startswith(f"lost the connection to PostgreSQL database '{url.database}' "
                                f"at {url.host}:{url.port}")
    assert "\n" not in str(said) and "sqlalche.me" not in str(said)


COMMANDS_THAT_OPEN_THE_LAB = [
    ("runs",), ("show", "1"), ("logs", "1"), ("queue", "study.yaml"),
    ("worker", "--until-empty"), ("cancel", "1"), ("retry", "1"), ("delete", "--yes", "1"),
    ("compare",), ("compare", "--pivot", "category"), ("report", "-o", "r.md"),
    ("tui", "--capture", "c.txt"), ("import", "runs.csv"), ("export",), ("db", "current"),
    ("db", "upgrade"), ("db", "copy", "--to", "copy.db"),
]


@pytest.mark.parametrize("args", COMMANDS_THAT_OPEN_THE_LAB, ids=" ".join)
def test_every_command_that_opens_the_lab_names_a_bad_database_in_one_sentence(
        args, tmp_path, capsys):
    from adlab.cli.app import main

    (tmp_path / "notes.txt").write_text("shopping list\n")
    (tmp_path / "study.yaml").write_text("pipeline: diag\n")
    (tmp_path / "runs.csv").write_text("run_id,tags.mlflow.runName,metrics.auroc\nr1,a,0.9\n")
    with pytest.raises(SystemExit) as exit_:
        main(["--db", "notes.txt", *args])
    out, err = capsys.readouterr()
    assert exit_.value.code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'notes.txt'} is not an SQLite database (file is not a database); "
        "point --db/ADLAB_DB at the lab's database, or move this file away to start a new lab "
        "at that path"]
    assert (tmp_path / "notes.txt").read_text() == "shopping list\n"
