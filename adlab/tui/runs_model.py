"""The runs table's model: an in-memory cache of run rows kept current by small incremental
reads, plus filtering and sorting in plain Python (10,000 rows filter and sort in a few ms, so
changing a filter never waits on the database)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from adlab.db.tui_queries import RunRow, RunRowsBatch
from adlab.tui import fmt

# Rows that finished this long before the newest finish already seen are still re-read, so a
# finish committed a little after its timestamp was taken is never missed.
FINISH_MARGIN = dt.timedelta(seconds=30)
# Above this many queued/running rows a full reload is cheaper than naming them all.
MAX_WATCHED = 5000
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class RunFilter:
    """What the user narrowed the table to; empty fields do not filter."""

    status: str = ""
    pipeline: str = ""
    group: str = ""  # a group hash (or its prefix)
    text: str = ""  # free text: matched against name, study, pipeline, group, worker, error

    def matches(self, row: RunRow) -> bool:
        if self.status and row.status != self.status:
            return False
        if self.pipeline and row.pipeline != self.pipeline:
            return False
        if self.group and not row.group_hash.startswith(self.group):
            return False
        if self.text:
            return self.text_matches(haystack(row))
        return True

    def text_matches(self, hay: str) -> bool:
        """Every word of the free text appears in the row's :func:`haystack`."""
        return all(word in hay for word in self.words)

    @property
    def words(self) -> list[str]:
        return self.text.lower().split()

    def narrows(self, other: "RunFilter") -> bool:
        """Whether every row this filter keeps is one ``other`` keeps (the same menus, and this
        text extends ``other``'s: typing one more letter), so it may filter ``other``'s rows."""
        return (self.status == other.status and self.pipeline == other.pipeline
                and self.group == other.group and self.text.lower().startswith(other.text.lower()))

    @property
    def active(self) -> bool:
        return bool(self.status or self.pipeline or self.group or self.text)


def haystack(row: RunRow) -> str:
    """What the free-text filter searches in a row, lower-cased."""
    return " ".join((str(row.id), row.name, row.study, row.pipeline, row.group_hash,
                     row.worker or "", row.device or "", row.error or "",
                     row.headline_metric or "")).lower()


@dataclass(frozen=True)
class SortSpec:
    column: str = "attention"  # running, queued, recently failed first; then newest first
    reverse: bool = True


NEWEST_FIRST = SortSpec("id", True)


@dataclass(frozen=True)
class RateSeed:
    """Where the current attempt's (or phase's) progress was first seen: the rate since then
    is what an ETA may extrapolate, not the rate since the run was first started."""

    at: dt.datetime
    done: int


@dataclass(frozen=True)
class RowContext:
    """What rendering and sorting a row needs beside the row: the clock, the lease (after
    which a running run's silence means its worker is gone) and the progress seeds."""

    now: dt.datetime
    lease_s: float | None = None
    seeds: Mapping[int, RateSeed] = field(default_factory=dict)


def as_context(now: "dt.datetime | RowContext") -> RowContext:
    return now if isinstance(now, RowContext) else RowContext(now)


def heartbeat_expired(beat: dt.datetime | None, now: dt.datetime, lease_s: float | None) -> bool:
    """The one staleness rule of the monitor (runs and workers): no heartbeat within the lease."""
    if beat is None or lease_s is None:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=dt.timezone.utc)
    return (now - beat).total_seconds() > lease_s


def is_stale_run(row: RunRow, ctx: RowContext) -> bool:
    """A running run whose heartbeat is older than the lease: its worker is probably dead and
    the queue will hand the run to another worker; its progress is not advancing."""
    return row.status == "running" and heartbeat_expired(row.heartbeat_at, ctx.now, ctx.lease_s)


def first_seed(row: RunRow) -> RateSeed | None:
    """The seed before the monitor saw the run move: a first attempt starts from 0 at its
    start; a resumed attempt starts from a checkpoint, so its rate is unknown until it moves."""
    if row.attempt <= 1 and row.started_at is not None:
        return RateSeed(row.started_at, 0)
    return None


