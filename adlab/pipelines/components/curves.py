"""ROC and PR curves of image scores, stored as the ``curves`` artifact ``adlab report`` draws
(layout: :mod:`adlab.analysis.figures`). Shared by every AD pipeline so each run's report can
show its curves, not only the PatchCore study's."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _sorted(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    s, y = np.asarray(scores, np.float64)[order], np.asarray(labels)[order].astype(bool)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each tie block
    return s, y, last


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct score threshold, from (0, 0) to (1, 1)."""
    _, y, last = _sorted(scores, labels)
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    pos, neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos]


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct threshold, starting at recall 0, precision 1."""
    _, y, last = _sorted(scores, labels)
    tp = np.cumsum(y)[last]
    predicted = last + 1
    pos = max(int(y.sum()), 1)
    return np.r_[0.0, tp / pos], np.r_[1.0, tp / predicted]


def write_curves_json(path: Path, scores: np.ndarray, labels: np.ndarray) -> Path:
    """The ``curves`` artifact layout that ``adlab report`` draws (adlab.analysis.figures)."""
    fpr, tpr = roc_curve(scores, labels)
    recall, precision = pr_curve(scores, labels)
    doc = {"roc": {"fpr": fpr.round(6).tolist(), "tpr": tpr.round(6).tolist()},
           "pr": {"recall": recall.round(6).tolist(), "precision": precision.round(6).tolist()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path
