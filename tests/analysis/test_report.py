"""The markdown report: tables checked against values computed in the test, reproducible bytes."""
from __future__ import annotations

import hashlib
import json
import re
import statistics

import pytest
from analysis_runsets import RUNS, competition_ranks
from sqlalchemy import select
from sqlmodel import Session

from adlab.analysis.report import render_report
from adlab.db.models import Artifact, Metric, Run


def _tables(md: str) -> list[list[list[str]]]:
    """Every markdown table as rows of cells (header first, alignment row dropped)."""
    tables, current = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _section(md: str, title: str) -> str:
    start = md.index(title)
    rest = md[start + len(title):]
    nxt = re.search(r"\n#{2,3} ", rest)
    return rest[: nxt.start()] if nxt else rest


def _table_after(md: str, marker: str) -> list[list[str]]:
    return _tables(md[md.index(marker):])[0]


def _g1(rows=RUNS):
    return [r for r in rows if r[1] == "mvtec" and float(r[2]) == 2e-4]


@pytest.fixture
def report(moleflow_lab, tmp_path):
    path = render_report(moleflow_lab, out=tmp_path / "exports" / "moleflow.md",
                         metrics=["img_auc", "pix_ap"])
    return path, path.read_text()


def test_group_definitions_table(report):
    _, md = report
    t = _table_after(md, "## Group definitions")
    assert t[0] == ["Group", "Pipeline", "dataset", "lambda_logdet", "lr", "scale_ctx_k", "Runs", "Best run"]
    rows = {(r[2], r[4]): r for r in t[1:]}
    assert rows[("mvtec", "0.0002")][6] == str(len(_g1()))
    assert rows[("mvtec", "0.0003")][5:] == ["5", "3", "FullBest"]
    assert rows[("visa", "0.0002")][7] == "visa_base"


def test_ranking_table_per_group_with_best_bold(report):
    _, md = report
    g1 = _g1()
    label = re.search(r"### (G\d): imported \[dataset=mvtec\] — lr=0.0002", md).group(1)
    t = _table_after(md, f"*{label}, ranked by img_auc*")
    ranks = dict(zip([r[0] for r in g1], competition_ranks([r[9] for r in g1])))
    body = t[1:]
    assert len(body) == len(g1)
    for row in body:
        name = row[1].strip("*").replace(" (baseline)", "")
        assert int(row[0]) == ranks[name]
        src = next(r for r in g1 if r[0] == name)
        assert row[2].strip("*") == f"{src[9]:.4f}" and row[3].strip("*") == f"{src[10]:.4f}"
        assert row[2].startswith("**") == (src[9] == max(r[9] for r in g1))
        assert row[3].startswith("**") == (src[10] == max(r[10] for r in g1))


def test_effect_and_ablation_tables_against_the_baseline(report):
    _, md = report
    base_auc = (0.9793 + 0.9801) / 2  # the baseline variant over its two seeds
    base_ap = (0.4735 + 0.4701) / 2
    t = _table_after(md, "#### Effect of dia")
    assert t[0] == ["dia", "img_auc", "pix_ap", "Δ img_auc", "Δ pix_ap"]
    assert t[1][0] == "4 (baseline)" and t[1][3:] == ["-", "-"]
    dia = {r[0]: r for r in t[2:]}
    for value, aucs, aps in (("6", [0.9820], [0.4606]), ("7", [0.9830, 0.9820], [0.4580, 0.4590]),
                             ("8", [0.9825], [0.4546])):
        auc, ap = sum(aucs) / len(aucs), sum(aps) / len(aps)
        assert dia[value][1].strip("*") == f"{auc:.4f}"
        assert dia[value][3] == f"{(auc - base_auc) * 100:+.2f} pp"
        assert dia[value][4] == f"{(ap - base_ap) * 100:+.2f} pp"
    topk = _table_after(md, "#### Effect of topk")
    assert [r[0] for r in topk[1:]] == ["0 (baseline)", "5"]
    abl = _table_after(md, "#### Ablations")
    assert abl[1][0] == "Full model (baseline)"
    assert abl[2][0] == "use_router=false"
    assert abl[2][3] == f"{(0.9798 - base_auc) * 100:+.2f} pp"


