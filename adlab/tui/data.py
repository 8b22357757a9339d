"""The monitor's data layer. Every method here reads or writes the database and is meant to be
called from a worker thread, never from Textual's event loop, so the interface never freezes
on a slow disk or a busy database."""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sqlalchemy.engine import Engine

from adlab.db.tui_queries import RunRow, WorkerRow, fetch_run_rows, fetch_workers
from adlab.pipelines.views import DetailTab, TabView
from adlab.tui.runs_model import (ProgressSeeds, RowContext, RunCache, RunFilter, SortSpec,
                                  choices, status_counts, view_rows)

Clock = Callable[[], dt.datetime]
# Orders that move with the clock (or the rate seeds): re-sorted on every refresh.
CLOCK_SORTS = frozenset({"elapsed", "eta", "attention"})


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class LabSnapshot:
    """Everything the runs screen shows, computed off the UI thread; immutable once built."""

    view: list[RunRow]
    total: int
    counts: dict[str, int]
    pipelines: list[str]
    groups: list[tuple[str, str]]
    workers: list[WorkerRow]
    now: dt.datetime
    version: int
    read_ms: float  # time spent in the database
    build_ms: float  # time spent filtering and sorting
    full_reload: bool = False
    started_at: float = 0.0  # time.perf_counter() when the read began / the view was built
    built_at: float = 0.0
    sort: SortSpec = field(default_factory=SortSpec)  # the order ``view`` is in
    run_filter: RunFilter = field(default_factory=RunFilter)
    context: RowContext | None = None  # clock, lease and rate seeds the view was built with


@dataclass
class LabData:
    """Owns the run cache; one refresh at a time (callers run it in an exclusive worker)."""

    engine: Engine
    clock: Clock = utc_now
    lease_s: float | None = None
    cache: RunCache = field(default_factory=RunCache)
    progress: ProgressSeeds = field(default_factory=ProgressSeeds)
    # The last view and summaries, reused while nothing they depend on changed: a refresh of
    # an idle 10,000-run lab then costs a small read, not a sort (which held the GIL and
    # delayed the keys being handled meanwhile).
    _memo: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self, run_filter: RunFilter, sort: SortSpec, *, fetch: bool = True) -> LabSnapshot:
        """Read what changed (or everything, the first time), then build the filtered view."""
        t0 = time.perf_counter()
        workers: list[WorkerRow] | None = None
        full = False
        with self._lock:
            if fetch or not self.cache.loaded:
                batch = fetch_run_rows(self.engine, **self.cache.next_query())
                full = batch.full
                if not self.cache.apply(batch):  # something was deleted elsewhere: reload
                    self.cache = RunCache()
                    self.cache.apply(fetch_run_rows(self.engine))
                    full = True
                workers = fetch_workers(self.engine)
            t1 = time.perf_counter()
            rows = list(self.cache.rows.values())
            version = self.cache.version
            now = self.clock()
            seeds = self.progress.observe(rows, now) if fetch or full else dict(self.progress.seeds)
        context = RowContext(now, self.lease_s, seeds)
        memo = self._memo
        stamp = (id(self.cache), version)  # a full reload starts a new cache (and version)
        if memo.get("stamp") != stamp:
            pipelines, groups = choices(rows)
            memo.clear()
            memo.update(stamp=stamp, counts=status_counts(rows), pipelines=pipelines,
                        groups=groups)
        key = (run_filter, sort)
        if sort.column in CLOCK_SORTS or memo.get("view_key") != key:
            memo["view"], memo["view_key"] = view_rows(rows, run_filter, sort, context), key
        view = memo["view"]
        t2 = time.perf_counter()
        return LabSnapshot(view=view, total=len(rows), counts=memo["counts"],
                           pipelines=memo["pipelines"], groups=memo["groups"],
                           workers=workers if workers is not None else [], now=now,
                           version=version, read_ms=(t1 - t0) * 1000, build_ms=(t2 - t1) * 1000,
                           full_reload=full, started_at=t0, built_at=t2, sort=sort,
                           run_filter=run_filter, context=context)

    def forget(self, run_ids: list[int]) -> None:
        with self._lock:
            self.cache.forget(run_ids)


def run_detail_bundle(engine: Engine, run_id: int, *, after_event_id: int,
                      tab_signatures: Mapping[str, tuple] | None = None) -> dict[str, Any]:
    """One live update of the detail screen: the run, its metrics, artifacts, the log lines
    after ``after_event_id`` and, for each tab its pipeline declares (``detail_tabs``) whose
    items changed since ``tab_signatures``, the tab's view (e.g. MMAD accuracy per type)."""
    from adlab.db.queries import run_detail, run_events
    from adlab.db.tui_queries import items_signature

    detail = run_detail(engine, run_id=run_id)
    events = run_events(engine, run_id=run_id, after_id=after_event_id, limit=2000)
    signatures: dict[str, tuple] = {}
    tabs: dict[str, tuple[DetailTab, TabView]] = {}
    for tab in pipeline_tabs(detail["pipeline"]):
        signatures[tab.id] = items_signature(engine, run_id=run_id, prefix=tab.item_prefix)
        if signatures[tab.id][0] and signatures[tab.id] != (tab_signatures or {}).get(tab.id):
            tabs[tab.id] = (tab, tab_view(engine, run_id, tab))
    return {"detail": detail, "events": events, "tab_signatures": signatures, "tabs": tabs}


def pipeline_tabs(pipeline: str) -> tuple[DetailTab, ...]:
    """The detail tabs a pipeline declares; none for a pipeline not installed here."""
    from adlab.errors import NotFoundError
    from adlab.pipelines import get_pipeline

    try:
        return get_pipeline(pipeline).detail_tabs
    except NotFoundError:
        return ()


def tab_view(engine: Engine, run_id: int, tab: DetailTab) -> TabView:
    """The tab's view over the run's items under its prefix (the pipeline's hook)."""
    from adlab.db.tui_queries import run_items
    from adlab.pipelines.base import load_ref

    return load_ref(tab.view)(run_items(engine, run_id=run_id, prefix=tab.item_prefix))
