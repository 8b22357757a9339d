"""The runs cache stays equal to the database through incremental reads; filters and sorts."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from adlab.config.loader import build_run_specs
from adlab.db.tui_queries import fetch_run_rows, fetch_workers
from adlab.queue import cancel, claim, delete_run, enqueue, finish, register_worker, retry
from adlab.tui import fmt
from adlab.tui.data import LabData
from adlab.tui.runs_model import RunCache, RunFilter, SortSpec, view_rows
from tui_lab import NOW, add_run, fixed_clock


def full_rows(engine) -> dict:
    return {r.id: r for r in fetch_run_rows(engine).rows}


def test_incremental_reads_track_every_kind_of_change(engine):
    ids = enqueue(engine, build_run_specs({"pipeline": "diag", "grid": {"value": [0.1, 0.2, 0.3, 0.4]}})).created
    data = LabData(engine)
    every = RunFilter()
    data.snapshot(every, SortSpec())
    register_worker(engine, name="w", host="h", pid=1, device="cpu")
    run = claim(engine, worker="w", device="cpu")
    finish(engine, run_id=run.id, worker="w", attempt=run.attempt, status="succeeded")  # not seen running
    cancel(engine, ids[1])
    retry(engine, ids[1])
    delete_run(engine, ids[2])  # a deletion made elsewhere forces a full reload
    enqueue(engine, build_run_specs({"pipeline": "diag", "value": 0.9}))
    snap = data.snapshot(every, SortSpec())
    assert data.cache.rows == full_rows(engine)
    assert snap.total == 4 and snap.counts["succeeded"] == 1 and snap.full_reload
    # without a deletion the next read is incremental and small
    cancel(engine, ids[3])
    snap = data.snapshot(every, SortSpec())
    assert not snap.full_reload and data.cache.rows == full_rows(engine)


def test_incremental_read_skips_rows_finished_long_ago(engine):
    with Session(engine) as s:
        for i in range(50):
            add_run(s, name=f"old{i}", status="succeeded", started=900, finished=800)
        add_run(s, name="recent", status="succeeded", started=900, finished=10)
        add_run(s, name="waiting", status="queued")
        s.commit()
    cache = RunCache()
    cache.apply(fetch_run_rows(engine))
    query = cache.next_query()
    assert [cache.rows[i].name for i in query["watch_ids"]] == ["waiting"]
    # re-read: the watched run and finishes within the margin of the newest one seen
    assert [r.name for r in fetch_run_rows(engine, **query).rows] == ["recent", "waiting"]


def test_cache_apply_reports_count_mismatch(engine):
    enqueue(engine, build_run_specs({"pipeline": "diag", "grid": {"value": [0.1, 0.2]}}))
    cache = RunCache()
    assert cache.apply(fetch_run_rows(engine))
    batch = fetch_run_rows(engine, **cache.next_query())
    assert cache.apply(batch)
    with Session(engine) as s:  # a deletion the incremental read cannot see
        add_run(s, name="x", status="succeeded", finished=10_000_000)
        s.commit()
    delete_run(engine, 1)
    assert not cache.apply(fetch_run_rows(engine, **cache.next_query()))


def _rows(engine):
    with Session(engine) as s:
        add_run(s, name="b_run", status="succeeded", pipeline="anomalib", study="s1",
                group="aa" * 32, headline=("auroc", 0.8), started=100, finished=50)
        add_run(s, name="a_run", status="running", pipeline="diag", study="s2", group="bb" * 32,
                started=100, done=1, total=4, worker="gpu-7", device="cuda:0")
        add_run(s, name="c_run", status="failed", pipeline="diag", group="bb" * 32,
                error="CUDA out of memory", started=100, finished=90)
        add_run(s, name="d_run", status="succeeded", pipeline="anomalib", group="aa" * 32,
                headline=("auroc", 0.95), started=100, finished=20)
        s.commit()
    return list(fetch_run_rows(engine).rows)


def test_filters_match_status_pipeline_group_and_words(engine):
    rows = _rows(engine)

    def names(f: RunFilter) -> list[str]:
        return sorted(r.name for r in view_rows(rows, f, SortSpec(), NOW))

    assert names(RunFilter(status="succeeded")) == ["b_run", "d_run"]
    assert names(RunFilter(pipeline="diag")) == ["a_run", "c_run"]
    assert names(RunFilter(group="bbbb")) == ["a_run", "c_run"]
    assert names(RunFilter(text="memory")) == ["c_run"]  # error text
    assert names(RunFilter(text="gpu-7 s2")) == ["a_run"]  # every word must match
    assert names(RunFilter(pipeline="anomalib", text="d_")) == ["d_run"]


def test_sorts_put_missing_values_last_both_ways(engine):
    rows = _rows(engine)
    for reverse in (False, True):
        got = [r.name for r in view_rows(rows, RunFilter(), SortSpec("metric", reverse), NOW)]
        assert got[2:] and set(got[2:]) == {"a_run", "c_run"}
        assert got[:2] == (["d_run", "b_run"] if reverse else ["b_run", "d_run"])
    by_eta = [r.name for r in view_rows(rows, RunFilter(), SortSpec("eta", False), NOW)]
    assert by_eta[0] == "a_run"  # the only run with an ETA
    by_elapsed = [r.name for r in view_rows(rows, RunFilter(), SortSpec("elapsed", True), NOW)]
    assert by_elapsed[0] == "a_run"  # running for 100 s; the others finished sooner


def test_workers_query_joins_current_run(engine):
    enqueue(engine, build_run_specs({"pipeline": "diag"}))
    register_worker(engine, name="w1", host="h", pid=1, device="cuda:3")
    claim(engine, worker="w1", device="cuda:3")
    [w] = fetch_workers(engine)
    assert (w.name, w.device, w.status, w.current_run_name) == ("w1", "cuda:3", "busy", "diag_1x0s")
    assert w.heartbeat_at.tzinfo is not None


def test_formatting():
    assert [fmt.duration(s) for s in (None, 5, 65, 3725, 90000)] == ["", "5s", "1m05s", "1h02m", "1d01h"]
    start = NOW - dt.timedelta(seconds=100)
    assert fmt.elapsed_seconds("running", start, None, NOW) == 100
    assert fmt.eta_seconds("running", 100, 25, 100) == 300
    assert fmt.eta_seconds("succeeded", 100, 25, 100) is None
    bar = fmt.progress_bar(5, 10, 14)
    assert bar.plain == "████░░░░░ 5/10" and bar.cell_len == 14
    assert fmt.progress_bar(99, 100, 14).plain == "██████░ 99/100"  # not full until done
    assert fixed_clock() == NOW


def test_view_now_filters_the_sorted_rows_without_a_read_or_a_sort(engine):
    """A keystroke's view on the UI thread (LabData.view_now): the same rows as a snapshot
    builds, none before the first snapshot or after the rows changed; one more letter filters
    the view kept for the shorter text, and Backspace gets the kept view back."""
    with Session(engine) as s:
        for i in range(30):
            add_run(s, name=f"{'padim' if i % 3 else 'patchcore'}_{i:02d}", status="succeeded",
                    started=900 + i, finished=800 + i, headline=("auroc", i / 30))
        add_run(s, name="padim_live", status="running", started=50, done=1, total=4)
        s.commit()
    data = LabData(engine, clock=fixed_clock, lease_s=60.0)
    sort = SortSpec()
    assert data.view_now(RunFilter(text="pad"), sort) is None  # nothing read yet
    full = data.snapshot(RunFilter(), sort)
    for text in ("p", "pa", "pad", "padim_1", "padim_1 live", "padim_", "x"):
        f = RunFilter(text=text)
        snap = data.view_now(f, sort)
        assert snap is not None and snap.read_ms == 0 and snap.run_filter == f
        assert snap.view == view_rows(full.view, f, sort, NOW), text
        assert snap.total == full.total and snap.counts == full.counts
    again = data.view_now(RunFilter(text="pad"), sort)
    assert again is not None and again.view is data.view_now(RunFilter(text="pad"), sort).view
    assert data.view_now(RunFilter(status="running"), sort).view[0].name == "padim_live"
    # an order never sorted is sorted by a refresh's thread, not here
    assert data.view_now(RunFilter(text="pad"), SortSpec("name", False)) is None
    by_name = data.snapshot(RunFilter(), SortSpec("name", False), fetch=False)
    snap = data.view_now(RunFilter(text="patch"), SortSpec("name", False))
    assert [r.name for r in snap.view] == sorted(r.name for r in by_name.view if "patch" in r.name)
    # a refresh that read a change has not built its view yet: no stale rows from here
    data.cache.version += 1
    assert data.view_now(RunFilter(text="pad"), sort) is None
    # a refresh building a view holds the lock: the keystroke does not wait for it
    data.snapshot(RunFilter(), sort)
    with data._view_lock:
        assert data.view_now(RunFilter(text="pad"), sort) is None