def test_cross_group_caution_best_per_group_and_dataset_summary(report):
    _, md = report
    caution = _table_after(md, "## Cross-group caution")
    assert caution[0] == ["Parameter", "G2", "G3"]  # G1 is MPDD (partitions sort by dataset)
    assert {r[0]: r[1:] for r in caution[1:]} == {"lambda_logdet": ["1e-05", "0.0001"],
                                                  "lr": ["0.0002", "0.0003"],
                                                  "scale_ctx_k": ["3", "5"]}
    summary = _table_after(md, "## Per-dataset summary")
    rows = {r[0]: r for r in summary[1:]}
    for ds in ("mvtec", "visa", "mpdd"):
        mine = [r for r in RUNS if r[1] == ds]
        best = max(mine, key=lambda r: (r[9], [-ord(ch) for ch in r[0]]))
        assert rows[ds][3] == str(len(mine))
        assert rows[ds][4] == f"{best[9]:.4f} ({best[0]})"
    best = _table_after(md, "## Best per group")
    g2 = next(r for r in best[1:] if "lr=0.0003" in r[0])
    assert g2[1:] == ["0.9829", "**0.5430**", "FullBest / TailW0.65"]
    g1 = next(r for r in best[1:] if "mvtec" in r[0] and "lr=0.0002" in r[0])
    assert g1[1] == "**0.9830**"  # bold only against groups of the same partition
    visa = next(r for r in best[1:] if "visa" in r[0])
    assert not visa[1].startswith("**")


def test_overview_lists_datasets_backbone_metrics_and_runs(report):
    _, md = report
    overview = _section(md, "## Overview")
    assert "**Datasets**: mpdd, mvtec, visa" in overview
    assert "**Backbone / model**: wide_resnet50_2" in overview
    assert f"img_auc ({len(RUNS)} runs)" in overview
    assert f"**Runs**: {len(RUNS)}" in overview


def test_same_database_gives_the_same_bytes(moleflow_lab, tmp_path):
    def digest(folder):
        out = render_report(moleflow_lab, out=folder / "r.md", fmt="latex", metrics=["img_auc"])
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in files}, out
    a, tex = digest(tmp_path / "a")
    b, _ = digest(tmp_path / "b")
    assert a == b
    assert any(k.endswith(".png") for k in a) and "r.md" in a and "r.tex" in a
    latex = tex.read_text()
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"\textbf{0.9830}" in latex


def test_per_category_mmad_and_curve_sections(moleflow_lab, tmp_path, monkeypatch):
    monkeypatch.setenv("ADLAB_ARTIFACTS", str(tmp_path / "art"))
    ids = {}
    with Session(moleflow_lab) as s:
        ids = {n: i for i, n in s.exec(select(Run.id, Run.name)).all()}
        for name, cat, v in (("DIA6", "bottle", 0.99), ("DIA6", "cable", 0.95),
                             ("DIA7", "bottle", 0.97), ("DIA7_s1", "bottle", 0.98),
                             ("MAIN", "bottle", 0.96)):
            s.add(Metric(run_id=ids[name], key="img_auc", scope=cat, value=v))
        for scope, v in (("GoodsAD/Anomaly Detection", 60.0), ("GoodsAD/Average", 55.0),
                         ("MVTec-LOCO/Average", 45.0), ("Average/Average", 50.0)):
            s.add(Metric(run_id=ids["MAIN"], key="accuracy", scope=scope, value=v))
        (tmp_path / "art").mkdir()
        (tmp_path / "art" / "curves.json").write_text(json.dumps(
            {"roc": {"fpr": [0, 0.1, 1], "tpr": [0, 0.9, 1]},
             "pr": {"recall": [0, 0.5, 1], "precision": [1, 0.8, 0.5]}}))
        s.add(Artifact(run_id=ids["DIA7"], kind="curves", path="curves.json", sha256="0" * 64, bytes=1))
        s.commit()
    out = render_report(moleflow_lab, out=tmp_path / "r.md", metrics=["img_auc"])
    md = out.read_text()
    cat = _table_after(md, "mvtec — img_auc")
    # one column per variant (DIA6, DIA7 over its two seeds, MAIN), never a mean across them
    assert cat[0][0] == "Category" and len(cat[0]) == 4
    bottle = [c.strip("*") for c in next(r for r in cat[1:] if r[0] == "bottle")[1:]]
    dia7 = statistics.mean([0.97, 0.98]), statistics.stdev([0.97, 0.98])
    assert sorted(bottle) == sorted(["0.9900 (n=1)", f"{dia7[0]:.4f} ± {dia7[1]:.4f} (n=2)",
                                     "0.9600 (n=1)"])
    assert f"{(0.99 + 0.97 + 0.98) / 3:.4f}" not in md  # the old cross-variant "group" mean
    mmad = _table_after(md, "## MMAD accuracy (%)")
    assert mmad[0] == ["Run", "GoodsAD", "MVTec-LOCO", "Average"]
    assert mmad[1][:3] == ["MAIN", "**55.00**", "**45.00**"]
    assert (tmp_path / "r_figures" / "roc_curves.png").is_file()
    assert "r_figures/pr_curves.png" in md