def row_eta(row: RunRow, ctx: RowContext) -> float | None:
    """Seconds left at the current attempt's rate; None when not running, stale, the phase's
    count is complete (the run still works on something uncounted), or the rate is unknown."""
    total, done = row.progress_total, row.progress_done
    if row.status != "running" or not total or done >= total or is_stale_run(row, ctx):
        return None
    seed = ctx.seeds.get(row.id) or first_seed(row)
    if seed is None or done <= seed.done:
        return None
    at = seed.at if seed.at.tzinfo else seed.at.replace(tzinfo=dt.timezone.utc)
    spent = (ctx.now - at).total_seconds()
    if spent <= 0:
        return None
    return spent / (done - seed.done) * (total - done)


@dataclass
class ProgressSeeds:
    """Rate seeds of running runs, renewed when an attempt, a phase total or a count restarts
    (anomalib counts each phase from 0; a resumed run starts from its checkpoint)."""

    seeds: dict[int, RateSeed] = field(default_factory=dict)
    _keys: dict[int, tuple[int, int | None, int]] = field(default_factory=dict)

    def observe(self, rows: Iterable[RunRow], now: dt.datetime) -> dict[int, RateSeed]:
        running = set()
        for r in rows:
            if r.status != "running":
                continue
            running.add(r.id)
            key = (r.attempt, r.progress_total, r.progress_done)
            old = self._keys.get(r.id)
            self._keys[r.id] = key
            if old is None:
                seed = first_seed(r)
                if seed is None:
                    self.seeds[r.id] = RateSeed(now, r.progress_done)
                else:
                    self.seeds.pop(r.id, None)
            elif old[0] != key[0] or old[1] != key[1] or key[2] < old[2]:
                self.seeds[r.id] = RateSeed(now, r.progress_done)
        for gone in set(self._keys) - running:
            self._keys.pop(gone, None)
            self.seeds.pop(gone, None)
        return dict(self.seeds)


# A key of None means "no value": such rows go last whichever way the column is sorted.
SortKey = Callable[[RunRow, RowContext], object]


def _elapsed(row: RunRow, ctx: RowContext) -> float | None:
    return fmt.elapsed_seconds(row.status, row.started_at, row.finished_at, ctx.now)


def _eta(row: RunRow, ctx: RowContext) -> float | None:
    return row_eta(row, ctx)


def _progress(row: RunRow, _ctx: RowContext) -> float:
    if row.progress_total:
        return row.progress_done / row.progress_total
    return 1.0 if row.status == "succeeded" else 0.0


def _metric(row: RunRow, _ctx: RowContext) -> float | None:
    return row.headline_value


RECENT_FAILURE = dt.timedelta(hours=24)


def _attention(row: RunRow, ctx: RowContext) -> tuple:
    """Needs attention first: running, then queued, then failures of the last day; inside
    each, newest first (the sort runs descending)."""
    finished = row.finished_at
    if finished is not None and finished.tzinfo is None:
        finished = finished.replace(tzinfo=dt.timezone.utc)
    recent_fail = row.status == "failed" and finished is not None and \
        ctx.now - finished <= RECENT_FAILURE
    tier = {"running": 3, "queued": 2}.get(row.status, 1 if recent_fail else 0)
    return (tier, row.id)


SORT_KEYS: dict[str, SortKey] = {
    "attention": _attention,
    "id": lambda r, _n: r.id,
    "status": lambda r, _n: (STATUSES.index(r.status) if r.status in STATUSES else 99, r.id),
    "name": lambda r, _n: r.name.lower(),
    "pipeline": lambda r, _n: (r.pipeline, r.id),
    "group": lambda r, _n: (r.group_hash, r.id),
    "progress": _progress,
    "elapsed": _elapsed,
    "eta": _eta,
    "phase": lambda r, _n: (r.progress_message or "") if r.status == "running" else None,
    "metric": _metric,
    "worker": lambda r, _n: (r.worker or "", r.device or ""),
}


def view_rows(rows: Iterable[RunRow], run_filter: RunFilter, sort: SortSpec,
              now: "dt.datetime | RowContext") -> list[RunRow]:
    """The rows to show, filtered and sorted (stable; ties keep id order)."""
    return filter_rows(sorted_rows(rows, sort, now), run_filter)


