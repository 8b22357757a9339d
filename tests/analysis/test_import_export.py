"""Import (MLflow CSV, adlab JSON, seed meta files) and export round trips, on real SQLite."""
from __future__ import annotations

import csv
import json

import pytest
from analysis_runsets import RUNS
from sqlalchemy import select
from sqlmodel import Session

from adlab.interchange.exporters import export_runs
from adlab.interchange.importers import import_file
from adlab.db.engine import get_engine
from adlab.db.models import Event, Metric, Param, Run
from adlab.errors import AdlabError


def _runs(engine) -> dict[str, Run]:
    with Session(engine) as s:
        return {r.name: r for r in s.exec(select(Run)).scalars().all()}


def test_mlflow_csv_becomes_runs_with_params_metrics_and_provenance(moleflow_lab, moleflow_csv):
    runs = _runs(moleflow_lab)
    assert set(runs) == {r[0] for r in RUNS}
    base = runs["baseline"]
    assert base.status == "succeeded" and base.pipeline == "imported" and base.seed == 0
    info = json.loads(base.info_json)
    assert info["provenance"] == f"imported from {moleflow_csv}"
    assert info["origin_id"] == "mlflow:mlf000"
    assert json.loads(base.group_keys_json) == ["lr", "lambda_logdet", "scale_ctx_k"]
    assert base.headline_metric == "img_auc" and base.headline_value == 0.9793
    with Session(moleflow_lab) as s:
        params = {k: (t, n) for k, t, n in s.exec(
            select(Param.key, Param.value_text, Param.value_num).where(Param.run_id == base.id)).all()}
        metrics = {k: v for k, v in s.exec(
            select(Metric.key, Metric.value).where(Metric.run_id == base.id)).all()}
        events = s.exec(select(Event.message).where(Event.run_id == base.id)).scalars().all()
    assert params["lr"] == ("2e-4", 0.0002) and params["use_router"][1] is None
    assert metrics == {"img_auc": 0.9793, "pix_ap": 0.4735}
    assert any("imported from" in e for e in events)
    again = import_file(moleflow_lab, moleflow_csv)
    assert again.created == [] and len(again.skipped) == len(RUNS)


