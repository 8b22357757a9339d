"""Undefined metrics are NaN with a reason, never an invented number or a crash.

AUROC needs both classes; AP and F1 need at least one positive; AU-PRO needs a defect region
and a defect-free pixel. The convenience functions (``image_auroc`` etc.) return NaN and emit
an :class:`UndefinedMetricWarning` carrying the reason; :func:`adlab.metrics.evaluate` records
the reason in ``MetricReport.undefined`` instead of warning.
"""
from __future__ import annotations

import math
import warnings


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