def sorted_rows(rows: Iterable[RunRow], sort: SortSpec, now: "dt.datetime | RowContext"
                ) -> list[RunRow]:
    """Every row in ``sort`` order (stable; rows without a key value last)."""
    ctx = as_context(now)
    key = SORT_KEYS.get(sort.column, SORT_KEYS["id"])
    keyed = [(key(r, ctx), r) for r in rows]
    present = [kr for kr in keyed if kr[0] is not None]
    present.sort(key=lambda kr: kr[0], reverse=sort.reverse)
    return [r for _k, r in present] + [r for k, r in keyed if k is None]


def filter_rows(rows: list[RunRow], run_filter: RunFilter,
                hays: Mapping[int, str] | None = None) -> list[RunRow]:
    """The rows ``run_filter`` keeps, order unchanged (``hays``: precomputed haystacks)."""
    if not run_filter.active:
        return rows
    if hays is None:
        return [r for r in rows if run_filter.matches(r)]
    menus = RunFilter(run_filter.status, run_filter.pipeline, run_filter.group)
    if menus.active:
        rows = [r for r in rows if menus.matches(r)]
    words = run_filter.words
    if len(words) == 1:  # the common case, as tight as the loop gets
        word = words[0]
        return [r for r in rows if word in hays[r.id]]
    return [r for r in rows if all(w in hays[r.id] for w in words)]


def sort_clock(column: str, now: dt.datetime) -> object:
    """What a cached order of ``column`` depends on in the clock: nothing for fixed columns;
    the minute for "needs attention" (a failure leaves the recent tier a minute late at most);
    the instant for elapsed and ETA."""
    if column == "attention":
        return now.replace(second=0, microsecond=0)
    if column in ("elapsed", "eta"):
        return now
    return None


@dataclass
class RunCache:
    """Every run row the monitor knows, merged from full and incremental batches."""

    rows: dict[int, RunRow] = field(default_factory=dict)
    max_id: int = 0
    newest_finish: dt.datetime | None = None
    loaded: bool = False
    version: int = 0  # bumped whenever a batch changed anything

    def next_query(self) -> dict:
        """Keyword arguments for :func:`fetch_run_rows` that fetch what may have changed:
        new rows, rows active now, rows this cache holds as active (they may have finished),
        and recent finishes."""
        if not self.loaded:
            return {}
        watch = [r.id for r in self.rows.values() if r.status in ACTIVE]
        if len(watch) > MAX_WATCHED:
            return {}
        since = self.newest_finish - FINISH_MARGIN if self.newest_finish else None
        return {"after_id": self.max_id, "finished_since": since, "watch_ids": watch}

    def apply(self, batch: RunRowsBatch) -> bool:
        """Merge ``batch``; False when the batch shows rows were deleted and a full reload is
        needed (the count no longer matches)."""
        changed = False
        if batch.full:
            new = {r.id: r for r in batch.rows}
            changed = new != self.rows
            self.rows = new
            self.loaded = True
        else:
            for row in batch.rows:
                if self.rows.get(row.id) != row:
                    self.rows[row.id] = row
                    changed = True
        self.max_id = max(self.max_id, batch.max_id) if not batch.full else batch.max_id
        for row in batch.rows:
            if row.finished_at is not None and (self.newest_finish is None
                                                or row.finished_at > self.newest_finish):
                self.newest_finish = row.finished_at
        if changed:
            self.version += 1
        return len(self.rows) == batch.total

    def forget(self, run_ids: Iterable[int]) -> None:
        """Drop rows the monitor itself deleted (no reload needed)."""
        for run_id in run_ids:
            if self.rows.pop(run_id, None) is not None:
                self.version += 1


def status_counts(rows: Iterable[RunRow]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def choices(rows: Iterable[RunRow]) -> tuple[list[str], list[tuple[str, str]]]:
    """Pipelines and groups present, for the filter menus. Groups: (label, hash)."""
    pipelines: set[str] = set()
    groups: dict[str, tuple[str, int]] = {}
    for r in rows:
        pipelines.add(r.pipeline)
        label, n = groups.get(r.group_hash, (r.study or r.pipeline, 0))
        groups[r.group_hash] = (label, n + 1)
    group_choices = sorted(((f"{h[:8]} {label} ({n})", h) for h, (label, n) in groups.items()))
    return sorted(pipelines), group_choices

