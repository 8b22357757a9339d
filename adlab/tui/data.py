"""The monitor's data layer. Every method here reads or writes the database and is meant to be
called from a worker thread, never from Textual's event loop, so the interface never freezes
on a slow disk or a busy database."""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from sqlalchemy.engine import Engine

from adlab.db.engine import DatabaseWatch
from adlab.db.tui_queries import (RunRow, WorkerRow, fetch_first_rows, fetch_run_rows,
                                  fetch_workers)
from adlab.tui.runs_model import (NEWEST_FIRST, RECENT_FAILURE, STATUSES, ProgressSeeds,
                                  RowContext, RunCache, RunFilter, SortSpec, choices, filter_rows,
                                  haystack, sort_clock, sorted_rows, status_counts)

if TYPE_CHECKING:  # the pipelines package loads only when a detail screen asks for its tabs
    from adlab.pipelines.views import DetailTab, TabView

Clock = Callable[[], dt.datetime]
# Orders that move with the clock (or the rate seeds): re-sorted on every refresh.
CLOCK_SORTS = frozenset({"elapsed", "eta", "attention"})
# Filtered views kept per data version: typing a letter filters the longest kept view it
# narrows, and Backspace returns to a kept one without a scan.
VIEWS_KEPT = 32


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
    partial: bool = False  # the first page only, shown while the whole lab is read
    fetched: bool = True  # False: a new view of rows and workers read before (view_now)


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
    _hays: dict[int, str] = field(default_factory=dict)  # run id -> filter haystack
    _hay_rows: dict[int, RunRow] = field(default_factory=dict)  # the row each was made from
    _hay_stamp: tuple = ()
    _workers: list[WorkerRow] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the cache and its reads
    # the memo and haystacks: held while a view is built, on a refresh's thread or on the UI
    # thread (view_now), never during a database read
    _view_lock: threading.Lock = field(default_factory=threading.Lock)
    # Every read checks the database is still the one first read (DatabaseWatch).
    watch: DatabaseWatch = field(init=False)

    def __post_init__(self) -> None:
        self.watch = DatabaseWatch(self.engine)

    def snapshot(self, run_filter: RunFilter, sort: SortSpec, *, fetch: bool = True) -> LabSnapshot:
        """Read what changed (or everything, the first time), then build the filtered view."""
        t0 = time.perf_counter()
        workers: list[WorkerRow] | None = None
        full = False
        with self._lock:
            if fetch or not self.cache.loaded:
                with self.watch.reads():  # a lost or replaced database: one sentence
                    batch = fetch_run_rows(self.engine, **self.cache.next_query())
                    full = batch.full
                    if not self.cache.apply(batch):  # something was deleted elsewhere: reload
                        self.cache = RunCache()
                        self.cache.apply(fetch_run_rows(self.engine))
                        full = True
                    workers = self._workers = fetch_workers(self.engine)
            t1 = time.perf_counter()
            rows = list(self.cache.rows.values())
            version = self.cache.version
            now = self.clock()
            seeds = self.progress.observe(rows, now) if fetch or full else dict(self.progress.seeds)
        context = RowContext(now, self.lease_s, seeds)
        with self._view_lock:
            view = self._view(rows, version, run_filter, sort, context)
            memo = self._memo
        t2 = time.perf_counter()
        return LabSnapshot(view=view, total=len(rows), counts=memo["counts"],
                           pipelines=memo["pipelines"], groups=memo["groups"],
                           # a view-only rebuild (filter, sort) shows the workers last read
                           workers=workers if workers is not None else self._workers, now=now,
                           version=version, read_ms=(t1 - t0) * 1000, build_ms=(t2 - t1) * 1000,
                           full_reload=full, started_at=t0, built_at=t2, sort=sort,
                           run_filter=run_filter, context=context)

    def view_now(self, run_filter: RunFilter, sort: SortSpec) -> LabSnapshot | None:
        """The view of ``run_filter`` in ``sort`` order, built on the calling thread (the UI's,
        for a keystroke in the filter box) from what the last snapshot left, when that needs no
        wait, no database read and no sort: a few ms of filtering over a sorted list, shown in
        the frame that shows the key. A clock-bound order is the one sorted by the latest
        refresh (at most a refresh period old; the next refresh sorts it again). None when a
        refresh holds the view, the rows changed since the last view was built, or the order
        was never sorted: then :meth:`snapshot` (in a worker thread) builds it."""
        if not self._view_lock.acquire(blocking=False):
            return None
        try:
            t0 = time.perf_counter()
            memo = self._memo
            cache = self.cache
            if not memo or memo.get("stamp") != (id(cache), cache.version):
                return None
            now = self.clock()
            orders = memo["orders"]
            order_key = (sort, sort_clock(sort.column, now))
            if order_key not in orders:
                kept = [k for k in orders if k[0] == sort] if sort.column in CLOCK_SORTS else []
                if not kept:
                    return None
                order_key = kept[-1]
            # a C-level copy: atomic against a refresh observing new progress meanwhile
            context = RowContext(now, self.lease_s, dict(self.progress.seeds))
            view = self._filtered(run_filter, order_key)
            t1 = time.perf_counter()
            return LabSnapshot(view=view, total=memo["total"], counts=memo["counts"],
                               pipelines=memo["pipelines"], groups=memo["groups"],
                               workers=self._workers, now=now, version=cache.version,
                               read_ms=0.0, build_ms=(t1 - t0) * 1000, started_at=t0,
                               built_at=t1, sort=sort, run_filter=run_filter, context=context,
                               fetched=False)
        finally:
            self._view_lock.release()

    def stamp(self) -> tuple[int, int]:
        """Changes whenever any run the monitor holds changed (a new cache after a full reload,
        or a new version of it)."""
        return id(self.cache), self.cache.version

    def first_page(self, sort: SortSpec, limit: int) -> LabSnapshot | None:
        """The first ``limit`` lines of the unfiltered table in the "needs attention" or
        newest-first order, from a few small reads, to paint before the whole lab is loaded
        (10,000 rows take a second to read on a loaded machine). None for other orders."""
        if sort not in (SortSpec(), NEWEST_FIRST):
            return None
        t0 = time.perf_counter()
        now = self.clock()
        with self.watch.reads():
            page = fetch_first_rows(self.engine, newest=limit, failed_since=now - RECENT_FAILURE)
            workers = fetch_workers(self.engine)
        t1 = time.perf_counter()
        context = RowContext(now, self.lease_s, {})
        view = sorted_rows(page.rows, sort, context)[:limit]
        t2 = time.perf_counter()
        counts = {status: page.counts.get(status, 0) for status in STATUSES} | page.counts
        return LabSnapshot(view=view, total=page.total, counts=counts, pipelines=[],
                           groups=[], workers=workers, now=now, version=-1,
                           read_ms=(t1 - t0) * 1000, build_ms=(t2 - t1) * 1000,
                           started_at=t0, built_at=t2, sort=sort, run_filter=RunFilter(),
                           context=context, partial=True)

    def _view(self, rows: list[RunRow], version: int, run_filter: RunFilter, sort: SortSpec,
              context: RowContext) -> list[RunRow]:
        """The filtered, sorted view, from what the last calls left: the whole lab in each
        order asked for (until a row changes; clock-bound orders until their clock moves) and
        each row's filter haystack (until that row changes). A filter keystroke then filters
        a sorted list; a new sort order is one sort. The caller holds ``_view_lock``."""
        memo = self._memo
        stamp = (id(self.cache), version)  # a full reload starts a new cache (and version)
        if memo.get("stamp") != stamp:
            pipelines, groups = choices(rows)
            memo.update(stamp=stamp, total=len(rows), counts=status_counts(rows),
                        pipelines=pipelines, groups=groups, orders={}, views={})
            self._haystacks(rows, stamp)  # here, not on the first keystroke in the filter
        order_key = (sort, sort_clock(sort.column, context.now))
        orders = memo["orders"]
        if order_key not in orders:
            if sort.column in CLOCK_SORTS:  # only the latest clock of such an order is kept
                stale = {k for k in orders if k[0].column in CLOCK_SORTS}
                for k in stale:
                    del orders[k]
                memo["views"] = {k: v for k, v in memo["views"].items() if k[1] not in stale}
            orders[order_key] = sorted_rows(rows, sort, context)
        return self._filtered(run_filter, order_key)

    def _filtered(self, run_filter: RunFilter, order_key: tuple) -> list[RunRow]:
        """``run_filter``'s rows of the sorted ``order_key`` list (filtering keeps the order):
        a view kept from a recent call, else the shortest kept view it narrows (one more
        letter typed: only the rows shown can match), else the whole order, filtered. The
        caller holds ``_view_lock`` and the memo is current (haystacks included)."""
        views: dict[tuple, list[RunRow]] = self._memo["views"]
        key = (run_filter, order_key)
        view = views.pop(key, None)
        if view is None:
            source = self._memo["orders"][order_key]
            for (kept_filter, kept_order), kept in views.items():
                if kept_order == order_key and len(kept) < len(source) \
                        and run_filter.narrows(kept_filter):
                    source = kept
            view = filter_rows(source, run_filter, self._hays if run_filter.text else None)
            while len(views) >= VIEWS_KEPT:
                views.pop(next(iter(views)))
        views[key] = view  # the most recently used last
        return view

    def _haystacks(self, rows: list[RunRow], stamp: tuple) -> dict[int, str]:
        """Each row's filter haystack, recomputed only for rows that changed."""
        if self._hay_stamp != stamp:
            for r in rows:
                if self._hay_rows.get(r.id) is not r:
                    self._hay_rows[r.id] = r
                    self._hays[r.id] = haystack(r)
            self._hay_stamp = stamp
        return self._hays

    def forget(self, run_ids: list[int]) -> None:
        with self._lock:
            self.cache.forget(run_ids)


def run_detail_bundle(engine: Engine, run_id: int, *, after_event_id: int,
                      tab_signatures: Mapping[str, tuple] | None = None,
                      with_tabs: bool = True) -> dict[str, Any]:
    """One live update of the detail screen: the run, its metrics, artifacts, the log lines
    after ``after_event_id`` and, for each tab its pipeline declares (``detail_tabs``) whose
    items changed since ``tab_signatures``, the tab's view (e.g. MMAD accuracy per type).
    ``with_tabs`` False skips the pipeline's tabs: finding them imports the pipeline's spec
    (seconds for one that loads numpy), which the first paint of the screen need not wait for."""
    from adlab.db.queries import run_detail, run_events
    from adlab.db.tui_queries import items_signature

    detail = run_detail(engine, run_id=run_id)
    events = run_events(engine, run_id=run_id, after_id=after_event_id, limit=2000)
    signatures: dict[str, tuple] = dict(tab_signatures or {}) if not with_tabs else {}
    tabs: dict[str, tuple[DetailTab, TabView]] = {}
    for tab in pipeline_tabs(detail["pipeline"]) if with_tabs else ():
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
