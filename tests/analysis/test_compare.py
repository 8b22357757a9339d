"""Grouped comparison against expectations computed independently in the tests."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlmodel import Session

from adlab.analysis.compare import GroupMismatch, compare
from adlab.db.models import Metric, Run

from analysis_runsets import RUNS, competition_ranks, expected_groups, sample_std


def _ids(engine) -> dict[str, int]:
    with Session(engine) as s:
        return {name: rid for rid, name in s.exec(select(Run.id, Run.name)).all()}


def _group_for(comparison, dataset, lr):
    found = [g for g in comparison.groups
             if g.partition.get("dataset") == dataset and g.keys.get("lr") == lr]
    assert len(found) == 1, [(g.partition, g.keys) for g in comparison.groups]
    return found[0]


def test_groups_ranks_bests_and_stats_match_an_independent_computation(moleflow_lab):
    c = compare(moleflow_lab, metrics=["img_auc", "pix_ap"])
    expected = expected_groups()
    assert len(c.groups) == len(expected) == 4
    for (dataset, lr, logdet, k), members in expected.items():
        g = _group_for(c, dataset, lr)
        assert g.keys == {"lr": lr, "lambda_logdet": logdet, "scale_ctx_k": int(k)}
        assert sorted(r.name for r in g.runs) == sorted(m[0] for m in members)
        aucs = [m[9] for m in members]
        want_rank = dict(zip([m[0] for m in members], competition_ranks(aucs)))
        assert {r.name: r.rank for r in g.runs} == want_rank
        assert [r.rank for r in g.runs] == sorted(r.rank for r in g.runs)
        top = max(aucs)
        assert g.best.value == top
        tied = sorted(m[0] for m in members if m[9] == top)
        assert g.best.name == tied[0]
        assert len(g.best.tied) == len(tied) - 1
        st = g.stats["img_auc"]
        assert st.n == len(aucs)
        assert st.mean == pytest.approx(sum(aucs) / len(aucs), abs=1e-12)
        if len(aucs) > 1:
            assert st.std == pytest.approx(sample_std(aucs), abs=1e-12)
        assert g.stats["pix_ap"].mean == pytest.approx(sum(m[10] for m in members) / len(members))


def test_spellings_of_one_value_share_a_stored_group(moleflow_lab):
    with Session(moleflow_lab) as s:
        rows = s.exec(select(Run.name, Run.group_hash, Run.partition_hash)).all()
    by_name = {n: (g, p) for n, g, p in rows}
    group1 = [r[0] for r in RUNS if r[1] == "mvtec" and float(r[2]) == 2e-4]
    assert len({by_name[n][0] for n in group1}) == 1  # 2e-4 / 0.0002 / 2E-4 / 0.00020, 3 / 3.0
    assert by_name["baseline"][0] != by_name["MAIN"][0]
    assert by_name["baseline"][1] == by_name["MAIN"][1]  # same partition (MVTec)
    assert by_name["baseline"][1] != by_name["visa_base"][1]


def test_ties_share_a_rank(moleflow_lab):
    g = _group_for(compare(moleflow_lab, metrics=["img_auc"]), "mvtec", 3e-4)
    assert [(r.name, r.rank) for r in g.runs] == [("FullBest", 1), ("MAIN", 1), ("TailW0.65", 3)]
    assert g.best.name == "FullBest" and g.best.tied == [_ids(moleflow_lab)["MAIN"]]


def test_only_parameters_that_differ_inside_the_group_are_columns(moleflow_lab):
    c = compare(moleflow_lab, metrics=["img_auc"])
    g1 = _group_for(c, "mvtec", 2e-4)
    assert g1.differing == ["dia", "seed", "topk", "use_router"]
    g2 = _group_for(c, "mvtec", 3e-4)
    assert g2.differing == ["dia", "topk"]
    assert _group_for(c, "mpdd", 2e-4).differing == []
    dia7 = next(r for r in g1.runs if r.name == "DIA7")
    assert dia7.params == {"dia": 7, "seed": 0, "topk": 0, "use_router": True}


def test_mean_and_std_over_repeated_seeds(moleflow_lab):
    g1 = _group_for(compare(moleflow_lab, metrics=["img_auc"]), "mvtec", 2e-4)
    by_params = {json.dumps(v.params, sort_keys=True): v for v in g1.variants}
    dia7 = by_params[json.dumps({"dia": 7, "topk": 0, "use_router": True}, sort_keys=True)]
    assert dia7.n == 2 and dia7.mean == pytest.approx((0.9830 + 0.9820) / 2)
    assert dia7.std == pytest.approx(sample_std([0.9830, 0.9820]))
    base = by_params[json.dumps({"dia": 4, "topk": 0, "use_router": True}, sort_keys=True)]
    assert base.n == 2 and base.mean == pytest.approx((0.9793 + 0.9801) / 2)
    assert len(g1.variants) == 6


def test_deltas_against_the_baseline_in_percentage_points(moleflow_lab):
    ids = _ids(moleflow_lab)
    c = compare(moleflow_lab, metrics=["img_auc", "pix_ap"], baseline=ids["baseline"])
    g1 = _group_for(c, "mvtec", 2e-4)
    assert g1.baseline == ids["baseline"]
    for r in g1.runs:
        src = next(x for x in RUNS if x[0] == r.name)
        assert r.delta_pp["img_auc"] == pytest.approx((src[9] - 0.9793) * 100, abs=1e-9)
        assert r.delta_pp["pix_ap"] == pytest.approx((src[10] - 0.4735) * 100, abs=1e-9)
        assert r.is_baseline == (r.name == "baseline")
    assert all(not r.delta_pp for r in _group_for(c, "mvtec", 3e-4).runs)
    assert c.baseline["name"] == "baseline"


def test_datasets_are_never_ranked_together_even_when_regrouped(moleflow_lab):
    c = compare(moleflow_lab, metrics=["img_auc"], group_keys=["dia"])
    seen = {}
    for g in c.groups:
        datasets = {next(x for x in RUNS if x[0] == r.name)[1] for r in g.runs}
        assert len(datasets) == 1
        seen[(g.partition["dataset"], g.keys["dia"])] = sorted(r.name for r in g.runs)
    want: dict = {}
    for r in RUNS:
        want.setdefault((r[1], int(r[5])), []).append(r[0])
    assert seen == {k: sorted(v) for k, v in want.items()}


def test_regroup_keys_resolve_by_last_part_and_compare_by_meaning(moleflow_lab):
    c = compare(moleflow_lab, metrics=["img_auc"], group_keys=["lr"])
    assert c.group_keys == ["lr"]
    mvtec = [g for g in c.groups if g.partition["dataset"] == "mvtec"]
    assert sorted(g.keys["lr"] for g in mvtec) == [2e-4, 3e-4]
    assert sorted(g.n_runs for g in mvtec) == [3, 8]
    with pytest.raises(Exception, match="not a parameter"):
        compare(moleflow_lab, metrics=["img_auc"], group_keys=["no_such_key"])


def test_named_runs_of_different_groups_are_refused_with_the_differences(moleflow_lab):
    ids = _ids(moleflow_lab)
    with pytest.raises(GroupMismatch) as err:
        compare(moleflow_lab, metrics=["img_auc"], run_ids=[ids["baseline"], ids["MAIN"]])
    msg = str(err.value)
    for key in ("lr", "lambda_logdet", "scale_ctx_k", "--across-groups"):
        assert key in msg
    assert "seed" not in msg.split("(", 1)[1]
    c = compare(moleflow_lab, metrics=["img_auc"], run_ids=[ids["baseline"], ids["MAIN"]],
                across_groups=True)
    assert [d.key for d in c.differences] == ["lambda_logdet", "lr", "scale_ctx_k", "topk"]
    assert len(c.groups) == 1 and c.groups[0].label == "across groups"
    assert [(r.name, r.rank) for r in c.groups[0].runs] == [("MAIN", 1), ("baseline", 2)]
    same = compare(moleflow_lab, metrics=["img_auc"], run_ids=[ids["DIA6"], ids["DIA8"]])
    assert [r.name for r in same.groups[0].runs] == ["DIA8", "DIA6"]


def test_top_limits_the_listing_but_statistics_cover_every_run(moleflow_lab):
    c = compare(moleflow_lab, metrics=["img_auc"], top=3)
    g1 = _group_for(c, "mvtec", 2e-4)
    assert g1.n_runs == 8 and not g1.complete
    assert [r.rank for r in g1.runs] == [1, 2, 3, 3, 3]  # ties at the cut are kept
    aucs = [r[9] for r in RUNS if r[1] == "mvtec" and float(r[2]) == 2e-4]
    assert g1.stats["img_auc"].mean == pytest.approx(sum(aucs) / len(aucs))
    assert g1.stats["img_auc"].std == pytest.approx(sample_std(aucs), rel=1e-6)


def test_lower_is_better_metrics_rank_ascending(moleflow_lab):
    with Session(moleflow_lab) as s:
        for rid, name in s.exec(select(Run.id, Run.name)).all():
            s.add(Metric(run_id=rid, key="val_loss", value=float(len(name))))
        s.commit()
    g1 = _group_for(compare(moleflow_lab, metrics=["val_loss"]), "mvtec", 2e-4)
    assert g1.best.value == min(len(r[0]) for r in RUNS if r[1] == "mvtec" and float(r[2]) == 2e-4)
    c = compare(moleflow_lab, metrics=["img_auc"], lower_is_better=["img_auc"])
    assert _group_for(c, "mvtec", 2e-4).best.name == "baseline"


def test_default_metric_is_the_headline_and_scope_selects_category_values(moleflow_lab):
    c = compare(moleflow_lab)
    assert c.metric == "img_auc"
    ids = _ids(moleflow_lab)
    with Session(moleflow_lab) as s:
        s.add(Metric(run_id=ids["DIA6"], key="img_auc", scope="bottle", value=0.99))
        s.add(Metric(run_id=ids["DIA7"], key="img_auc", scope="bottle", value=0.97))
        s.commit()
    scoped = compare(moleflow_lab, metrics=["img_auc"], scope="bottle")
    assert [(r.name, r.rank) for g in scoped.groups for r in g.runs] == [("DIA6", 1), ("DIA7", 2)]


def test_queued_runs_group_by_the_study_group_keys(engine):
    """Runs queued from a study file: group keys declared in the YAML, else every parameter
    except the seed; metrics written as the worker writes them."""
    from adlab.config.loader import build_run_specs
    from adlab.pipelines import PipelineParams, PipelineSpec, register_pipeline
    from adlab.queue import enqueue

    class FlowParams(PipelineParams):
        dataset: str = "mvtec"
        lr: float = 2e-4
        dia: int = 4
        seed: int = 0

    register_pipeline(PipelineSpec(name="flowtest", params_model=FlowParams,
                                   runner="adlab.pipelines.diag:run", description="test",
                                   partition_keys=("dataset",), headline_metric="auc"))
    study = {"pipeline": "flowtest", "study": "s1", "group_keys": ["lr"],
             "grid": {"lr": ["2e-4", 0.0002, 3e-4], "dia": [4, 6], "seed": [0, 1]}}
    specs = build_run_specs(study)
    enqueue(engine, specs, repeat=True)
    with Session(engine) as s:
        runs = s.exec(select(Run)).scalars().all()
        for run in runs:
            cfg = json.loads(run.config_json)
            run.status = "succeeded"
            value = round(0.9 + cfg["dia"] / 100 + cfg["seed"] / 1000, 6)
            s.add(Metric(run_id=run.id, key="auc", value=value))
            s.add(run)
        s.commit()
    c = compare(engine, metrics=["auc"])
    assert sorted((g.keys["lr"], g.n_runs) for g in c.groups) == [(2e-4, 8), (3e-4, 4)]
    g = next(g for g in c.groups if g.keys["lr"] == 2e-4)
    assert g.best.value == pytest.approx(0.961) and len(g.best.tied) == 1
    assert g.differing == ["dia", "seed"]
    default = build_run_specs({**study, "group_keys": None})
    assert len({s.group_hash for s in default}) == 4  # (lr by meaning) x dia; seeds share


def test_cli_compare_json_and_refusal(moleflow_lab, cli):
    proc = cli("compare", "--metric", "img_auc", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {"groups", "metric"} <= set(doc)
    g = next(g for g in doc["groups"] if g["keys"].get("lr") == 0.0003)
    assert [(r["name"], r["rank"]) for r in g["runs"]] == [("FullBest", 1), ("MAIN", 1), ("TailW0.65", 3)]
    assert g["best"]["name"] == "FullBest"
    proc = cli("compare", "--group", "lr", "--metric", "img_auc", "--json")
    assert proc.returncode == 0 and len(json.loads(proc.stdout)["groups"]) == 4
    proc = cli("compare", "baseline", "MAIN", "--metric", "img_auc")
    assert proc.returncode == 1
    assert "lr" in proc.stderr and "--across-groups" in proc.stderr and proc.stdout == ""
    proc = cli("compare", "baseline", "MAIN", "--across-groups", "--metric", "img_auc")
    assert proc.returncode == 0 and "differs across groups: lr" in proc.stdout
    proc = cli("compare", "--metric", "img_auc", "--baseline", "baseline")
    assert proc.returncode == 0 and "+0.37" in proc.stdout
