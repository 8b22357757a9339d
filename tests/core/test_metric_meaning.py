"""Comparison ranks and scales metrics by what the pipeline declares, not by their names."""
from __future__ import annotations

import json

import pytest

from adlab.analysis.compare import compare, metric_info
from adlab.interchange.importers import ImportedRun, write_runs
from adlab.core.vocabulary import Direction, Scale, cost, fraction, percent
from adlab.errors import AdlabError
from adlab.pipelines import PipelineParams, PipelineSpec, list_pipelines, register_pipeline


class _P(PipelineParams):
    seed: int = 0


def _register(name: str, metrics) -> None:
    register_pipeline(PipelineSpec(name=name, params_model=_P, runner="adlab.pipelines.diag:run",
                                   description="metric meaning test", metrics=metrics))


def _lab(engine, pipeline: str, rows) -> None:
    write_runs(engine, [ImportedRun(name=f"{pipeline}_{i}", pipeline=pipeline,
                                    params={"dataset": "visa", "seed": i},
                                    metrics=[(k, "", v) for k, v in m.items()])
                        for i, m in enumerate(rows)], source="test")


def test_declared_direction_and_scale_win_over_names_and_values(engine):
    # "score" sounds higher-is-better and "acc" lies in [0, 1]: the declaration says otherwise.
    _register("meaning_a", {"score": cost("s"), "acc": percent(), "auc": fraction()})
    _lab(engine, "meaning_a", [{"score": 3.0, "acc": 0.5, "auc": 0.9, "quality": 0.2},
                               {"score": 1.0, "acc": 0.7, "auc": 0.8, "quality": 0.4}])
    c = compare(engine, metrics=["score", "acc", "auc", "quality"], baseline=None)
    [g] = c.groups
    assert [(r.name, r.rank) for r in g.runs] == [("meaning_a_1", 1), ("meaning_a_0", 2)]
    assert c.higher_is_better == {"score": False, "acc": True, "auc": True, "quality": True}
    assert c.fraction_metrics == ["auc", "quality"]  # quality: undeclared, values in [0, 1]
    based = compare(engine, metrics=["acc", "auc"], baseline=g.runs[1].id)
    top = next(r for r in based.groups[0].runs if not r.is_baseline)
    assert top.delta_pp["acc"] == pytest.approx(0.2) and top.delta_pp["auc"] == pytest.approx(-10.0)


def test_lower_is_better_flag_and_name_rule_for_undeclared_metrics(engine):
    _register("meaning_b", {})
    _lab(engine, "meaning_b", [{"mmd": 0.3, "custom": 5.0}, {"mmd": 0.1, "custom": 9.0}])
    assert not compare(engine, metrics=["mmd"]).higher_is_better["mmd"]  # the one name rule
    ranked = compare(engine, metrics=["custom"], lower_is_better=["custom"])
    assert [r.name for r in ranked.groups[0].runs] == ["meaning_b_0", "meaning_b_1"]


def test_opposite_declarations_refuse_a_joint_ranking(engine):
    _register("meaning_c", {"score": cost("")})
    _register("meaning_d", {"score": fraction()})
    _lab(engine, "meaning_c", [{"score": 1.0}])
    _lab(engine, "meaning_d", [{"score": 0.5}])
    with pytest.raises(AdlabError, match="opposite directions.*--pipeline"):
        compare(engine, metrics=["score"])
    from adlab.db.run_filter import RunFilter

    assert compare(engine, metrics=["score"], filters=RunFilter(pipeline="meaning_d")).groups


def test_builtin_pipelines_declare_their_headline_and_costs():
    from adlab.pipelines import BUILTIN_PIPELINES

    unranked = {"anomalib_import"}  # registers trained checkpoints; it evaluates nothing to rank
    for spec in list_pipelines():
        if spec.name in BUILTIN_PIPELINES and spec.name not in unranked:
            assert spec.headline_metric in spec.metrics, spec.name
    assert metric_info("anomalib_import", "parity_score_max_abs").direction is Direction.LOWER
    assert metric_info("anomalib", "fit_s").direction is Direction.LOWER
    assert metric_info("anomalib", "image_auroc").scale is Scale.FRACTION
    assert metric_info("mmad", "accuracy").scale is Scale.PERCENT
    assert metric_info("mmad", "answers_per_s").direction is Direction.HIGHER  # not "s" = seconds
    for key in ("mmd", "wasserstein", "feature_drift", "bank_mb", "extract_s"):
        assert metric_info("patchcore_study", key).direction is Direction.LOWER, key
    assert metric_info("read", "load_s").direction is Direction.LOWER
    assert metric_info("anomalib", "epochs_run").direction is Direction.NONE


def test_cli_compare_fit_s_ranks_the_fastest_first(engine, tmp_path, cli):
    path = tmp_path / "runs.csv"
    path.write_text("tags.mlflow.runName,tags.pipeline,params.data.dataset,params.model,params.seed,"
                    "metrics.fit_s,metrics.image_auroc\n"
                    "slow,anomalib,visa,patchcore,0,30.5,0.91\n"
                    "fast,anomalib,visa,patchcore,1,4.25,0.90\n"
                    "mid,anomalib,visa,patchcore,2,12.0,0.92\n")
    assert cli("import", str(path)).returncode == 0
    proc = cli("compare", "--metric", "fit_s", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["higher_is_better"]["fit_s"] is False
    [g] = doc["groups"]
    assert [(r["name"], r["rank"]) for r in g["runs"]] == [("fast", 1), ("mid", 2), ("slow", 3)]
    assert g["best"]["name"] == "fast"
