"""MMAD scoring: per-dataset x per-question-type accuracy with MMAD's rules.

Rules (MMAD's ``evaluation/examples/helper/summary.py``, ``caculate_accuracy_mmad``):
- the dataset is the first path component of ``image``;
- "Object Structure" and "Object Details" are merged into "Object Analysis";
- "Anomaly Detection" is the balanced accuracy: the mean of the accuracy on normal images
  (image path contains ``good``) and on anomalous images;
- a dataset's "Average" is the mean over its question types; the top-level "Average" row is the
  mean over datasets of each column (its "Average" the mean of the datasets' Averages);
- overkill = 1 - accuracy on normal images and miss = 1 - accuracy on anomalous images, both
  from the Anomaly Detection questions.
Values are percentages. Two protocols:

- ``adlab`` (default, strict): every question counts; an answer without a letter A-E (read by
  :func:`adlab.metrics.mmad_parsing.parse_strict`) or a failed request (``error`` set) counts as
  wrong and is counted per cell (``_summary.cells``). A dataset lacking a question type or an
  Anomaly Detection class leaves that cell out, and the balanced accuracy uses the classes present.
- ``official``: :func:`score_official`, ``summary.py`` reproduced with its quirks.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any

from adlab.errors import AdlabError
from adlab.metrics.mmad_parsing import ADLAB, OFFICIAL, PROTOCOLS, parse_strict

MERGED_TYPES = {"Object Structure": "Object Analysis", "Object Details": "Object Analysis"}
ANOMALY_DETECTION = "Anomaly Detection"
NORMAL_FLAG = "good"
AVERAGE = "Average"
SUMMARY = "_summary"
CHOICES = "ABCDE"


def parse_answer_letter(text: str | None) -> str | None:
    """The answer letter A-E of a stored ``gpt_answer`` under the strict (adlab) reading: the
    letter itself, or one read from free text ("(C) a scratch", "Answer: D."); None when the text
    holds no answer letter (an article "A", a word, empty, not a string)."""
    if isinstance(text, str) and text in CHOICES and len(text) == 1:
        return text
    return parse_strict(text).letter


def dataset_of(image: str) -> str:
    parts = [p for p in PurePosixPath(image.replace("\\", "/")).parts if p not in ("/", ".")]
    return parts[0] if parts else ""


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _check(record: Any, index: int) -> tuple[str, str, str]:
    if not isinstance(record, dict):
        raise AdlabError(f"answer {index} is a {type(record).__name__}, not an object with "
                         "image, question_type, correct_answer and gpt_answer.")
    for key in ("image", "question_type", "correct_answer"):
        if not isinstance(record.get(key), str) or not record.get(key):
            raise AdlabError(f"answer {index} has no valid {key!r} (got {record.get(key)!r}); "
                             "every MMAD answer needs image, question_type and correct_answer.")
    correct = record["correct_answer"].strip()
    if correct not in CHOICES or len(correct) != 1:
        raise AdlabError(f"answer {index} ({record['image']}) has correct_answer "
                         f"{record['correct_answer']!r}; it must be one letter A-E.")
    dataset = dataset_of(record["image"])
    if dataset in (AVERAGE, SUMMARY, ""):
        raise AdlabError(f"answer {index} has image path {record['image']!r}, whose first "
                         f"component {dataset!r} cannot name a dataset.")
    return dataset, MERGED_TYPES.get(record["question_type"], record["question_type"]), correct


def score_answers(records: list[dict], protocol: str = ADLAB) -> dict:
    """The MMAD table ``{dataset: {type: pct, ..., "Average": pct}, ..., "Average": {...}}``
    plus ``"_summary"`` (record counts, unparseable and failed answers per cell, overkill and
    miss rates). ``protocol``: ``adlab`` (strict, every question counts) or ``official``."""
    if not isinstance(records, list):
        raise AdlabError("MMAD answers must be a JSON list of answer objects.")
    if protocol == OFFICIAL:
        return score_official(records)
    if protocol != ADLAB:
        raise AdlabError(f"unknown MMAD scoring protocol {protocol!r}; use one of "
                         f"{', '.join(PROTOCOLS)}.")
    return _score_strict(records)


def _score_strict(records: list[dict]) -> dict:
    """Every question counts: unparseable or failed answers are wrong and counted per cell."""
    totals: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    detection: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"normal": [0, 0],
                                                                      "anomalous": [0, 0]})
    type_order: list[str] = []
    unparseable: list[dict] = []
    unparseable_by_dataset: dict[str, int] = defaultdict(int)
    misses: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    n_failed = 0
    for index, record in enumerate(records):
        dataset, qtype, correct = _check(record, index)
        if qtype not in type_order:
            type_order.append(qtype)
        given = parse_answer_letter(record.get("gpt_answer"))
        if record.get("error"):
            given = None
            n_failed += 1
            misses[dataset][qtype][1] += 1
        elif given is None:
            misses[dataset][qtype][0] += 1
        if given is None and not record.get("error"):
            unparseable.append({"index": index, "image": record["image"],
                                "question_type": record["question_type"],
                                "gpt_answer": record.get("gpt_answer")})
            unparseable_by_dataset[dataset] += 1
        hit = int(given == correct)
        totals[dataset][qtype][0] += hit
        totals[dataset][qtype][1] += 1
        if qtype == ANOMALY_DETECTION:
            side = "normal" if NORMAL_FLAG in record["image"] else "anomalous"
            detection[dataset][side][0] += hit
            detection[dataset][side][1] += 1

    table: dict[str, Any] = {}
    overkill: dict[str, float] = {}
    miss: dict[str, float] = {}
    for dataset, per_type in totals.items():
        row = {}
        for qtype in type_order:
            if qtype not in per_type:
                continue
            correct, total = per_type[qtype]
            row[qtype] = 100.0 * correct / total
        if dataset in detection:
            accuracies = []
            for side, rates in (("normal", overkill), ("anomalous", miss)):
                correct, total = detection[dataset][side]
                if total:
                    accuracies.append(100.0 * correct / total)
                    rates[dataset] = 100.0 - accuracies[-1]
            row[ANOMALY_DETECTION] = _mean(accuracies)
        row[AVERAGE] = _mean(list(row.values()))
        table[dataset] = row

    average: dict[str, float] = {}
    for column in [*type_order, AVERAGE]:
        values = [row[column] for row in table.values() if column in row]
        if values:
            average[column] = _mean(values)
    table[AVERAGE] = average
    for rates in (overkill, miss):
        if rates:
            rates[AVERAGE] = _mean(list(rates.values()))
    table[SUMMARY] = {
        "n_answers": len(records),
        "n_unparseable": len(unparseable),
        "n_failed": n_failed,
        "unparseable_by_dataset": dict(unparseable_by_dataset),
        "unparseable": unparseable,
        "overkill": overkill,
        "miss": miss,
        "counts": {d: {t: {"correct": c, "total": n} for t, (c, n) in per_type.items()}
                   for d, per_type in totals.items()},
        "cells": {d: {t: {"correct": c, "total": n, "unparseable": misses[d][t][0],
                          "failed": misses[d][t][1]} for t, (c, n) in per_type.items()}
                  for d, per_type in totals.items()},
        "protocol": ADLAB,
        "rules": "unparseable answers and failed requests count as wrong; Object "
                 "Structure/Details -> Object Analysis; Anomaly Detection = balanced accuracy (normal = path contains "
                 "'good'); overkill/miss in % of normal/anomalous Anomaly Detection questions",
    }
    return table


def score_official(records: list[dict]) -> dict:
    """``caculate_accuracy_mmad`` of MMAD's ``summary.py`` (commit bad03b4), reproduced exactly,
    in the same table shape as :func:`score_answers` (every dataset row holds every type).

    Its rules, quirks included (each one changes the numbers, so each is kept on purpose):

    - **Drops.** A record whose ``correct_answer`` or ``gpt_answer`` is not exactly one of
      ``'A'..'E'`` (a free-text reply, ``''`` for a failed request, ``None``, ``"B "``) is removed
      and not counted at all, rather than counted wrong.
    - **Skip quirk.** The script removes the dropped record from the list it is iterating
      (``all_answers_json.remove(answer)`` inside ``for answer in all_answers_json``), so the
      record right after each dropped one is never looked at either; and ``remove`` deletes the
      first *equal* record, which may be an earlier duplicate. Reproduced by walking the list
      with the same index arithmetic.
    - **0 % cells.** Datasets and question types are collected from all records (dropped ones
      included) before counting; a dataset without a question of some type gets 0 for that cell,
      and it enters the dataset's Average. The Anomaly Detection cell is the mean of the normal
      and anomalous accuracies, each 0 when that class has no question.
    - The dataset is ``image.split('/')[0]`` (no path normalisation); normal = ``'good'`` in the
      image path; Object Structure/Details merge into Object Analysis.

    ``_summary`` lists the dropped records (``dropped``) and the skipped ones (``skipped``), the
    per-cell counts, and overkill/miss as ``show_overkill_miss`` computes them.
    """
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("image"), str) \
                or "question_type" not in record:
            raise AdlabError(f"answer {index} has no image path and question_type; every MMAD "
                             "answer needs image, question_type, correct_answer and gpt_answer.")
    choices = list(CHOICES)
    datasets: list[str] = []
    types: list[str] = []
    for record in records:
        dataset = record["image"].split("/")[0]
        qtype = MERGED_TYPES.get(record["question_type"], record["question_type"])
        if dataset not in datasets:
            datasets.append(dataset)
        if qtype not in types:
            types.append(qtype)
    cells = {d: {t: [0, 0] for t in types} for d in datasets}  # [correct, total]
    detection = {d: {"normal": [0, 0], "abnormal": [0, 0]} for d in datasets}
    items = list(records)
    index_of = {id(r): i for i, r in enumerate(records)}
    visited: set[int] = set()
    dropped: list[dict] = []
    position = 0
    while position < len(items):  # the for loop's hidden index over a list that shrinks
        record = items[position]
        position += 1
        visited.add(id(record))
        dataset = record["image"].split("/")[0]
        qtype = MERGED_TYPES.get(record["question_type"], record["question_type"])
        correct, given = record.get("correct_answer"), record.get("gpt_answer")
        if correct not in choices or given not in choices:
            items.remove(record)
            dropped.append({"index": index_of[id(record)], "image": record["image"], "question_type": record["question_type"],
                            "correct_answer": correct, "gpt_answer": given})
            continue
        cells[dataset][qtype][1] += 1
        cells[dataset][qtype][0] += int(correct == given)
        if qtype == ANOMALY_DETECTION:
            side = "normal" if NORMAL_FLAG in record["image"] else "abnormal"
            detection[dataset][side][1] += 1
            detection[dataset][side][0] += int(correct == given)
    skipped = [{"index": i, "image": r["image"], "question_type": r["question_type"]}
               for i, r in enumerate(records) if id(r) not in visited]

    def rate(pair: list[int]) -> float:
        return pair[0] / pair[1] if pair[1] != 0 else 0

    table: dict[str, Any] = {}
    overkill: dict[str, float] = {}
    miss: dict[str, float] = {}
    for dataset in datasets:
        row: dict[str, float] = {}
        for qtype in types:
            row[qtype] = rate(cells[dataset][qtype]) * 100
            if qtype == ANOMALY_DETECTION:
                normal, abnormal = (rate(detection[dataset][s]) for s in ("normal", "abnormal"))
                row[qtype] = (normal + abnormal) / 2 * 100
        row[AVERAGE] = _mean(list(row.values())) if row else 0.0
        table[dataset] = row
        overkill[dataset] = (1 - rate(detection[dataset]["normal"])) * 100
        miss[dataset] = (1 - rate(detection[dataset]["abnormal"])) * 100
    if datasets:
        table[AVERAGE] = {c: _mean([table[d][c] for d in datasets]) for c in [*types, AVERAGE]}
        for rates in (overkill, miss):
            rates[AVERAGE] = _mean([rates[d] for d in datasets])
    else:
        table[AVERAGE] = {}
    table[SUMMARY] = {
        "protocol": OFFICIAL,
        "n_answers": len(records),
        "n_scored": sum(n for row in cells.values() for _, n in row.values()),
        "n_dropped": len(dropped),
        "n_skipped": len(skipped),
        "n_unparseable": len(dropped),
        "dropped": dropped,
        "skipped": skipped,
        "unparseable": dropped,
        "overkill": overkill,
        "miss": miss,
        "counts": {d: {t: {"correct": c, "total": n} for t, (c, n) in row.items()}
                   for d, row in cells.items()},
        "rules": "MMAD summary.py: answers that are not exactly A-E are dropped, and the record "
                 "after each dropped one is skipped (list mutation); missing cells count 0 %; "
                 "Anomaly Detection = mean of normal and anomalous accuracy",
    }
    return table
