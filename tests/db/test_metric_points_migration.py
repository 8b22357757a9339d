"""Migration 0005 on an old lab that holds duplicate metric rows: built at revision 0004 with the
real Alembic scripts, then upgraded the way a user's lab is (on open), on SQLite and PostgreSQL.

The latest row of each (run, key, scope, step) is the one with the highest id; the rows of one
point are given created_at times running backwards (hosts with skewed clocks) so that a
migration deciding by time would keep the wrong one. The commands that read metrics print the
same numbers before (the old lab, read in place) and after (`adlab ...` processes)."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from adlab.config.loader import build_run_specs
from adlab.db.engine import get_engine, make_engine
from adlab.db.migrate import alembic_config, current_revision, head_revision, schema_drift, upgrade
from adlab.db.models import Metric
from adlab.db.runs import insert_run

Point = tuple[int, str, str, int | None]
T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


def build_old_lab(url: str) -> tuple[list[int], dict[Point, tuple[float | None, str | None]], int]:
    """A lab at revision 0004: three diag runs (one group, seeds 0-2, categories a and b) whose
    metrics were recorded several times each. Returns the run ids, the latest (value, note) of
    every point, and how many rows were written."""
    old = make_engine(url)
    assert upgrade(old, "0004") == "0004"
    specs = build_run_specs({"pipeline": "diag", "categories": ["a", "b"],
                             "grid": {"seed": [0, 1, 2]}})
    run_ids: list[int] = []
    with Session(old) as s:
        for spec in specs:
            run_ids.append(insert_run(s, spec, status="succeeded", attempt=1,
                                      started_at=T0, finished_at=T0, event="made at 0004"))
        s.commit()
    # (key, scope, step, values in recording order); None: undefined, with a note
    recorded: list[tuple[str, str, int | None, list[float | None]]] = [
        ("value", "", None, [0.1, 0.2, 0.3]),
        ("value", "a", None, [0.4, 0.5]),
        ("value", "b", None, [0.6]),
        ("steps_run", "", None, [1.0, 1.0]),  # a write retried after its commit landed
        ("loss", "", 0, [0.9, 0.8]),
        ("loss", "", 1, [0.7]),
        ("loss", "", 2, [0.6, 0.5, 0.4]),
        ("f1", "", None, [0.5, None]),
        ("auroc", "a", 0, [None, 0.25]),
    ]
    rows: list[dict[str, Any]] = []
    latest: dict[Point, tuple[float | None, str | None]] = {}
    for round_ in range(3):  # interleaved: ids of one point are not adjacent
        for n, rid in enumerate(run_ids):
            for key, scope, step, values in recorded:
                if round_ >= len(values):
                    continue
                v = None if values[round_] is None else values[round_] + n / 100
                note = "undefined: no anomalous image" if v is None else None
                rows.append({"run_id": rid, "key": key, "scope": scope, "step": step, "value": v,
                             "note": note, "created_at": T0 - dt.timedelta(minutes=round_)})
                latest[(rid, key, scope, step)] = (v, note)
    with old.begin() as conn:
        conn.execute(Metric.__table__.insert(), rows)  # type: ignore[attr-defined]
        for rid in run_ids:  # the old writer copied the value written last
            conn.execute(text("UPDATE runs SET headline_metric = 'value', headline_value = :v "
                              "WHERE id = :id"), {"v": latest[(rid, "value", "", None)][0],
                                                  "id": rid})
    old.dispose()
    return run_ids, latest, len(rows)


def stored(engine: Engine) -> list[tuple[Point, tuple[float | None, str | None]]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, key, scope, step, value, note FROM metrics "
                                 "ORDER BY id")).all()
    return [((r, k, sc, st), (v, n)) for r, k, sc, st, v, n in rows]


def check_one_row_per_point(engine: Engine, latest: dict[Point, Any]) -> None:
    rows = stored(engine)
    counts = Counter(p for p, _ in rows)
    assert max(counts.values()) == 1, [p for p, c in counts.items() if c > 1]
    assert dict(rows) == latest
    rid = next(iter(latest))[0]
    with engine.begin() as conn:  # and the database itself now refuses a second row
        for dup_step in (None, 1):  # NULL steps are equal for the index too
            with pytest.raises(IntegrityError):
                with conn.begin_nested():
                    conn.execute(Metric.__table__.insert(),  # type: ignore[attr-defined]
                                 {"run_id": rid, "key": "value", "scope": "", "step": dup_step,
                                  "value": 0.0, "created_at": T0})
                    conn.execute(Metric.__table__.insert(),  # type: ignore[attr-defined]
                                 {"run_id": rid, "key": "value", "scope": "", "step": dup_step,
                                  "value": 0.0, "created_at": T0})


def test_an_old_sqlite_lab_keeps_the_latest_row_of_each_point(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _, latest, written = build_old_lab(url)
    assert written > len(latest) + 10  # the lab really holds duplicates
    engine = get_engine(url)  # opening upgrades, as any adlab command does
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision() == "0005"
    check_one_row_per_point(engine, latest)
    assert schema_drift(engine) == []


@pytest.mark.postgres
def test_an_old_postgresql_lab_keeps_the_latest_row_of_each_point(pg_url):
    _, latest, written = build_old_lab(pg_url)
    assert written > len(latest) + 10
    engine = get_engine(pg_url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    check_one_row_per_point(engine, latest)
    assert schema_drift(engine) == []


def test_downgrade_drops_the_index_and_upgrading_again_deduplicates(tmp_path):
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    run_ids, latest, _ = build_old_lab(url)
    engine = get_engine(url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with engine.connect() as conn:
        assert current_revision(conn) == "0004"
    assert "uq_metrics_point" not in _indexes(engine)
    point = (run_ids[0], "value", "", None)
    with engine.begin() as conn:  # at 0004 a second row goes in again
        conn.execute(Metric.__table__.insert(),  # type: ignore[attr-defined]
                     {"run_id": point[0], "key": "value", "scope": "", "step": None,
                      "value": 0.99, "created_at": T0})
    assert [p for p, _ in stored(engine)].count(point) == 2
    assert upgrade(engine) == head_revision()
    check_one_row_per_point(engine, {**latest, point: (0.99, None)})
    assert "uq_metrics_point" in _indexes(engine)


def _indexes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {name for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}


def numbers(doc: Any) -> Any:
    """A compare document without the parameter listings (how a process and an in-place call
    word the params differs; the ranks, values, deltas and statistics are what must agree)."""
    if isinstance(doc, dict):
        return {k: numbers(v) for k, v in doc.items() if k not in ("params", "differing")}
    if isinstance(doc, list):
        return [numbers(v) for v in doc]
    return doc


def _keep_last(rows: list[dict[str, Any]], *fields: str) -> list[dict[str, Any]]:
    """Rows in id order with only the last of each point, in the order of those last rows."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[f] for f in fields)
        out.pop(key, None)
        out[key] = row
    return list(out.values())


