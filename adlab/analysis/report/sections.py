"""The report's sections, each computed from the database (never typed by hand).

Every section reads a :class:`~adlab.analysis.compare.Comparison` (groups, ranks, bests,
baselines) plus a few summary queries, and appends blocks to the document. Orders are sorted
and numbers use fixed formats so the same database gives the same bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from adlab.analysis.compare import Comparison, Group, format_value, value_sort_key
from adlab.analysis.report.document import Document
from adlab.analysis.report.tables import Cell, Table
from adlab.core.grouping import CATEGORY_LEAVES, DATASET_LEAVES, is_seed_like
from adlab.db import compare_queries as cq
from adlab.db.engine import reader
from adlab.db.models import Artifact, Run
from adlab.pipelines.components.predictions import TEST_LABELS_F1, VALIDATION_NORMAL_QUANTILE
from adlab.pipelines.views import TableView

BACKBONE_LEAVES = ("backbone", "model", "ad_model", "llm")
ABLATION_WORDS = ("ablation",)
NEGATED_PREFIXES = ("wo_", "without_", "no_", "disable_")


@dataclass
class ReportData:
    """What the sections share: the comparison plus per-run facts fetched once."""

    engine: Engine
    comparison: Comparison
    filters: cq.RunFilter
    group_params: dict[str, dict[str, Any]]  # group id -> params of its best run
    run_values: dict[int, dict[str, float | None]]  # every run's values of the report metrics
    run_group: dict[int, Group]
    figures_dir: Path | None
    figures_rel: str
    top: int | None
    scoped: list[tuple[int, str, str, float | None]] = field(default_factory=list)


# --- formatting ------------------------------------------------------------------------------

def fmt_metric(value: float | None, fraction: bool) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4f}" if fraction else f"{value:.2f}"


def fmt_delta(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f} pp"


def fmt_mean_std(mean: float | None, std: float | None, n: int, fraction: bool) -> str:
    if mean is None:
        return "-"
    if std is None:
        return f"{fmt_metric(mean, fraction)} (n={n})"
    return f"{fmt_metric(mean, fraction)} ± {fmt_metric(std, fraction)} (n={n})"


def _leaf_value(d: dict[str, Any], leaves: tuple[str, ...]) -> Any:
    for k in sorted(d, key=lambda k: (k.count("."), k)):
        if k.rsplit(".", 1)[-1] in leaves:
            return d[k]
    return None


def _best_index(values: list[float | None], higher: bool) -> set[int]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return set()
    target = max(finite) if higher else min(finite)
    return {i for i, v in enumerate(values) if v == target}


def _bold_best(table: Table, col_values: dict[int, list[float | None]], higher: dict[int, bool]) -> None:
    """Bold the best value of each listed column (all tied bests)."""
    for col, values in col_values.items():
        for i in _best_index(values, higher[col]):
            table.rows[i][col].bold = True


def group_title(g: Group) -> str:
    keys = ", ".join(f"{k}={format_value(v)}" for k, v in g.keys.items())
    part = ", ".join(f"{k}={format_value(v)}" for k, v in g.partition.items() if k != "pipeline")
    text = f"{g.label}: {g.pipeline}"
    if part:
        text += f" [{part}]"
    if keys:
        text += f" — {keys}"
    return text


def _delta(value: float | None, base: float | None, fraction: bool) -> float | None:
    if value is None or base is None:
        return None
    return round((value - base) * (100.0 if fraction else 1.0), 10)


# --- sections --------------------------------------------------------------------------------

def overview(doc: Document, data: ReportData) -> None:
    c = data.comparison
    doc.h(1, "Overview")
    q = (select(Run.pipeline, Run.status, func.count(), func.min(Run.started_at),
                func.max(Run.finished_at))
         .where(*cq.filter_clauses(data.filters)).group_by(Run.pipeline, Run.status)
         .order_by(Run.pipeline, Run.status))
    with reader(data.engine).connect() as conn:
        counts = list(conn.execute(q))
    total = sum(n for _, _, n, _, _ in counts)
    datasets = sorted({format_value(_leaf_value(g.partition, DATASET_LEAVES)) for g in c.groups
                       if _leaf_value(g.partition, DATASET_LEAVES) is not None})
    datasets += sorted({s.split("/", 1)[0] for _, _, s, _ in data.scoped
                        if "/" in s and s.split("/", 1)[0] != "Average"} - set(datasets))
    backbones = sorted({format_value(_leaf_value(p, BACKBONE_LEAVES)) for p in data.group_params.values()
                        if _leaf_value(p, BACKBONE_LEAVES) is not None})
    metric_counts = cq.metric_keys(data.engine, filters=data.filters)
    started = [s for _, _, _, s, _ in counts if s is not None]
    finished = [f for _, _, _, _, f in counts if f is not None]
    items = [f"**Datasets**: {', '.join(datasets) or '-'}",
             f"**Backbone / model**: {', '.join(backbones) or '-'}",
             f"**Metrics**: {', '.join(f'{k} ({n} runs)' for k, n in metric_counts) or '-'}",
             f"**Runs**: {total} ("
             + ", ".join(f"{p} {s}: {n}" for p, s, n, _, _ in counts) + ")",
             f"**Compared**: {c.n_runs} run(s) with `{c.metric}`"
             + (f" (scope `{c.scope}`)" if c.scope else "")
             + f" in {len(c.groups)} group(s); ranked by `{c.metric}`, "
             + ("higher" if c.higher_is_better[c.metric] else "lower") + " is better"]
    sources = _threshold_sources(data)
    tuned, held_out = sources.get(TEST_LABELS_F1, 0), sources.get(VALIDATION_NORMAL_QUANTILE, 0)
    if tuned:
        items.append(f"**Thresholds**: {tuned} run(s) chose their image/pixel thresholds "
                     "F1-optimally on the test labels (predictions record `threshold_source: "
                     f"{TEST_LABELS_F1}`): their anomaly verdicts are optimistic, not held-out")
    if held_out:
        items.append(f"**Thresholds (validation)**: {held_out} run(s) took their thresholds from "
                     "normal validation images (`thresholds.source: validation`, predictions "
                     f"record `threshold_source: {VALIDATION_NORMAL_QUANTILE}`): held-out verdicts")
    if started and finished:
        items.append(f"**Run dates** (from the database): {min(started).date().isoformat()} to "
                     f"{max(finished).date().isoformat()}")
    filt = {k: v for k, v in data.filters.describe().items()}
    items.append("**Selection**: " + ", ".join(f"{k}={format_value(v)}" for k, v in filt.items()))
    doc.bullets(items)


def _threshold_sources(data: ReportData) -> dict[str, int]:
    """How many selected runs chose their thresholds each way (run info ``threshold_source``)."""
    import json
    from collections import Counter

    q = select(Run.info_json).where(*cq.filter_clauses(data.filters), Run.info_json.is_not(None))
    with reader(data.engine).connect() as conn:
        infos = [json.loads(i) for (i,) in conn.execute(q) if i]
    return dict(Counter(str(i["threshold_source"]) for i in infos
                        if isinstance(i, dict) and i.get("threshold_source")))


def group_definitions(doc: Document, data: ReportData) -> None:
    c = data.comparison
    doc.h(1, "Group definitions")
    doc.p("Runs are compared only inside a group: the same evaluation partition (pipeline, "
          "dataset, category set, protocol) and the same values of the group keys"
          + (f" (`{', '.join(c.group_keys)}`)" if c.group_keys else "")
          + ". Values compare by meaning (`2e-4` = `0.0002`).")
    part_keys = sorted({k for g in c.groups for k in g.partition if k != "pipeline"})
    key_cols = sorted({k for g in c.groups for k in g.keys})
    t = Table(["Group", "Pipeline", *part_keys, *key_cols, "Runs", "Best run"],
              align=["c", "l", *["l"] * len(part_keys), *["c"] * len(key_cols), "r", "l"])
    for g in c.groups:
        t.add(Cell(g.label, bold=True), g.pipeline,
              *[format_value(g.partition.get(k)) for k in part_keys],
              *[format_value(g.keys.get(k)) if k in g.keys else "" for k in key_cols],
              str(g.n_runs), g.best.name if g.best else "-")
    doc.table(t)


def _fraction(c: Comparison, m: str) -> bool:
    return m in c.fraction_metrics


def group_rankings(doc: Document, data: ReportData, figure: Callable[..., str | None]) -> None:
    c = data.comparison
    doc.h(1, "Results per group")
    for g in c.groups:
        doc.h(2, group_title(g))
        common = {k: v for k, v in data.group_params.get(g.id, {}).items()
                  if k not in g.differing and not is_seed_like(k)}
        if common:
            doc.p("Common parameters:")
            doc.code("\n".join(f"{k} = {format_value(v)}" for k, v in sorted(common.items())))
        v = g.single_variant()
        summary = (f"`{c.metric}` {fmt_mean_std(v.mean, v.std, v.n, _fraction(c, c.metric))} "
                   "over seeds" if v is not None else
                   f"{len(g.variants)} variants (each variant's mean over seeds in the table)")
        doc.p(f"{g.n_runs} run(s); {summary}"
              + (f"; best **{g.best.name}** ({fmt_metric(g.best.value, _fraction(c, c.metric))})"
                 if g.best else ""))
        params = [k for k in g.differing]
        multi = any(v.n > 1 for v in g.variants)
        headers = ["Rank", "Run", *c.metrics, *params]
        if multi:
            headers.append(f"{c.metric} over seeds")
        t = Table(headers, align=["c", "l", *["c"] * len(c.metrics), *["c"] * len(params), "c"],
                  caption=f"{g.label}, ranked by {c.metric}")
        runs = g.runs if data.top is None else g.runs[:data.top]
        for r in runs:
            name = r.name + (" (baseline)" if r.is_baseline else "")
            cells = [Cell("-" if r.rank is None else str(r.rank)), Cell(name, bold=r.is_baseline)]
            cells += [Cell(fmt_metric(r.values.get(m), _fraction(c, m))) for m in c.metrics]
            cells += [Cell(format_value(r.params.get(k))) for k in params]
            if multi:
                v = g.variants[r.variant]
                cells.append(Cell(fmt_mean_std(v.mean, v.std, v.n, _fraction(c, c.metric))
                                  if v.n > 1 else ""))
            t.rows.append(cells)
        _bold_best(t, {2 + i: [r.values.get(m) for r in runs] for i, m in enumerate(c.metrics)},
                   {2 + i: c.higher_is_better[m] for i, m in enumerate(c.metrics)})
        doc.table(t)
        if len(runs) < g.n_runs:
            doc.p(f"({g.n_runs - len(runs)} more run(s) not listed.)")
        rel = figure("bars", g, runs)
        if rel:
            doc.figure(rel, f"{g.label}: {c.metric} per run")
        effect_tables(doc, data, g)


def _variant_means(g: Group, metrics: list[str]) -> dict[int, dict[str, float | None]]:
    out: dict[int, dict[str, float | None]] = {}
    for v in g.variants:
        members = [r for r in g.runs if r.variant == v.index]
        out[v.index] = {}
        for m in metrics:
            vals = [r.values.get(m) for r in members if r.values.get(m) is not None]
            out[v.index][m] = math.fsum(vals) / len(vals) if vals else None
    return out


def _is_ablation(key: str, base: Any, value: Any) -> bool:
    leaf = key.rsplit(".", 1)[-1].lower()
    if any(w in leaf for w in ABLATION_WORDS):
        return True
    if isinstance(base, bool) and isinstance(value, bool):
        negated = leaf.startswith(NEGATED_PREFIXES)
        return (base and not value) if not negated else (value and not base)
    return False


def effect_tables(doc: Document, data: ReportData, g: Group) -> None:
    """One-factor effects against the group's baseline: variants differing from the baseline
    variant in exactly one parameter. Switching a module off (a boolean going false, a
    ``wo_``/``no_`` flag going true, an ``ablation`` parameter) goes to the ablation table."""
    c = data.comparison
    if g.baseline is None:
        return
    base_run = next((r for r in g.runs if r.id == g.baseline), None)
    if base_run is None:
        return
    base_variant = g.variants[base_run.variant]
    means = _variant_means(g, c.metrics)
    effects: dict[str, list[tuple[Any, int]]] = {}
    ablations: list[tuple[str, Any, int]] = []
    for v in g.variants:
        if v.index == base_variant.index:
            continue
        changed = [k for k in v.params if v.params.get(k) != base_variant.params.get(k)]
        if len(changed) != 1:
            continue
        k = changed[0]
        if _is_ablation(k, base_variant.params.get(k), v.params.get(k)):
            ablations.append((k, v.params.get(k), v.index))
        else:
            effects.setdefault(k, []).append((v.params.get(k), v.index))
    base_vals = means[base_variant.index]
    for k in sorted(effects):
        rows = [(base_variant.params.get(k), base_variant.index)] + sorted(
            effects[k], key=lambda x: value_sort_key(x[0]))
        t = Table([k, *c.metrics, *[f"Δ {m}" for m in c.metrics]],
                  align=["c", *["c"] * (2 * len(c.metrics))],
                  caption=f"{g.label}: effect of {k} (vs baseline {base_run.name})")
        for value, idx in rows:
            label = format_value(value) + (" (baseline)" if idx == base_variant.index else "")
            t.add(label, *[fmt_metric(means[idx][m], _fraction(c, m)) for m in c.metrics],
                  *[("-" if idx == base_variant.index else
                     fmt_delta(_delta(means[idx][m], base_vals[m], _fraction(c, m))))
                    for m in c.metrics])
        _bold_best(t, {1 + i: [means[idx][m] for _, idx in rows] for i, m in enumerate(c.metrics)},
                   {1 + i: c.higher_is_better[m] for i, m in enumerate(c.metrics)})
        doc.h(3, f"Effect of {k}")
        doc.table(t)
    if ablations:
        t = Table(["Variant", *c.metrics, *[f"Δ {m}" for m in c.metrics]],
                  align=["l", *["c"] * (2 * len(c.metrics))],
                  caption=f"{g.label}: ablations vs the full model {base_run.name}")
        t.add("Full model (baseline)", *[fmt_metric(base_vals[m], _fraction(c, m)) for m in c.metrics],
              *["-"] * len(c.metrics))
        for k, value, idx in sorted(ablations, key=lambda a: (a[0], value_sort_key(a[1]))):
            label = (f"{k}={format_value(value)}" if not isinstance(value, bool)
                     else f"{k}={format_value(value)}")
            t.add(label, *[fmt_metric(means[idx][m], _fraction(c, m)) for m in c.metrics],
                  *[fmt_delta(_delta(means[idx][m], base_vals[m], _fraction(c, m))) for m in c.metrics])
        doc.h(3, "Ablations")
        doc.table(t)
        doc.p(f"These ablations hold for {g.label} only ({group_title(g)}).")


def cross_group_caution(doc: Document, data: ReportData) -> None:
    c = data.comparison
    doc.h(1, "Cross-group caution")
    doc.p("Compare runs only inside one group. Groups of one evaluation partition differ in the "
          "parameters below; groups of different partitions (dataset, category set, protocol) "
          "are never ranked together.")
    by_part: dict[str, list[Group]] = {}
    for g in c.groups:
        by_part.setdefault(format_value(g.partition), []).append(g)
    any_table = False
    for part in sorted(by_part):
        groups = by_part[part]
        if len(groups) < 2:
            continue
        keys = sorted({k for g in groups for k in g.keys
                       if len({format_value(x.keys.get(k)) for x in groups}) > 1})
        if not keys:
            continue
        any_table = True
        t = Table(["Parameter", *[g.label for g in groups]], align=["l", *["c"] * len(groups)],
                  caption="Partition " + ", ".join(f"{k}={format_value(v)}"
                                                   for k, v in groups[0].partition.items()))
        for k in keys:
            t.add(k, *[format_value(g.keys.get(k)) for g in groups])
        doc.table(t)
    parts = sorted({format_value(g.partition) for g in c.groups})
    if len(parts) > 1:
        doc.p("Evaluation partitions in this report:")
        doc.bullets([f"`{p}`" for p in parts])
    elif not any_table:
        doc.p("All compared runs share one group or one partition; nothing to caution about.")


def best_per_group(doc: Document, data: ReportData) -> None:
    c = data.comparison
    doc.h(1, "Best per group")
    t = Table(["Group", *[f"Best {m}" for m in c.metrics], "Run(s)"],
              align=["c", *["c"] * len(c.metrics), "l"])
    col_values: dict[int, list[float | None]] = {i + 1: [] for i in range(len(c.metrics))}
    for g in c.groups:
        cells, names = [], []
        for i, m in enumerate(c.metrics):
            vals = [(r.values.get(m), r.name) for r in g.runs if r.values.get(m) is not None]
            if not vals:
                cells.append("-")
                col_values[i + 1].append(None)
                continue
            best = max(vals, key=lambda x: (x[0] if c.higher_is_better[m] else -x[0], _neg(x[1])))
            cells.append(fmt_metric(best[0], _fraction(c, m)))
            col_values[i + 1].append(best[0])
            if best[1] not in names:
                names.append(best[1])
        t.add(Cell(group_title(g)), *cells, " / ".join(names))
    for col, values in col_values.items():
        parts = [format_value(g.partition) for g in c.groups]
        # bold the best only among groups of the same partition (never across datasets)
        for part in set(parts):
            idx = [i for i, p in enumerate(parts) if p == part]
            if len(idx) < 2:
                continue
            best = _best_index([values[i] for i in idx], c.higher_is_better[c.metrics[col - 1]])
            for j in best:
                t.rows[idx[j]][col].bold = True
    doc.table(t)


def _neg(name: str) -> tuple:
    return tuple(-ord(ch) for ch in name)  # ties: alphabetical first


def dataset_summary(doc: Document, data: ReportData) -> None:
    c = data.comparison
    doc.h(1, "Per-dataset summary")
    rows: dict[str, dict[str, Any]] = {}
    for g in c.groups:
        ds = format_value(_leaf_value(g.partition, DATASET_LEAVES))
        entry = rows.setdefault(ds, {"runs": 0, "groups": 0, "categories": set(), "best": {}})
        entry["runs"] += g.n_runs
        entry["groups"] += 1
        cat = _leaf_value(g.partition, CATEGORY_LEAVES)
        if isinstance(cat, list):
            entry["categories"].update(map(str, cat))
        elif cat is not None:
            entry["categories"].add(str(cat))
        for m in c.metrics:
            for r in g.runs:
                v = r.values.get(m)
                if v is None:
                    continue
                cur = entry["best"].get(m)
                better = cur is None or (v > cur[0] if c.higher_is_better[m] else v < cur[0]) or \
                    (v == cur[0] and r.name < cur[1])
                if better:
                    entry["best"][m] = (v, r.name)
    for run_id, _key, scope, _ in data.scoped:
        g = data.run_group.get(run_id)
        if g is not None and "/" not in scope:
            rows[format_value(_leaf_value(g.partition, DATASET_LEAVES))]["categories"].add(scope)
    t = Table(["Dataset", "Classes", "Groups", "Runs", *[f"Best {m}" for m in c.metrics]],
              align=["l", "c", "c", "c", *["c"] * len(c.metrics)])
    for ds in sorted(rows):
        e = rows[ds]
        cells = []
        for m in c.metrics:
            b = e["best"].get(m)
            cells.append("-" if b is None else f"{fmt_metric(b[0], _fraction(c, m))} ({b[1]})")
        t.add(ds, str(len(e["categories"])) if e["categories"] else "-", str(e["groups"]),
              str(e["runs"]), *cells)
    doc.table(t)


def pipeline_sections(doc: Document, data: ReportData) -> None:
    """Sections pipelines add over the report's runs (their spec's ``report_sections`` hook,
    e.g. MMAD accuracy per dataset x question type)."""
    from adlab.analysis.views import report_sections, run_records

    for section in report_sections(run_records(data.engine, run_ids=data.run_group)):
        doc.h(section.level, section.title)
        for view in section.tables:
            doc.table(table_of(view))


def table_of(view: TableView) -> Table:
    """A pipeline's plain table as a report table (numbers in the report's formats)."""
    table = Table(list(view.columns), align=list(view.align), caption=view.caption)
    first_footer = len(view.rows) - view.footer_rows
    for i, row in enumerate(view.rows):
        table.add(*[Cell(c.value if isinstance(c.value, str) else fmt_metric(c.value, view.fraction),
                         bold=c.bold or i >= first_footer) for c in row])
    numbers = {col: [r[col].value if isinstance(r[col].value, (int, float)) else None
                     for r in view.rows] for col in view.bold_best}
    _bold_best(table, numbers, {col: True for col in numbers})
    return table


def curve_figures(doc: Document, data: ReportData, figure: Callable[..., str | None]) -> None:
    """ROC/PR curves of each group's best run, where a curves artifact is stored."""
    from adlab.analysis.figures import CURVE_KINDS, read_curves
    from adlab.settings import artifacts_root

    best_ids = {g.best.id: g for g in data.comparison.groups if g.best}
    if not best_ids:
        return
    q = (select(Artifact.run_id, Artifact.kind, Artifact.path)
         .where(Artifact.run_id.in_(sorted(best_ids)), Artifact.kind.in_(CURVE_KINDS))
         .order_by(Artifact.run_id, Artifact.id))
    with reader(data.engine).connect() as conn:
        rows = list(conn.execute(q))
    curves: dict[str, list[tuple[str, list[float], list[float]]]] = {"roc": [], "pr": []}
    root = artifacts_root()
    per_run = {run_id: sum(1 for r, _, _ in rows if r == run_id) for run_id, _, _ in rows}
    for run_id, kind, path in rows:
        p = Path(path)
        found = read_curves(p if p.is_absolute() else root / p, kind)
        g = best_ids[run_id]
        # a joint run stores one curves file per category, in the category's folder
        where = f" {p.parent.name}" if per_run[run_id] > 1 else ""
        for name, (xs, ys) in sorted(found.items()):
            curves[name].append((f"{g.label} {g.best.name}{where}", xs, ys))
    if not any(curves.values()):
        return
    doc.h(1, "Curves")
    for kind in ("roc", "pr"):
        if curves[kind]:
            rel = figure("curve", kind, curves[kind])
            if rel:
                doc.figure(rel, f"{kind.upper()} curves of each group's best run")


