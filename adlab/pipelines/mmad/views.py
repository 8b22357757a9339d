"""MMAD's own views, named by its spec: the seed runner's flat table (``adlab compare --flat``),
the accuracy tables of ``adlab report`` and the live accuracy tab of the TUI run detail.

Plain data in, plain data out (:mod:`adlab.pipelines.views`); no database, no torch. The MMAD
metrics convention is the importers' and the runner's: key ``accuracy``, scope
``"<dataset>/<question type>"`` per cell (``"<dataset>/Average"``, ``"Average/Average"``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from adlab.core.display import format_value
from adlab.errors import AdlabError
from adlab.pipelines.mmad.answers import PREFIX as ANSWER_PREFIX
from adlab.pipelines.views import Cell, FlatTableView, RunRecord, SectionView, TableView, TabView

ACCURACY = "accuracy"

# --- the seed runner's flat table (compare_results.py) ----------------------------------------

FLAT_PARAMS = {"llm": ("llm",), "ad_model": ("ad_model",), "few_shot": ("few_shot",)}
FLAT_METRICS = {"accuracy": ("accuracy",), "images": ("processed", "images", "n_answers"),
                "errors": ("errors", "n_errors", "n_unparseable"), "time": ("elapsed_seconds", "elapsed_s"),
                "unparseable": ("unparseable",), "official": ("accuracy_official",)}
FLAT_SORTS = ("accuracy", "name")


@dataclass
class FlatRow:
    id: int
    experiment: str
    llm: Any
    ad_model: Any
    few_shot: Any
    accuracy: float | None
    images: float | None
    errors: float | None
    time_s: float | None
    timestamp: str | None
    unparseable: float | None = None  # answers without a letter (counted wrong in accuracy)
    official: float | None = None  # MMAD summary.py's accuracy (unparsed answers dropped)


@dataclass
class FlatTable:
    rows: list[FlatRow]
    total: int
    best: FlatRow | None


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def flat_rows(records: Sequence[RunRecord], sort: str = "accuracy") -> FlatTable:
    """One row per MMAD run (experiment, LLM, AD model, few-shot, accuracy, images, errors,
    time, timestamp), sorted by accuracy (best first) or name, like the seed's compare_results."""
    if sort not in FLAT_SORTS:
        raise AdlabError(f"--sort {sort!r} is not a column of the flat table; use accuracy or name")
    rows: list[FlatRow] = []
    for r in records:
        leaf = {k.rsplit(".", 1)[-1]: v for k, v in sorted(r.params.items(), key=lambda kv: -kv[0].count("."))}
        pick = {col: next((leaf[k] for k in ks if k in leaf), None) for col, ks in FLAT_PARAMS.items()}
        got = {col: next((r.metrics[k] for k in ks if r.metrics.get(k) is not None), None)
               for col, ks in FLAT_METRICS.items()}
        if got["time"] is None and r.started_at and r.finished_at:
            got["time"] = (_aware(r.finished_at) - _aware(r.started_at)).total_seconds()
        stamp = r.info.get("timestamp") if isinstance(r.info, Mapping) else None
        if stamp is None and r.finished_at is not None:
            stamp = _aware(r.finished_at).replace(microsecond=0).isoformat()
        rows.append(FlatRow(id=r.id, experiment=r.name, llm=pick["llm"], ad_model=pick["ad_model"],
                            few_shot=pick["few_shot"], accuracy=got["accuracy"], images=got["images"],
                            errors=got["errors"], time_s=got["time"], timestamp=stamp,
                            unparseable=got["unparseable"], official=got["official"]))
    if sort == "name":
        rows.sort(key=lambda r: (r.experiment, r.id))
    else:
        rows.sort(key=lambda r: (r.accuracy is None, -(r.accuracy or 0.0), r.experiment, r.id))
    with_acc = [r for r in rows if r.accuracy is not None]
    best = max(with_acc, key=lambda r: (r.accuracy, -r.id)) if with_acc else None
    return FlatTable(rows=rows, total=len(rows), best=best)