def test_commands_reading_metrics_print_the_same_numbers_after_the_upgrade(tmp_path, cli):
    from adlab.analysis.compare import compare
    from adlab.cli._common import to_jsonable
    from adlab.db.queries import run_detail
    from adlab.interchange.exporters import collect_runs

    url = f"sqlite:///{tmp_path / 'old.db'}"
    run_ids, latest, _ = build_old_lab(url)

    def jsonable(obj: Any) -> Any:
        return json.loads(json.dumps(to_jsonable(obj)))

    before_lab = make_engine(url)  # the old lab read in place, duplicates and all
    before = {
        "value": jsonable(compare(before_lab, metrics=["value", "steps_run", "f1"]).to_json()),
        "scope": jsonable(compare(before_lab, metrics=["value"], scope="a").to_json()),
        "show": jsonable(run_detail(before_lab, run_id=run_ids[1])),
        "export": jsonable(collect_runs(before_lab)),
    }
    with before_lab.connect() as conn:
        assert current_revision(conn) == "0004"
    before_lab.dispose()

    def run(*args: str) -> Any:
        proc = cli("--db", url, *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    after_value = run("compare", "--metric", "value", "--metric", "steps_run", "--metric", "f1",
                      "--json")
    assert numbers(after_value) == numbers(before["value"])
    # per scope the values and ranks agree too; the group's run count did not: the old lab's
    # two rows of (run, value, a) counted each run twice (6 runs, "incomplete")
    after_scope = run("compare", "--metric", "value", "--scope", "a", "--json")
    [was], [now] = before["scope"]["groups"], after_scope["groups"]
    assert (was["n_runs"], was["complete"], now["n_runs"], now["complete"]) == (6, False, 3, True)
    for doc in (before["scope"], after_scope):
        del doc["groups"][0]["n_runs"], doc["groups"][0]["complete"]
    assert numbers(after_scope) == numbers(before["scope"])
    assert {r["id"]: r["values"]["value"] for r in now["runs"]} == {
        rid: latest[(rid, "value", "a", None)][0] for rid in run_ids}
    # and those are the latest values of each run
    [group] = after_value["groups"]
    assert {r["id"]: r["values"] for r in group["runs"]} == {
        rid: {k: latest[(rid, k, "", None)][0] for k in ("value", "steps_run", "f1")}
        for rid in run_ids}
    show = run("show", str(run_ids[1]), "--json")
    assert show["metrics"] == _keep_last(before["show"]["metrics"], "key", "scope", "step")
    assert {(m["key"], m["scope"], m["step"]): (m["value"], m["note"])
            for m in show["metrics"]} == {
        (k, sc, st): got for (rid, k, sc, st), got in latest.items() if rid == run_ids[1]}
    proc = cli("--db", url, "export", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    exported = json.loads(proc.stdout)["runs"]
    for was, now in zip(before["export"], exported, strict=True):
        assert now["metrics"] == _keep_last(was["metrics"], "key", "scope")
        assert {(m["key"], m["scope"]): m["value"] for m in now["metrics"]} == {
            (k, sc): v for (rid, k, sc, st), (v, _) in latest.items()
            if rid == was["id"] and st is None}
