"""The runs table's model: an in-memory cache of run rows kept current by small incremental
reads, plus filtering and sorting in plain Python (10,000 rows filter and sort in a few ms, so
changing a filter never waits on the database)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable

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
            needle = self.text.lower()
            hay = " ".join((str(row.id), row.name, row.study, row.pipeline, row.group_hash,
                            row.worker or "", row.device or "", row.error or "",
                            row.headline_metric or "")).lower()
            return all(word in hay for word in needle.split())
        return True

    @property
    def active(self) -> bool:
        return bool(self.status or self.pipeline or self.group or self.text)


@dataclass(frozen=True)
class SortSpec:
    column: str = "id"
    reverse: bool = True  # newest first by default


# A key of None means "no value": such rows go last whichever way the column is sorted.
SortKey = Callable[[RunRow, dt.datetime], object]


def _elapsed(row: RunRow, now: dt.datetime) -> float | None:
    return fmt.elapsed_seconds(row.status, row.started_at, row.finished_at, now)


def _eta(row: RunRow, now: dt.datetime) -> float | None:
    elapsed = fmt.elapsed_seconds(row.status, row.started_at, row.finished_at, now)
    return fmt.eta_seconds(row.status, elapsed, row.progress_done, row.progress_total)


def _progress(row: RunRow, _now: dt.datetime) -> float:
    if row.progress_total:
        return row.progress_done / row.progress_total
    return 1.0 if row.status == "succeeded" else 0.0


def _metric(row: RunRow, _now: dt.datetime) -> float | None:
    return row.headline_value


SORT_KEYS: dict[str, SortKey] = {
    "id": lambda r, _n: r.id,
    "status": lambda r, _n: (STATUSES.index(r.status) if r.status in STATUSES else 99, r.id),
    "name": lambda r, _n: r.name.lower(),
    "pipeline": lambda r, _n: (r.pipeline, r.id),
    "group": lambda r, _n: (r.group_hash, r.id),
    "progress": _progress,
    "elapsed": _elapsed,
    "eta": _eta,
    "metric": _metric,
    "worker": lambda r, _n: (r.worker or "", r.device or ""),
}


def view_rows(rows: Iterable[RunRow], run_filter: RunFilter, sort: SortSpec,
              now: dt.datetime) -> list[RunRow]:
    """The rows to show, filtered and sorted (stable; ties keep id order)."""
    chosen = [r for r in rows if run_filter.matches(r)] if run_filter.active else list(rows)
    key = SORT_KEYS.get(sort.column, SORT_KEYS["id"])
    keyed = [(key(r, now), r) for r in chosen]
    present = [kr for kr in keyed if kr[0] is not None]
    present.sort(key=lambda kr: kr[0], reverse=sort.reverse)
    return [r for _k, r in present] + [r for k, r in keyed if k is None]


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

