"""adlab's ``official`` protocol against the official MMAD functions themselves (read from a
jam-cc/MMAD checkout named by ``MMAD_OFFICIAL_ROOT``, see ``__init__``): the per-family reply
parsing on hundreds of generated tricky replies, and ``summary.py``'s table on generated answer
files (drops, the skip quirk, 0 % cells)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from adlab.metrics.mmad import score_answers
from adlab.metrics.mmad_parsing import OFFICIAL_RULES, parse_official
from mmad_official import PARSER_FILE, SUMMARY_FILE, load_definitions

OPTIONS = {"A": "Yes, there is a scratch.", "B": "No, it is normal.",
           "C": "A crack near the cap.", "D": "Discoloration on the label."}

FRAGMENTS = [
    "A", "B", "C", "D", "E", "F", "a", "b", "Answer: C", "Answer:C.", "answer is (D)",
    "B. A small scratch on the left.", "A scratch is visible", "Apple", "BAD", "CD-ROM", "E.g.",
    "i.e.", "(D)", "[B]", "**B**", "A or B", "A, C and E", "答案是B", "答案：C", "éA", "Aé", "Ａ",
    "«C»", "B‑", "—D—", "C’s", "A's", "D.C.", "no defect", "Yes.", "No.", "I cannot tell.",
    "The image shows", "option", "\n", "  ", ".", "A1", "_B_", "ÀB", "BÀ", "Ω C", "x=E",
    "Yes, there is a scratch", "No, it is normal", "crack near cap", "label", "1. Answer: B.",
    "2) A", "3: C", "Explanation:", "\t", "Defect: E", "The answer is", "",
]


def _replies(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = list(FRAGMENTS)
    while len(out) < n:
        parts = rng.choices(FRAGMENTS, k=rng.randint(1, 5))
        out.append(rng.choice([" ", "", "\n", ", "]).join(parts))
    return out


REPLIES = _replies(600, seed=7)


@pytest.fixture(scope="module")
def official_parse():
    """``GPT4Query.parse_answer`` of the official scripts (it does not use ``self``)."""
    query = load_definitions(PARSER_FILE, {"GPT4Query"})["GPT4Query"]
    return lambda text, options: query.parse_answer(None, text, options)


@pytest.fixture(scope="module")
def official_summary():
    return load_definitions(SUMMARY_FILE, {"caculate_accuracy_mmad"})["caculate_accuracy_mmad"]


def _official_script_answer(parse, text: str, family: str):
    """What the family's official script stores: ``gpt_answer[0]`` (LLaVA, Cambrian) or
    ``gpt_answer[-1]`` of ``parse_answer(response, options)``, options passed only by the
    scripts that pass them; None where the script has no letter (its list is empty)."""
    rule = OFFICIAL_RULES[family]
    answers = parse(text, OPTIONS if rule.fuzzy else None)
    if not answers:
        return None
    return answers[0] if rule.pick == "first" else answers[-1]


@pytest.mark.parametrize("family", sorted(OFFICIAL_RULES))
def test_parsing_equals_the_official_scripts_on_tricky_replies(family, official_parse, capsys):
    assert len(REPLIES) >= 600
    mismatches = [(text, parse_official(text, family, OPTIONS).letter,
                   _official_script_answer(official_parse, text, family))
                  for text in REPLIES
                  if parse_official(text, family, OPTIONS).letter
                  != _official_script_answer(official_parse, text, family)]
    capsys.readouterr()  # the official parser prints its fallbacks
    assert mismatches == []


def test_official_rules_name_the_rule_and_use_unicode_boundaries():
    assert parse_official("答案是B", "gpt4o").letter is None  # 是 and B are one Unicode word
    assert parse_official("éA", "gpt4o").letter is None
    assert parse_official("B. A small scratch on the left.", "gpt4o").letter == "A"  # last
    first = parse_official("B. A small scratch on the left.", "llava", OPTIONS)
    assert (first.letter, first.rule) == ("B", "official:first")
    fuzzy = parse_official("there is a scratch", "qwen", OPTIONS)
    assert (fuzzy.letter, fuzzy.rule) == ("A", "official:fuzzy")
    assert parse_official("there is a scratch", "internvl", OPTIONS).rule == "none"
    assert parse_official(None, "llava", OPTIONS).letter is None


TYPES = ["Anomaly Detection", "Defect Classification", "Defect Localization",
         "Defect Description", "Defect Analysis", "Object Classification", "Object Structure",
         "Object Details"]
DATASETS = ["MVTec-AD", "VisA", "GoodsAD", "MVTec-LOCO", "DS-MVTec"]


def _answer_file(rng: random.Random, n: int, *, junk: float, missing_types: bool) -> list[dict]:
    records = []
    for i in range(n):
        dataset = rng.choice(DATASETS)
        types = TYPES[: 3 + DATASETS.index(dataset)] if missing_types else TYPES
        qtype = rng.choice(types)
        folder = rng.choice(["good", "broken", "scratch"])
        correct = rng.choice("ABCD")
        roll = rng.random()
        if roll < junk:
            given = rng.choice(["", None, "B ", "b", "no idea", "A scratch", "Answer: C", "F"])
        elif roll < junk + 0.5:
            given = correct
        else:
            given = rng.choice("ABCDE")
        if rng.random() < 0.01:
            correct = rng.choice(["", "F"])
        records.append({"image": f"{dataset}/obj{i % 4}/test/{folder}/{i:03d}.png",
                        "question": {"type": "text", "text": f"Question {i}"},
                        "question_type": qtype, "correct_answer": correct, "gpt_answer": given})
    if records and rng.random() < 0.5:
        records.insert(rng.randrange(len(records)), dict(records[0]))  # an equal duplicate
    return records


def _official_table(caculate_accuracy_mmad, records: list[dict], tmp_path: Path,
                    name: str) -> pd.DataFrame:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(records))
    caculate_accuracy_mmad(str(path))
    plt.close("all")
    return pd.read_csv(tmp_path / f"{name}_accuracy.csv", index_col=0)


CASES = [(seed, junk, missing) for seed in range(6) for junk, missing in
         ((0.0, False), (0.15, False), (0.3, True), (0.03, True))]


@pytest.mark.parametrize("seed, junk, missing", CASES)
def test_scoring_equals_summary_py(seed, junk, missing, official_summary, tmp_path, capsys):
    rng = random.Random(1000 + seed)
    records = _answer_file(rng, rng.randint(40, 400), junk=junk, missing_types=missing)
    official = _official_table(official_summary, records, tmp_path, f"answers_{seed}")
    capsys.readouterr()
    ours = score_answers(records, protocol="official")
    rows = [k for k in ours if k != "_summary"]
    assert rows == list(official.index)
    assert list(ours["Average"]) == list(official.columns)
    for row in rows:
        for column in official.columns:
            assert ours[row][column] == pytest.approx(official.at[row, column], abs=1e-9), \
                (row, column)
    summary = ours["_summary"]
    assert summary["n_scored"] + summary["n_dropped"] + summary["n_skipped"] == len(records)


def test_each_official_quirk_changes_the_numbers_as_documented(official_summary, tmp_path, capsys):
    def rec(i, qtype, correct, given, folder="broken", dataset="MVTec-AD"):
        return {"image": f"{dataset}/x/test/{folder}/{i}.png", "question": f"q{i}",
                "question_type": qtype, "correct_answer": correct, "gpt_answer": given}

    records = [rec(0, "Defect Type", "A", "A"),
               rec(1, "Defect Type", "A", "no letter"),  # dropped
               rec(2, "Defect Type", "A", "B"),  # skipped by the list-mutation quirk
               rec(3, "Defect Type", "A", "B"),
               rec(4, "Anomaly Detection", "B", "B", folder="good", dataset="VisA")]
    official = _official_table(official_summary, records, tmp_path, "quirks")
    capsys.readouterr()
    ours = score_answers(records, protocol="official")
    assert ours["MVTec-AD"]["Defect Type"] == 50.0 == official.at["MVTec-AD", "Defect Type"]
    # MVTec-AD has no Anomaly Detection question and VisA no Defect Type one: both 0 %.
    assert ours["MVTec-AD"]["Anomaly Detection"] == 0.0 and ours["VisA"]["Defect Type"] == 0.0
    assert ours["VisA"]["Anomaly Detection"] == 50.0  # normal 100 %, anomalous 0 % (none)
    summary = ours["_summary"]
    assert [d["index"] for d in summary["dropped"]] == [1]
    assert [s["index"] for s in summary["skipped"]] == [2]
    strict = score_answers(records)
    assert strict["MVTec-AD"]["Defect Type"] == 25.0  # 1 of 4: the unanswered one is wrong
    assert strict["_summary"]["cells"]["MVTec-AD"]["Defect Type"]["unparseable"] == 1
