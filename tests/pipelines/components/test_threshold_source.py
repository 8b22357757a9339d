"""Thresholds tuned on the test labels say so: in every prediction record, in thresholds.yaml,
in a bundle's predictions, and in the report."""
from __future__ import annotations

import json

import numpy as np
from sqlmodel import Session

from adlab.pipelines.components.predictions import (TEST_LABELS_F1, UNSPECIFIED, Thresholds,
                                                    prediction_record, validate_record)


def test_records_and_thresholds_file_carry_the_source(tmp_path):
    amap = np.zeros((8, 8), np.float32)
    amap[2:4, 2:4] = 5.0
    rec = prediction_record(image_path="D/c/test/bad/1.png", score=4.0, threshold=3.0,
                            pixel_threshold=2.0, anomaly_map=amap, original_hw=(8, 8),
                            dataset="D", category="c", model_type="padim",
                            threshold_source=TEST_LABELS_F1)
    validate_record(rec)
    assert rec["threshold_source"] == TEST_LABELS_F1
    path = Thresholds(global_=3.0, categories={"D/c": 3.0}, source=TEST_LABELS_F1).to_yaml(
        tmp_path / "thresholds.yaml")
    assert Thresholds.from_yaml(path).source == TEST_LABELS_F1
    path.write_text("global: 1.0\ncategories: {}\n")  # a hand-written file says nothing
    assert Thresholds.from_yaml(path).source == UNSPECIFIED


def test_report_overview_flags_runs_with_test_label_thresholds(engine, tmp_path):
    from adlab.analysis.report import render_report
    from adlab.db.models import Metric, Run

    with Session(engine) as s:
        for i, info in enumerate([{"threshold_source": TEST_LABELS_F1}, {}]):
            run = Run(name=f"r{i}", pipeline="imported", status="succeeded", config_json="{}",
                      config_hash=f"h{i}", partition_hash="p", group_hash="g",
                      info_json=json.dumps(info))
            s.add(run)
            s.flush()
            s.add(Metric(run_id=run.id, key="image_auroc", scope="", value=0.9 - i / 10))
        s.commit()
    md = render_report(engine, out=tmp_path / "r.md", metrics=["image_auroc"]).read_text()
    line = next(ln for ln in md.splitlines() if ln.startswith("- **Thresholds**"))
    assert line.startswith("- **Thresholds**: 1 run(s)") and TEST_LABELS_F1 in line


def test_validation_thresholds_are_normal_quantiles_and_the_report_says_held_out(engine, tmp_path):
    import pytest

    from adlab.analysis.report import render_report
    from adlab.db.models import Metric, Run
    from adlab.errors import ConfigError
    from adlab.pipelines.components.predictions import (VALIDATION_NORMAL_QUANTILE,
                                                        normal_quantile_thresholds)

    scores = np.array([0.2, 0.9, 0.4, 0.6])
    maps = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    assert normal_quantile_thresholds(scores, maps, 1.0) == (0.9, 15.0)  # anomalib's rule: max
    assert normal_quantile_thresholds(scores, maps, 0.5) == (0.5, 7.5)
    with pytest.raises(ConfigError, match="thresholds.source: validation"):
        normal_quantile_thresholds(np.array([]), maps, 1.0)

    with Session(engine) as s:
        for i, source in enumerate([VALIDATION_NORMAL_QUANTILE, TEST_LABELS_F1]):
            run = Run(name=f"v{i}", pipeline="imported", status="succeeded", config_json="{}",
                      config_hash=f"v{i}", partition_hash="p", group_hash="g",
                      info_json=json.dumps({"threshold_source": source}))
            s.add(run)
            s.flush()
            s.add(Metric(run_id=run.id, key="image_auroc", scope="", value=0.8))
        s.commit()
    md = render_report(engine, out=tmp_path / "r.md", metrics=["image_auroc"]).read_text()
    lines = [ln for ln in md.splitlines() if ln.startswith("- **Thresholds")]
    assert lines[0].startswith("- **Thresholds**: 1 run(s)")
    assert lines[1].startswith("- **Thresholds (validation)**: 1 run(s)")
    assert VALIDATION_NORMAL_QUANTILE in lines[1]
