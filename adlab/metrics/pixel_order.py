"""The shared core: one sorted order of the pixels, from which every pixel metric follows.

The official MVTec AD script argsorts all N pixel scores (an int64 index per pixel) and carries
FPR/PRO increments along. Here the defect-free pixels ("negatives", ~95 % of all) are only
value-sorted, in one chunk per core, each chunk in its own thread (NumPy releases the GIL while
sorting and searching), and the defect pixels ("positives") are sorted together with their PRO
weights. Each distinct positive score is then ranked against the sorted negatives by binary
search. ROC, precision-recall and PRO curves change only at scores, and the area/precision
contributions of negatives between two positive scores follow from those ranks, so AUROC, AP,
F1-max and AU-PRO are exact, with tied scores merged into one curve point as the official code
merges them. The chunks are never merged: counts against them simply add up.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np


class NegativeOrder(Protocol):
    """Order statistics of the negative scores (CPU chunks or a GPU tensor)."""

    size: int

    def count_less(self, value: float) -> int: ...

    def count_less_equal(self, value: float) -> int: ...

    def kth_largest(self, k: int) -> float: ...


def worker_count() -> int:
    """Threads for sorting: the cores this process may use (2 on the lab machines)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 16))


class SortedChunks:
    """Negatives as a few ascending chunks; counts add up over chunks."""

    def __init__(self, chunks: Sequence[np.ndarray]):
        self.chunks = [c for c in chunks if len(c)]
        self.size = int(sum(len(c) for c in self.chunks))

    def _count(self, value: float, side: str) -> int:
        # The probe takes the chunks' dtype: a Python float would make NumPy convert the
        # whole chunk to float64 before searching (values come from the same scores, so exact).
        total = 0
        for chunk in self.chunks:
            probe = np.asarray(value, dtype=chunk.dtype)
            total += int(np.searchsorted(chunk, probe, side=side))
        return total

    def count_less(self, value: float) -> int:
        return self._count(value, "left")

    def count_less_equal(self, value: float) -> int:
        return self._count(value, "right")

    def count_at_least(self, value: float) -> int:
        return self.size - self.count_less(value)

    def kth_largest(self, k: int) -> float:
        """The k-th largest negative (k = 1 is the maximum), found without merging chunks."""
        if not 1 <= k <= self.size:
            raise ValueError(f"k={k} outside 1..{self.size}")
        best = None
        for chunk in self.chunks:
            # Largest index whose value still has >= k negatives at or above it.
            lo, hi = 0, len(chunk) - 1
            if self.count_at_least(chunk[lo]) < k:
                continue
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.count_at_least(chunk[mid]) >= k:
                    lo = mid
                else:
                    hi = mid - 1
            candidate = chunk[lo]
            if best is None or candidate > best:
                best = candidate
        assert best is not None
        return best  # a NumPy scalar of the scores' dtype


@dataclass(frozen=True)
class RankedScores:
    """Distinct positive scores (ascending) with their counts, weights and negative ranks.

    ``below[i]`` negatives score strictly less than ``values[i]`` and ``tied[i]`` score exactly
    ``values[i]``. ``weights[i]`` is the summed per-pixel weight of the positives at that score
    (for AU-PRO: 1 / (region size * number of regions), so all weights sum to 1); ``None`` when
    only counts were needed.
    """

    values: np.ndarray
    counts: np.ndarray
    weights: np.ndarray | None
    below: np.ndarray
    tied: np.ndarray
    negatives: NegativeOrder

    @property
    def n_pos(self) -> int:
        return int(self.counts.sum())

    @property
    def n_neg(self) -> int:
        return int(self.negatives.size)


def group_positives(values: np.ndarray, weights: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Sort positive scores and merge equal ones: distinct values, counts, summed weights."""
    if weights is None:
        ordered = np.sort(values)
        w_sorted = None
    else:
        order = np.argsort(values)
        ordered = values[order]
        w_sorted = weights[order]
        del order
    if len(ordered) == 0:
        empty = np.empty(0, dtype=np.int64)
        return ordered, empty, (np.empty(0) if weights is not None else None)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, len(ordered)))
    summed = np.add.reduceat(w_sorted, starts) if w_sorted is not None else None
    return ordered[starts], counts.astype(np.int64), summed


def _rank_in_chunk(chunk: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(count < v, count == v) of each value within one ascending chunk."""
    below = np.searchsorted(chunk, values, side="left")
    tied = np.zeros(len(values), dtype=np.int64)
    if len(chunk):
        at = np.minimum(below, len(chunk) - 1)
        maybe = np.flatnonzero(chunk[at] == values)
        if len(maybe):
            tied[maybe] = np.searchsorted(chunk, values[maybe], side="right") - below[maybe]
    return below.astype(np.int64, copy=False), tied


def rank_sorted(chunks: Sequence[np.ndarray], values: np.ndarray, counts: np.ndarray,
                weights: np.ndarray | None, executor: ThreadPoolExecutor | None = None
                ) -> RankedScores:
    """Rank grouped positives against already sorted negative chunks."""
    negatives = SortedChunks(chunks)
    work = [c for c in negatives.chunks]
    if executor is not None and len(work) > 1:
        results = list(executor.map(lambda c: _rank_in_chunk(c, values), work))
    else:
        results = [_rank_in_chunk(c, values) for c in work]
    below = np.zeros(len(values), dtype=np.int64)
    tied = np.zeros(len(values), dtype=np.int64)
    for b, t in results:
        below += b
        tied += t
    return RankedScores(values, counts, weights, below, tied, negatives)


def rank_scores(negatives: np.ndarray | Sequence[np.ndarray], positives: np.ndarray,
                weights: np.ndarray | None = None) -> RankedScores:
    """Rank arbitrary score arrays (copies are sorted; the inputs are left untouched)."""
    chunks = [negatives] if isinstance(negatives, np.ndarray) else list(negatives)
    sorted_chunks = [np.sort(np.ravel(c)) for c in chunks]
    values, counts, summed = group_positives(np.ravel(positives), weights)
    return rank_sorted(sorted_chunks, values, counts, summed)
