"""Undefined metrics are NaN with a reason, never an invented number or a crash.

AUROC needs both classes; AP and F1 need at least one positive; AU-PRO needs a defect region
and a defect-free pixel. The convenience functions (``image_auroc`` etc.) return NaN and emit
an :class:`UndefinedMetricWarning` carrying the reason; :func:`adlab.metrics.evaluate` records
the reason in ``MetricReport.undefined`` instead of warning.
"""
from __future__ import annotations

import math
import warnings
from typing import Any


class UndefinedMetricWarning(UserWarning):
    """A metric was asked for on data where it has no value (e.g. no anomalous image)."""


def nan_with_reason(reason: str) -> float:
    warnings.warn(reason, UndefinedMetricWarning, stacklevel=3)
    return math.nan


def class_reason(n_pos: int, n_neg: int, *, positive: str, negative: str,
                 needs_negatives: bool) -> str | None:
    """Why a ranking metric is undefined for these class counts, or None if it is defined."""
    if n_pos == 0:
        return f"undefined: there is no {positive}"
    if needs_negatives and n_neg == 0:
        return f"undefined: there is no {negative}"
    return None


def mean_of_defined(values: "dict[str, float]", unit: str, units: str
                    ) -> tuple[float, str | None, str | None]:
    """The mean of the values that are defined (not NaN), as (mean, reason, note): the reason
    when none is defined, else a note naming the ``unit``s (category, anomaly type...) left out.
    Benchmarks average per category this way: an undefined category is skipped, and said so."""
    defined = {name: v for name, v in values.items() if not math.isnan(v)}
    if not defined:
        return math.nan, f"undefined in every {unit}", None
    mean = math.fsum(defined.values()) / len(defined)
    left_out = [name for name in values if name not in defined]
    note = (f"mean over {len(defined)} of {len(values)} {units}; undefined in {', '.join(left_out)}"
            if left_out else None)
    return mean, None, note


def record_mean(report: Any, key: str, values: "dict[str, float]", unit: str, units: str) -> None:
    """Set ``report.values[key]`` to :func:`mean_of_defined`, with its reason or note recorded
    in ``report.undefined`` / ``report.notes`` (any report with those three dicts)."""
    report.values[key], reason, note = mean_of_defined(values, unit, units)
    if reason:
        report.undefined[key] = reason
    if note:
        report.notes[key] = note
