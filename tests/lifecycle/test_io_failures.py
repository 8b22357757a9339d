"""The worker survives its own I/O failures and stops loudly when its database goes away."""
from __future__ import annotations

import os
import sqlite3
import stat

from adlab.config.loader import build_run_specs
from adlab.db.queries import get_run, list_runs
from adlab.queue import enqueue
from lab_helpers import start_worker, wait_until


def _unwritable_artifacts(tmp_path):  # noqa: ANN001, ANN202
    """An artifacts folder the worker cannot write: read-only, or (as root, who ignores
    permissions) a file standing where the folder should be."""
    root = tmp_path / "exports"
    if os.geteuid() == 0:
        root.write_text("not a folder")
    else:
        root.mkdir()
        root.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return root


def test_unwritable_artifacts_fail_the_run_with_the_path_and_the_worker_goes_on(engine, tmp_path):
    root = _unwritable_artifacts(tmp_path)
    enqueue(engine, build_run_specs({"pipeline": "diag", "grid": {"value": [0.1, 0.2]}}))
    w = start_worker("--until-empty", env={"ADLAB_ARTIFACTS": str(root)})
    assert w.wait(timeout=120) == 0
    err = w.stderr.read()
    assert "unexpected" not in err
    runs = list_runs(engine)
    assert [r.status for r in runs] == ["failed", "failed"]  # both tried: the worker went on
    for r in runs:
        assert str(root) in r.error and "make the artifacts folder" in r.error, r.error
        assert "adlab retry" in r.error


def _delete_db(path) -> None:  # noqa: ANN001
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def test_deleting_the_database_stops_an_idle_worker_loudly(engine, tmp_path):
    db = tmp_path / "lab.db"
    w = start_worker("--name", "idle", env={"ADLAB_LEASE_S": "2"})
    wait_until(lambda: "worker idle on" in (w.stderr.readline() or ""), timeout=60)
    _delete_db(db)
    assert w.wait(timeout=30) != 0
    err = w.stderr.read()
    assert f"database {db} was deleted" in err, err
    assert not db.exists()  # no new, empty lab made at the same path


def test_replacing_the_database_stops_a_busy_worker_and_writes_nothing(engine, tmp_path):
    db = tmp_path / "lab.db"
    [rid] = enqueue(engine, build_run_specs({"pipeline": "diag", "steps": 300,
                                             "step_seconds": 0.1})).created
    w = start_worker("--name", "busy", env={"ADLAB_LEASE_S": "2"})
    wait_until(lambda: get_run(engine, run_id=rid).progress_done >= 2, timeout=120)
    engine.dispose()
    with sqlite3.connect(db) as src, sqlite3.connect(tmp_path / "copy.db") as dst:
        src.backup(dst)  # a consistent copy (the WAL included)
    _delete_db(db)
    os.replace(tmp_path / "copy.db", db)  # same content, another file
    assert w.wait(timeout=30) != 0
    err = w.stderr.read()
    assert f"database {db} was replaced" in err, err
    from adlab.db.engine import dispose_all

    dispose_all()
    run = get_run(engine, run_id=rid)  # the copy: the stopped worker wrote nothing to it
    assert run.status == "running" and run.worker == "busy"