def test_partition_keys_default_and_override(engine, tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("name,params.dataset,params.few_shot,params.lr,metrics.acc\n"
                    "a,visa,1,1e-3,0.5\nb,visa,2,1e-3,0.6\nc,visa,1,0.001,0.7\n")
    import_file(engine, path)
    runs = _runs(engine)
    assert json.loads(runs["a"].info_json)["partition_keys"] == ["dataset", "few_shot"]
    assert runs["a"].partition_hash == runs["c"].partition_hash != runs["b"].partition_hash
    assert runs["a"].group_hash == runs["c"].group_hash  # 1e-3 == 0.001
    other = get_engine(f"sqlite:///{tmp_path / 'other.db'}")
    import_file(other, path, partition_keys=["dataset"])
    runs = _runs(other)
    assert runs["a"].partition_hash == runs["b"].partition_hash
    assert runs["a"].group_hash != runs["b"].group_hash


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_then_import_reproduces_groups_and_metrics(moleflow_lab, tmp_path, fmt):
    with Session(moleflow_lab) as s:
        rid = s.exec(select(Run.id).where(Run.name == "DIA6")).scalar_one()
        s.add(Metric(run_id=rid, key="img_auc", scope="bottle", value=0.91))
        s.commit()
    out = tmp_path / f"export.{fmt}"
    text, n = export_runs(moleflow_lab, out=out, fmt=fmt)
    assert n == len(RUNS) and out.read_text() == text
    assert export_runs(moleflow_lab, out=None, fmt=fmt)[0] == text  # same bytes again
    other = get_engine(f"sqlite:///{tmp_path / 'other.db'}")
    import_file(other, out)
    a, b = _runs(moleflow_lab), _runs(other)
    for name in a:
        assert (a[name].group_hash, a[name].partition_hash) == (b[name].group_hash, b[name].partition_hash)
    with Session(other) as s:
        got = sorted(s.exec(select(Run.name, Metric.key, Metric.scope, Metric.value)
                            .join(Metric, Metric.run_id == Run.id)).all())
    want = sorted([(r[0], "img_auc", "", r[9]) for r in RUNS] + [(r[0], "pix_ap", "", r[10]) for r in RUNS]
                  + [("DIA6", "img_auc", "bottle", 0.91)])
    assert got == want


def test_csv_export_uses_the_mlflow_layout(moleflow_lab, tmp_path):
    text, _ = export_runs(moleflow_lab, out=None, fmt="csv")
    header = next(csv.reader(text.splitlines()))
    assert header[:3] == ["run_id", "tags.mlflow.runName", "status"]
    assert "params.lr" in header and "metrics.img_auc" in header and "tags.group_keys" in header


def _write_meta(folder, stem, **meta):
    (folder / f"{stem}.meta.json").write_text(json.dumps(meta))


def test_seed_meta_files_import_as_mmad_runs_with_scored_answers(engine, tmp_path, cli):
    folder = tmp_path / "eval"
    folder.mkdir()
    _write_meta(folder, "answers_1_shot_qwen", experiment_name="no_ad_qwen_1shot", llm="qwen",
                ad_model=None, few_shot=1, accuracy=45.2, processed=100, errors=3,
                elapsed_seconds=1235.0, timestamp="2026-02-09T15:30:00")
    _write_meta(folder, "answers_1_shot_gpt", experiment_name="patchcore_gpt-4o_1shot", llm="gpt-4o",
                ad_model="patchcore", few_shot=1, accuracy=62.8, processed=100, errors=1,
                elapsed_seconds=890.0, timestamp="2026-02-09T16:45:00")
    answers = [  # GoodsAD: defect classification 1/2; anomaly detection normal 1/1, anomalous 0/1
        {"image": "GoodsAD/box/test/good/1.jpg", "question": "q", "question_type": "Anomaly Detection",
         "correct_answer": "A", "gpt_answer": "A"},
        {"image": "GoodsAD/box/test/bad/2.jpg", "question": "q", "question_type": "Anomaly Detection",
         "correct_answer": "B", "gpt_answer": "A"},
        {"image": "GoodsAD/box/test/bad/2.jpg", "question": "q", "question_type": "Defect Classification",
         "correct_answer": "C", "gpt_answer": "C"},
        {"image": "GoodsAD/box/test/bad/3.jpg", "question": "q", "question_type": "Defect Classification",
         "correct_answer": "C", "gpt_answer": "no idea"},
    ]
    (folder / "answers_1_shot_gpt.json").write_text(json.dumps(answers))
    result = import_file(engine, folder)
    assert len(result.created) == 2
    runs = _runs(engine)
    gpt = runs["patchcore_gpt-4o_1shot"]
    assert gpt.pipeline == "mmad" and gpt.headline_value == 62.8
    with Session(engine) as s:
        cells = dict(s.exec(select(Metric.scope, Metric.value)
                            .where(Metric.run_id == gpt.id, Metric.scope != "")).all())
    assert cells["GoodsAD/Defect Classification"] == pytest.approx(50.0)
    assert cells["GoodsAD/Anomaly Detection"] == pytest.approx(50.0)  # balanced (100 + 0) / 2
    assert cells["GoodsAD/Average"] == pytest.approx(50.0)
    proc = cli("compare", "--flat", "--sort", "accuracy")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    body = [ln for ln in lines if ln.startswith(("no_ad", "patchcore"))]
    assert [ln.split()[0] for ln in body] == ["patchcore_gpt-4o_1shot", "no_ad_qwen_1shot"]
    assert "62.8%" in body[0] and "890s" in body[0] and "2026-02-09T16:45" in body[0]
    assert "Total experiments: 2" in lines and "Best accuracy: 62.8% (patchcore_gpt-4o_1shot)" in lines
    by_name = cli("compare", "--flat", "--sort", "name", "--json")
    doc = json.loads(by_name.stdout)
    assert [r["experiment"] for r in doc["rows"]] == ["no_ad_qwen_1shot", "patchcore_gpt-4o_1shot"]
    assert doc["best"]["accuracy"] == 62.8 and doc["total"] == 2


def test_bad_files_fail_with_one_clear_sentence(engine, tmp_path, cli):
    bad = tmp_path / "x.csv"
    bad.write_text("foo,bar\n1,2\n")
    with pytest.raises(AdlabError, match="not an MLflow runs export"):
        import_file(engine, bad)
    bad.write_text("name,metrics.auc\nr1,high\n")
    with pytest.raises(AdlabError, match="line 2: column metrics.auc holds 'high'"):
        import_file(engine, bad)
    proc = cli("import", str(tmp_path / "missing.csv"))
    assert proc.returncode == 1 and "does not exist" in proc.stderr


def test_cli_import_and_export(tmp_path, cli, moleflow_csv):
    proc = cli("import", str(moleflow_csv), "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["imports"][0]["created"]) == len(RUNS)
    proc = cli("export", "--format", "json", "-o", str(tmp_path / "e.json"), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["runs"] == len(RUNS)
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["adlab_export"] == 1 and len(doc["runs"]) == len(RUNS)