PLOT_KINDS = ("plot_comparison", "plot_bars", "plot_fusion", "plot_matrix", "plot_roc", "plot_pr")
HEATMAPS_PER_RUN = 2


def run_figures(doc: Document, data: ReportData, figures: Any) -> None:
    """Plots that runs made themselves (study bars, fusion trade-off, cross-domain matrix,
    ROC/PR) from every run in the report, and a few heatmaps of each group's best run. The
    PNGs are copied beside the report so it stays readable when moved."""
    import shutil

    from adlab.settings import artifacts_root

    if figures.dir is None:
        return
    run_ids = sorted(data.run_group)
    best_ids = {g.best.id for g in data.comparison.groups if g.best}
    if not run_ids:
        return
    q = (select(Artifact.run_id, Artifact.kind, Artifact.path)
         .where(Artifact.run_id.in_(run_ids), Artifact.kind.in_(PLOT_KINDS + ("heatmap",)))
         .order_by(Artifact.run_id, Artifact.id))
    with reader(data.engine).connect() as conn:
        rows = list(conn.execute(q))
    root = artifacts_root()
    heatmaps: dict[int, int] = {}
    placed: list[tuple[str, str]] = []
    for run_id, kind, path in rows:
        if kind == "heatmap":
            if run_id not in best_ids or heatmaps.get(run_id, 0) >= HEATMAPS_PER_RUN:
                continue
            heatmaps[run_id] = heatmaps.get(run_id, 0) + 1
        src = Path(path) if Path(path).is_absolute() else root / path
        if not src.exists() or src.suffix.lower() != ".png":
            continue
        name = f"run{run_id}_{kind}_{len(placed)}.png"
        figures.dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, figures.dir / name)
        figures.written.append(figures.dir / name)
        run = data.run_group[run_id].runs if run_id in data.run_group else []
        label = next((r.name for r in run if r.id == run_id), str(run_id))
        placed.append((f"{figures.rel}/{name}", f"{kind.replace('_', ' ')} of run {run_id} ({label})"))
    if not placed:
        return
    doc.h(1, "Figures from the runs")
    for rel, caption in placed:
        doc.figure(rel, caption)


def group_best_params(engine: Engine, groups: list[Group]) -> dict[str, dict[str, Any]]:
    ids = {g.id: g.best.id if g.best else (g.runs[0].id if g.runs else None) for g in groups}
    params = cq.param_values(engine, run_ids=[i for i in ids.values() if i is not None])
    return {gid: params.get(rid, {}) for gid, rid in ids.items() if rid is not None}


__all__ = ["ReportData", "overview", "group_definitions", "group_rankings", "cross_group_caution",
           "best_per_group", "dataset_summary", "pipeline_sections", "table_of", "curve_figures",
           "group_best_params"]
