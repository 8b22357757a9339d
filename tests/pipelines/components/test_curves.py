"""ROC/PR curves every AD pipeline stores for the report, against scikit-learn."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score, roc_curve

from adlab.analysis.figures import read_curves
from adlab.pipelines.components.curves import write_curves_json


def test_curves_artifact_matches_scikit_learn(tmp_path):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: tied scores
    path = write_curves_json(tmp_path / "curves.json", scores, labels)
    curves = read_curves(path, "curves")
    fpr, tpr = curves["roc"]
    want_fpr, want_tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, want_fpr, atol=1e-6)
    np.testing.assert_allclose(tpr, want_tpr, atol=1e-6)
    assert auc(fpr, tpr) == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
    recall, precision = curves["pr"]
    want_p, want_r, _ = precision_recall_curve(labels, scores, drop_intermediate=False)
    got = sorted(zip(recall[1:], precision[1:]))
    want = sorted((r, p) for r, p in zip(want_r[:-1], want_p[:-1]))
    np.testing.assert_allclose(np.array(got), np.array(want), atol=1e-6)
    assert set(json.loads(path.read_text())) == {"roc", "pr"}
