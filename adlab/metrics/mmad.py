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
Values are percentages. Two deliberate differences: MMAD's script silently drops answers that
are not a letter A-E; here an unparseable answer counts as wrong and is listed in the summary.
And where a dataset lacks a question type or an Anomaly Detection class, MMAD's table shows 0 %
for it; here the type is absent and the balanced accuracy uses the classes present.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any

from adlab.errors import AdlabError

MERGED_TYPES = {"Object Structure": "Object Analysis", "Object Details": "Object Analysis"}
ANOMALY_DETECTION = "Anomaly Detection"
NORMAL_FLAG = "good"
AVERAGE = "Average"
SUMMARY = "_summary"
CHOICES = "ABCDE"
_STANDALONE_LETTER = re.compile(r"(?<![A-Za-z0-9_])([A-E])(?![A-Za-z0-9_])")


def parse_answer_letter(text: str | None) -> str | None:
    """The last standalone letter A-E in a model answer ("B", "(C) a scratch", "Answer: D."),
    or None when there is none (free text without a choice letter, empty, not a string)."""
    if not isinstance(text, str):
        return None
    found = _STANDALONE_LETTER.findall(text)
    return found[-1] if found else None


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


def score_answers(records: list[dict]) -> dict:
    """The MMAD table ``{dataset: {type: pct, ..., "Average": pct}, ..., "Average": {...}}``
    plus ``"_summary"`` (record counts, unparseable answers, overkill and miss rates)."""
    if not isinstance(records, list):
        raise AdlabError("MMAD answers must be a JSON list of answer objects.")
    totals: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    detection: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"normal": [0, 0],
                                                                      "anomalous": [0, 0]})
    type_order: list[str] = []
    unparseable: list[dict] = []
    unparseable_by_dataset: dict[str, int] = defaultdict(int)
    for index, record in enumerate(records):
        dataset, qtype, correct = _check(record, index)
        if qtype not in type_order:
            type_order.append(qtype)
        given = parse_answer_letter(record.get("gpt_answer"))
        if given is None:
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
        "unparseable_by_dataset": dict(unparseable_by_dataset),
        "unparseable": unparseable,
        "overkill": overkill,
        "miss": miss,
        "counts": {d: {t: {"correct": c, "total": n} for t, (c, n) in per_type.items()}
                   for d, per_type in totals.items()},
        "rules": "unparseable answers count as wrong; Object Structure/Details -> Object "
                 "Analysis; Anomaly Detection = balanced accuracy (normal = path contains "
                 "'good'); overkill/miss in % of normal/anomalous Anomaly Detection questions",
    }
    return table