def flat_lines(table: FlatTable) -> tuple[str, ...]:
    """The seed's compare_results.py layout, plus MMAD's official accuracy and the count of
    unparsed answers beside adlab's strict one."""
    line = "=" * 60
    cols = ("Experiment", "LLM", "AD Model", "Few-shot", "Accuracy", "Official", "Images",
            "Errors", "Unparsed", "Time", "Timestamp")
    widths = (25, 14, 14, 8, 8, 8, 6, 6, 8, 8, 16)
    out = [line, " ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip(), "-" * 60]

    def val(v: Any) -> str:
        return "none" if v is None or v is False else format_value(v)

    for r in table.rows:
        cells = (r.experiment, val(r.llm), val(r.ad_model), val(r.few_shot),
                 "-" if r.accuracy is None else f"{r.accuracy:.1f}%",
                 "-" if r.official is None else f"{r.official:.1f}%",
                 "-" if r.images is None else f"{r.images:.0f}",
                 "-" if r.errors is None else f"{r.errors:.0f}",
                 "-" if r.unparseable is None else f"{r.unparseable:.0f}",
                 "-" if r.time_s is None else f"{r.time_s:.0f}s",
                 (r.timestamp or "-")[:16])
        out.append(" ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip())
    out += [line, "", f"Total experiments: {table.total}"]
    if table.best is not None:
        out.append(f"Best accuracy: {table.best.accuracy:.1f}% ({table.best.experiment})")
    return tuple(out)


def flat_table(records: Sequence[RunRecord], sort: str = "accuracy") -> FlatTableView:
    """The ``flat_table`` hook of the ``mmad`` spec."""
    table = flat_rows(records, sort)
    return FlatTableView(data=table, lines=flat_lines(table))


# --- report: accuracy per dataset x question type ---------------------------------------------

def accuracy_cells(record: RunRecord) -> dict[str, dict[str, float | None]]:
    """``{dataset: {question type: accuracy}}`` from a run's ``accuracy`` metrics scoped
    ``<dataset>/<type>`` (empty when it stores none)."""
    cells: dict[str, dict[str, float | None]] = {}
    for (key, scope), value in record.scoped.items():
        if key == ACCURACY and "/" in scope:
            ds, qtype = scope.split("/", 1)
            cells.setdefault(ds, {})[qtype] = value
    return cells


def report_sections(records: Sequence[RunRecord]) -> list[SectionView]:
    """MMAD accuracy per dataset x question type for each run that stores it, plus one line per
    run with each dataset's average (any pipeline: imported answer files count too)."""
    per_run = {r.id: cells for r in records if (cells := accuracy_cells(r))}
    if not per_run:
        return []
    names = {r.id: r.name for r in records}
    overall = {r.id: r.metrics.get(ACCURACY) for r in records if r.id in per_run}
    order = sorted(per_run, key=lambda rid: (overall[rid] is None, -(overall[rid] or 0.0),
                                             names.get(rid, ""), rid))
    datasets = sorted({ds for t in per_run.values() for ds in t if ds != "Average"})
    by_id = {r.id: r for r in records}
    # MMAD's own summary.py number and the unparsed count, where the runs store them
    extra = [key for key in ("accuracy_official", "unparseable")
             if any(by_id[rid].metrics.get(key) is not None for rid in per_run)]
    summary_rows = []
    for rid in order:
        t = per_run[rid]
        vals = [t.get(ds, {}).get("Average") for ds in datasets] + [
            t.get("Average", {}).get("Average", overall[rid])] + [
            by_id[rid].metrics.get(key) for key in extra]
        summary_rows.append((Cell(names.get(rid, str(rid))), *[Cell(v) for v in vals]))
    titles = {"accuracy_official": "Official", "unparseable": "Unparsed"}
    summary = TableView(columns=("Run", *datasets, "Average", *[titles[k] for k in extra]),
                        rows=tuple(summary_rows),
                        align=("l", *["c"] * (len(datasets) + 1 + len(extra))),
                        caption="Average accuracy per dataset"
                                + (" (Official: MMAD summary.py, unparsed answers dropped)"
                                   if "accuracy_official" in extra else ""),
                        bold_best=tuple(range(1, len(datasets) + 2)))
    sections = [SectionView("MMAD accuracy (%)", (summary,), level=1)]
    for rid in order:
        t = per_run[rid]
        types = sorted({q for row in t.values() for q in row if q != "Average"}) + ["Average"]
        rows = []
        for ds in datasets + (["Average"] if "Average" in t else []):
            if ds in t:
                rows.append((Cell(ds, bold=ds == "Average"), *[Cell(t[ds].get(q)) for q in types]))
        table = TableView(columns=("Dataset", *types), rows=tuple(rows),
                          align=("l", *["c"] * len(types)),
                          caption=f"{names.get(rid, rid)}: accuracy per dataset x question type")
        sections.append(SectionView(names.get(rid, str(rid)), (table,), level=2))
    return sections


# --- TUI run detail: accuracy as the answers land ---------------------------------------------

def answer_records(items: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Stored answers (``answer:<image>:<question index>`` items) as records in the MMAD answers
    format, so the official scoring rules apply to a run in progress.

    The item's ``parsed`` letter stands in for the model answer: None (unparseable) scores as
    wrong, as the scoring contract requires."""
    records = []
    for key, value in items.items():
        if not isinstance(value, dict):
            continue
        image = value.get("image") or key[len(ANSWER_PREFIX):].rsplit(":", 1)[0]
        records.append({"image": image, "question": value.get("question", ""),
                        "question_type": value.get("question_type"),
                        "correct_answer": value.get("correct_answer"),
                        "gpt_answer": value.get("parsed")})
    return records


def accuracy_table(score: Mapping[str, Any]) -> TableView:
    """MMAD accuracy (%) per dataset and question type, with answer counts."""
    summary = score.get("_summary", {})
    counts = summary.get("counts", {})
    datasets = [k for k in score if k not in ("Average", "_summary")]
    types: list[str] = []
    for d in datasets:
        for t in score[d]:
            if t != "Average" and t not in types:
                types.append(t)
    rows = []
    for d in [*datasets, "Average"]:
        row = [Cell(d)]
        for t in [*types, "Average"]:
            value = score.get(d, {}).get(t)
            if value is None:
                row.append(Cell(""))
                continue
            n = counts.get(d, {}).get(t, {}) if d != "Average" else {}
            label = f"{value:.1f}%"
            if n:
                label += f" ({n['correct']}/{n['total']})"
            row.append(Cell(label))
        rows.append(tuple(row))
    note = (f"{summary.get('n_answers', 0)} answers so far, "
            f"{summary.get('n_unparseable', 0)} unparseable (counted wrong); "
            "Anomaly Detection is balanced accuracy")
    return TableView(columns=("dataset", *types, "Average"), rows=tuple(rows),
                     align=("l", *["r"] * (len(types) + 1)), footer_rows=1, note=note)


def live_accuracy(items: Mapping[str, Any]) -> TabView:
    """The ``mmad`` detail tab: per-dataset, per-question-type accuracy of the answers stored
    so far, scored with MMAD's rules; an error view when an item is malformed."""
    from adlab.metrics.mmad import score_answers

    try:
        score = score_answers(answer_records(items))
    except AdlabError as exc:
        return TabView(data={}, error=f"stored answers cannot be scored: {exc}")
    return TabView(data=score, table=accuracy_table(score))
