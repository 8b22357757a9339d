"""The benchmark pivot (categories x variants, mean ± std over seeds) against numpy.

The lab: 3 methods x 3 categories x 3 seeds imported from an MLflow CSV, one method missing a
category, all in one declared group per category (so the old group summary averaged the
methods together). Every expectation is computed here with numpy from the generated values.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

METHODS = ["padim", "patchcore", "stfpm"]
CATEGORIES = ["bottle", "cable", "screw"]
SEEDS = [0, 1, 2]
MISSING = ("stfpm", "screw")  # stfpm never ran on screw
VISA = ["candle", "pcb1"]  # joint runs: one run covers both, per-category scoped metrics


def _values() -> dict[tuple[str, str, int], float]:
    rng = np.random.default_rng(7)
    out = {}
    for mi, m in enumerate(METHODS):
        for ci, c in enumerate(CATEGORIES):
            for s in SEEDS:
                if (m, c) != MISSING:
                    out[(m, c, s)] = round(0.6 + 0.1 * mi + 0.05 * ci + float(rng.uniform(0, 0.04)), 6)
    return out


VALUES = _values()


def _visa_values() -> dict[tuple[str, str, int], float]:
    rng = np.random.default_rng(11)
    return {(m, c, s): round(float(rng.uniform(0.5, 0.95)), 6)
            for m in METHODS[:2] for c in VISA for s in SEEDS[:2]}


VISA_VALUES = _visa_values()


def write_lab_csv(path: Path) -> Path:
    cols = ["name", "status", "params.dataset", "params.category", "params.method",
            "params.backbone", "params.seed", "metrics.image_auroc", "metrics.infer_ms",
            *[f"metrics.image_auroc[{c}]" for c in VISA], "tags.group_keys"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for (m, c, s), v in VALUES.items():
            w.writerow([f"{m}_{c}_s{s}", "FINISHED", "mvtec", c, m, "wrn50", s, v,
                        10.0 + METHODS.index(m) + s, "", "", "backbone"])
        for m in METHODS[:2]:
            for s in SEEDS[:2]:
                per = [VISA_VALUES[(m, c, s)] for c in VISA]
                w.writerow([f"{m}_visa_s{s}", "FINISHED", "visa", "", m, "wrn50", s,
                            float(np.mean(per)), "", *per, "backbone"])
    return path


@pytest.fixture
def lab(engine, tmp_path):
    from adlab.interchange.importers import import_file

    result = import_file(engine, write_lab_csv(tmp_path / "lab.csv"))
    assert len(result.created) == len(VALUES) + 4
    return engine


def _expected_cells(values, methods, categories):
    cells = {}
    for m in methods:
        for c in categories:
            v = [values[(m, c, s)] for s in SEEDS if (m, c, s) in values]
            if v:
                cells[(m, c)] = (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else None, len(v))
    return cells


def _expected_means(values, methods, categories, seeds):
    out = {}
    for m in methods:
        if any((m, c, seeds[0]) not in values for c in categories):
            out[m] = None
            continue
        per_seed = [np.mean([values[(m, c, s)] for c in categories]) for s in seeds]
        cell_means = [np.mean([values[(m, c, s)] for s in seeds]) for c in categories]
        out[m] = (float(np.mean(cell_means)), float(np.std(per_seed, ddof=1)))
    return out


def _cross_variant_numbers() -> list[float]:
    """Means that mix methods: what must never be printed."""
    out = [float(np.mean(list(VALUES.values())))]
    for c in CATEGORIES:
        out.append(float(np.mean([v for (m, cc, s), v in VALUES.items() if cc == c])))
        for s in SEEDS:
            out.append(float(np.mean([v for (m, cc, ss), v in VALUES.items() if cc == c and ss == s])))
    for m1 in METHODS:  # column means over categories that mix... nothing; pairs of methods do
        for m2 in METHODS:
            if m1 < m2:
                out.append(float(np.mean([v for (m, c, s), v in VALUES.items() if m in (m1, m2)])))
    return out


def _legit_numbers() -> set[str]:
    cells = _expected_cells(VALUES, METHODS, CATEGORIES)
    means = _expected_means(VALUES, METHODS, CATEGORIES, SEEDS)
    nums = {f"{x:.4f}" for mean, std, _ in cells.values() for x in (mean, std) if x is not None}
    nums |= {f"{x:.4f}" for v in means.values() if v for x in v}
    nums |= {f"{v:.4f}" for v in VALUES.values()}
    return nums


def test_pivot_cells_are_seed_means_and_the_mean_row_is_only_for_complete_methods(lab):
    from adlab.analysis.pivot import pivot_category

    pivots = {p.dataset: p for p in pivot_category(lab, metrics=["image_auroc"])}
    p = pivots["mvtec"]
    assert [c.label for c in p.columns] == METHODS  # one text key differs: bare values
    assert all(c.params["method"] == c.label and "seed" not in c.params
               and "category" not in c.params and "dataset" not in c.params for c in p.columns)
    assert [r.category for r in p.rows] == CATEGORIES
    want = _expected_cells(VALUES, METHODS, CATEGORIES)
    for row in p.rows:
        for m, cell in zip(METHODS, row.cells):
            if (m, row.category) == MISSING:
                assert cell is None
                continue
            mean, std, n = want[(m, row.category)]
            assert cell.n == n == 3
            assert cell.mean == pytest.approx(mean, abs=1e-12)
            assert cell.std == pytest.approx(std, abs=1e-12)
    means = _expected_means(VALUES, METHODS, CATEGORIES, SEEDS)
    for m, col in zip(METHODS, p.mean):
        if means[m] is None:
            assert (col.mean, col.std, col.n_categories, col.complete) == (None, None, 2, False)
        else:
            assert col.complete and col.n_categories == 3
            assert col.mean == pytest.approx(means[m][0], abs=1e-12)
            assert col.std == pytest.approx(means[m][1], abs=1e-12)
    # best per row: the highest seed mean of the row (higher is better for AUROC)
    for row in p.rows:
        best = max((c.mean, i) for i, c in enumerate(row.cells) if c is not None)[1]
        assert p.best_in_row(row) == {best}


def test_joint_runs_use_their_per_category_scoped_values(lab):
    from adlab.analysis.pivot import pivot_category

    p = next(p for p in pivot_category(lab, metrics=["image_auroc"]) if p.dataset == "visa")
    assert [c.label for c in p.columns] == METHODS[:2]
    assert [r.category for r in p.rows] == VISA
    for row in p.rows:
        for m, cell in zip(METHODS[:2], row.cells):
            v = [VISA_VALUES[(m, row.category, s)] for s in SEEDS[:2]]
            assert (cell.mean, cell.n) == (pytest.approx(np.mean(v), abs=1e-12), 2)
            assert cell.std == pytest.approx(np.std(v, ddof=1), abs=1e-12)
    seeds = SEEDS[:2]
    for m, col in zip(METHODS[:2], p.mean):
        per_seed = [np.mean([VISA_VALUES[(m, c, s)] for c in VISA]) for s in seeds]
        assert col.complete and col.mean == pytest.approx(np.mean(per_seed), abs=1e-12)
        assert col.std == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)


def test_ranking_only_among_variants_with_the_same_category_set(lab):
    from adlab.analysis.pivot import pivot_category, rankings

    ranks = [r for r in rankings(pivot_category(lab, metrics=["image_auroc"]))
             if r.dataset == "mvtec"]
    means = _expected_means(VALUES, METHODS, CATEGORIES, SEEDS)
    full = next(r for r in ranks if r.categories == CATEGORIES)
    order = sorted((m for m in METHODS if means[m]), key=lambda m: -means[m][0])
    assert [e.label for e in full.entries] == order and [e.rank for e in full.entries] == [1, 2]
    assert [e.mean for e in full.entries] == [pytest.approx(means[m][0], abs=1e-12) for m in order]
    alone = next(r for r in ranks if r.categories == ["bottle", "cable"])
    assert [e.label for e in alone.entries] == ["stfpm"]  # never ranked against the others


def test_lower_is_better_metric_bolds_the_smallest(lab):
    from adlab.analysis.pivot import pivot_category

    p = next(p for p in pivot_category(lab, metrics=["infer_ms"]) if p.dataset == "mvtec")
    assert p.higher_is_better(0) is False
    for row in p.rows:
        best = min((c.mean, i) for i, c in enumerate(row.cells) if c is not None)[1]
        assert p.best_in_row(row) == {best} == {0}  # padim: 10 + 0 + seed


def _numbers_in(obj) -> list[float]:
    if isinstance(obj, float):
        return [obj]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers_in(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers_in(v)]
    return []


def test_cli_pivot_json_has_the_contract_shape_and_only_per_variant_numbers(lab, cli):
    proc = cli("compare", "--pivot", "category", "--metric", "image_auroc", "--json", check=True)
    data = json.loads(proc.stdout)
    p = next(p for p in data["pivots"] if p["dataset"] == "mvtec")
    assert set(p) == {"dataset", "metric", "columns", "rows", "mean"}
    assert p["metric"] == "image_auroc"
    assert [c["label"] for c in p["columns"]] == METHODS
    assert all(set(c) == {"label", "params"} for c in p["columns"])
    assert [r["category"] for r in p["rows"]] == CATEGORIES
    screw = p["rows"][CATEGORIES.index("screw")]["cells"]
    assert screw[METHODS.index("stfpm")] is None
    assert set(screw[0]) == {"mean", "std", "n"}
    assert p["mean"][METHODS.index("stfpm")] == {"mean": None, "std": None, "n_categories": 2,
                                                 "complete": False}
    cells = _expected_cells(VALUES, METHODS, CATEGORIES)
    means = _expected_means(VALUES, METHODS, CATEGORIES, SEEDS)
    allowed = [x for mean, std, _ in cells.values() for x in (mean, std)]
    allowed += [x for v in means.values() if v for x in v]
    allowed += [float(s) for s in SEEDS]
    for x in _numbers_in({k: v for k, v in p.items() if k != "columns"}):
        assert any(abs(x - a) < 1e-12 for a in allowed), x
    for bad in _cross_variant_numbers():
        assert all(abs(x - bad) > 1e-9 for x in _numbers_in(data)), bad


def test_cli_pivot_text_and_plain_compare_print_no_cross_variant_mean(lab, cli):
    legit = _legit_numbers()
    bad = {f"{x:.4f}" for x in _cross_variant_numbers()}
    assert not bad & legit  # the check below can tell them apart
    only = ("--where", "dataset=mvtec", "--metric", "image_auroc")
    text = cli("compare", "--pivot", "category", *only, check=True)
    plain = cli("compare", *only, check=True)
    plain_json = json.loads(cli("compare", *only, "--json", check=True).stdout)
    for out in (text.stdout, plain.stdout):
        printed = set(re.findall(r"\d+\.\d{4}", out))
        assert not printed & bad, printed & bad
        assert printed <= legit, printed - legit
    assert "2/3 categories" in text.stdout
    means = _expected_means(VALUES, METHODS, CATEGORIES, SEEDS)
    assert f"{means['patchcore'][0]:.4f} ± {means['patchcore'][1]:.4f}" in text.stdout
    assert "ranking mvtec — image_auroc mean over 3 categories" in text.stdout
    # plain compare: one group per category holds three methods; no pooled group mean
    assert "3 variants" in plain.stdout
    for g in plain_json["groups"]:
        assert "stats" not in g
        for v in g["variants"]:
            method = v["params"]["method"]
            cat = g["partition"]["category"]
            mean, std, n = _expected_cells(VALUES, METHODS, CATEGORIES)[(method, cat)]
            assert v["stats"]["image_auroc"]["mean"] == pytest.approx(mean, abs=1e-12)
            assert v["n"] == n


def test_unknown_pivot_is_a_usage_error(lab, cli):
    proc = cli("compare", "--pivot", "dataset")
    assert proc.returncode == 2 and "--pivot category" in proc.stderr


def _md_table(md: str, marker: str) -> list[list[str]]:
    rows = []
    for line in md[md.index(marker):].splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def _want_row_texts(category: str) -> list[str]:
    cells = _expected_cells(VALUES, METHODS, CATEGORIES)
    texts = [f"{cells[(m, category)][0]:.4f} ± {cells[(m, category)][1]:.4f} (n=3)"
             if (m, category) in cells else "-" for m in METHODS]
    best = max(range(len(METHODS)), key=lambda i: cells.get((METHODS[i], category), (-1,))[0])
    return [f"**{t}**" if i == best else t for i, t in enumerate(texts)]


def test_report_per_category_table_markdown_and_latex(lab, tmp_path):
    from adlab.analysis.report import render_report

    tex_path = render_report(lab, out=tmp_path / "r.md", fmt="latex", metrics=["image_auroc"])
    md, tex = (tmp_path / "r.md").read_text(), tex_path.read_text()
    t = _md_table(md, "### mvtec — image_auroc")
    assert t[0] == ["Category", *METHODS]
    for row in t[1:-1]:
        assert row[1:] == _want_row_texts(row[0])
    means = _expected_means(VALUES, METHODS, CATEGORIES, SEEDS)
    complete = [m for m in METHODS if means[m]]
    best = max(complete, key=lambda m: means[m][0])
    want_mean = [("-" if means[m] is None else
                  (f"**{means[m][0]:.4f} ± {means[m][1]:.4f}**" if m == best
                   else f"{means[m][0]:.4f} ± {means[m][1]:.4f}")) for m in METHODS]
    want_mean[METHODS.index("stfpm")] = "2/3 categories"
    assert t[-1] == ["**Mean**", *want_mean]
    assert "- **stfpm**: `method=stfpm`" in md
    rank = _md_table(md, "### mvtec — image_auroc over 3 categories")
    order = sorted(complete, key=lambda m: -means[m][0])
    assert [r[1] for r in rank[1:]] == order
    # LaTeX: the same cells, booktabs, bold by \textbf
    for c in CATEGORIES:
        texts = [x.replace("**", "") for x in _want_row_texts(c)]
        line = next(ln for ln in tex.splitlines() if ln.startswith(f"{c} & "))
        for text, raw in zip(texts, _want_row_texts(c)):
            latex = text.replace("±", r"$\pm$")
            assert (r"\textbf{" + latex + "}" if raw.startswith("**") else latex) in line
    mean_line = next(ln for ln in tex.splitlines() if ln.startswith(r"\textbf{Mean}"))
    assert "2/3 categories" in mean_line
    assert rf"\textbf{{{means[best][0]:.4f} $\pm$ {means[best][1]:.4f}}}" in mean_line
    # no mean over different methods anywhere in either file
    bad = {f"{x:.4f}" for x in _cross_variant_numbers()}
    for text in (md, tex):
        assert not set(re.findall(r"\d+\.\d{4}", text)) & bad
    assert "3 variants (each variant's mean over seeds in the table)" in md


def test_split_per_category_queued_runs_pivot_by_model(engine, tmp_path):
    """Runs as `adlab queue` makes them from a per-category study (anomalib params, derived
    category set), with metrics written as the pipeline writes them: one column per model."""
    from sqlmodel import Session, select

    from adlab.analysis.pivot import pivot_category
    from adlab.config.loader import build_run_specs
    from adlab.db.models import Metric, Run
    from adlab.queue import enqueue

    cats = ["woven", "washer", "grid"]
    config = {"pipeline": "anomalib", "study": "s", "group_keys": ["train.max_epochs"],
              "data": {"dataset": "synthetic", "root": str(tmp_path), "categories": cats,
                       "split_runs": "per_category"},
              "image_size": 64, "train": {"max_epochs": 1}, "grid": {"seed": [0, 1]},
              "conditions": [{"name": "pc", "config": {"model": "patchcore"}},
                             {"name": "pd", "config": {"model": "padim"}}]}
    ids = enqueue(engine, build_run_specs(config)).created
    assert len(ids) == 2 * 3 * 2
    rng = np.random.default_rng(3)
    truth: dict[tuple[str, str, int], float] = {}
    with Session(engine) as s:
        for run in s.exec(select(Run)).all():
            conf = json.loads(run.config_json)
            model = conf["model"]
            cat = next(c for c in cats if c in run.name)
            v = float(rng.uniform(0.5, 1.0))
            truth[(model, cat, run.seed)] = v
            run.status = "succeeded"
            s.add(Metric(run_id=run.id, key="image_auroc", scope=cat, value=v))
            s.add(Metric(run_id=run.id, key="image_auroc", scope="", value=v))
        s.commit()
    (p,) = pivot_category(engine, metrics=["image_auroc"])
    assert p.dataset == "synthetic" and [c.label for c in p.columns] == ["padim", "patchcore"]
    assert [r.category for r in p.rows] == sorted(cats)
    for row in p.rows:
        for model, cell in zip(["padim", "patchcore"], row.cells):
            v = [truth[(model, row.category, s)] for s in (0, 1)]
            assert cell.n == 2 and cell.mean == pytest.approx(np.mean(v), abs=1e-12)
    for model, m in zip(["padim", "patchcore"], p.mean):
        per_seed = [np.mean([truth[(model, c, s)] for c in cats]) for s in (0, 1)]
        assert m.complete and m.mean == pytest.approx(np.mean(per_seed), abs=1e-12)
        assert m.std == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)


def test_variant_rule_drops_only_seed_like_and_data_keys():
    from adlab.core.grouping import variant_values

    flat = {"model": "patchcore", "seed": 1, "name": "pc_bottle", "description": "d",
            "train.init_seed": 4, "data.dataset": "mvtec", "data.categories": "bottle",
            "data.category_set": ["bottle"], "data.root": "/d", "llm": "qwen",
            "eval.sample_seed": 3}
    assert variant_values(flat, ["data.dataset", "data.category_set"]) == {
        "model": "patchcore", "data.root": "/d", "llm": "qwen", "eval.sample_seed": 3}


def test_bar_charts_rise_from_the_baseline_with_their_values_written():
    import matplotlib.pyplot as plt

    from adlab.analysis.figures import bar_figure

    fig = bar_figure(labels=["a", "b", "c"], values=[0.9712, None, 0.9801], title="t",
                     ylabel="image_auroc")
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylim()[1] > 0.9801
    assert [t.get_text() for t in ax.texts] == ["0.9712", "0.9801"]
    assert [p.get_y() for p in ax.patches] == [0.0, 0.0]
    plt.close(fig)
    fig = bar_figure(labels=["x"], values=[0.7], title="t", ylabel="m", baseline=0.5, digits=2)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == 0.5 and ax.patches[0].get_height() == pytest.approx(0.2)
    assert [t.get_text() for t in ax.texts] == ["0.70"]
    plt.close(fig)
