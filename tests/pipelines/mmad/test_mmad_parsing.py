"""Reading replies: the strict (adlab) parser on hand-labelled replies, the family rules under
official, and batch replies that are never spread over several questions."""
from __future__ import annotations

import pytest

from adlab.metrics.mmad import score_answers
from adlab.metrics.mmad_parsing import parse_strict
from adlab.pipelines.mmad.answers import answer_record, export_records, state_key
from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.engine import Job
from adlab.pipelines.mmad.parsing import AnswerReader, family_of, split_batch_answer
from adlab.pipelines.mmad.clients.base import Completion

# Expectations written by hand (what a person reads as the chosen option), not computed.
STRICT = [
    ("B", "B", "adlab:bare"), ("  (C)  ", "C", "adlab:bare"), ("**D**", "D", "adlab:bare"),
    ("B. A small scratch on the left.", "B", "adlab:leading"),
    ("(C) A crack near the cap.", "C", "adlab:leading"),
    ("A: Yes, there is a scratch.", "A", "adlab:leading"),
    ("Answer: C", "C", "adlab:marked"), ("The answer is (D).", "D", "adlab:marked"),
    ("A scratch is visible, so the answer is B.", "B", "adlab:marked"),
    ("答案是B", "B", "adlab:marked"), ("Final answer: E", "E", "adlab:marked"),
    ("I would pick (B) here.", "B", "adlab:parenthesized"),
    ("A scratch is visible on the left.", None, "none"),
    ("A small dent.", None, "none"), ("Apple", None, "none"), ("BAD CD-ROM", None, "none"),
    ("E.g. a scratch", None, "none"), ("It is A's cap.", None, "none"),
    ("no idea", None, "none"), ("", None, "none"), (None, None, "none"), ("b", None, "none"),
    ("A or rather C", "C", "adlab:last"), ("I think B fits best", "B", "adlab:last"),
    ("éA", None, "none"), ("Ω C", "C", "adlab:last"),
]


@pytest.mark.parametrize("text, letter, rule", STRICT)
def test_strict_reading(text, letter, rule):
    parsed = parse_strict(text)
    assert (parsed.letter, parsed.rule) == (letter, rule)


def test_families_of_registry_names_and_ids():
    assert family_of("llava-onevision", "llava-hf/llava-onevision-qwen2-7b-ov-hf") == "llava"
    assert family_of("qwen", "Qwen/Qwen2.5-VL-7B-Instruct") == "qwen"
    assert family_of("gpt-4o") == "gpt4o" and family_of("gemini-pro") == "gemini"
    assert family_of("internvl") == "internvl" and family_of("/models/MiniCPM-V-2_6") == "minicpm"
    assert family_of("vllm:some/unknown-model") == "gpt4o"
    with pytest.raises(ValueError, match="unknown MMAD model family"):
        AnswerReader("official", "sphinx")


def _questions(n: int) -> list[Question]:
    return [Question(image="DS/c/test/bad/0.png", index=i, text=f"Question {i}?",
                     options={"A": "Yes.", "B": "No.", "C": "Maybe."}, answer="B",
                     type="Defect Type") for i in range(n)]


@pytest.mark.parametrize("reply", ["B", "The answer is B.", "I cannot tell. A B", "B B"])
def test_batch_reply_is_never_spread_over_questions(reply):
    qs = _questions(3)
    job = Job("DS/c/test/bad/0.png", qs, "batch", inputs=None, reader=AnswerReader())  # type: ignore[arg-type]
    records = job.answers(Completion(text=reply, tokens_in=30, tokens_out=6))
    assert [r["parsed"] for r in records] == [None, None, None]
    assert all(r["raw"] == reply and r["shared_reply"] for r in records)  # the reply is kept
    stored = {state_key(q): r for q, r in zip(qs, records)}
    exported = export_records(qs, stored)
    assert [e["gpt_answer"] for e in exported] == [None, None, None]
    table = score_answers(exported)  # re-scoring: still unparsed, all wrong
    assert table["_summary"]["n_unparseable"] == 3 and table["DS"]["Defect Type"] == 0.0
    official = score_answers(exported, protocol="official")
    assert official["_summary"]["n_scored"] == 0


def test_batch_numbered_lines_answer_only_their_questions():
    qs = _questions(3)
    records = Job(qs[0].image, qs, "batch", inputs=None).answers(  # type: ignore[arg-type]
        Completion(text="1. Answer: B.\n3. Answer: A. A small scratch", tokens_in=3))
    assert [(r["parsed"], r["rule"]) for r in records] == \
        [("B", "adlab:numbered"), (None, "none"), ("A", "adlab:numbered")]
    assert [p.letter for p in split_batch_answer("B\nC\nA", 3)] == ["B", "C", "A"]
    assert [p.letter for p in split_batch_answer("A scratch, B, C", 2)] == ["B", "C"]


def test_official_batch_follows_gemini_script():
    qs = _questions(2)
    reader = AnswerReader("official", "gemini")
    assert [p.letter for p in reader.batch("B then A", qs)] == ["B", "A"]
    assert [p.letter for p in reader.batch("B", qs)] == [None, None]  # the script drops it


def test_single_records_keep_raw_letter_and_rule():
    [q] = _questions(1)
    reply = "B. A small scratch on the left."
    strict = Job(q.image, [q], "single", inputs=None).answers(Completion(text=reply))  # type: ignore[arg-type]
    assert (strict[0]["raw"], strict[0]["parsed"], strict[0]["rule"]) == (reply, "B", "adlab:leading")
    official = Job(q.image, [q], "single", inputs=None,  # type: ignore[arg-type]
                   reader=AnswerReader("official", "gpt4o")).answers(Completion(text=reply))
    assert (official[0]["parsed"], official[0]["rule"]) == ("A", "official:last")
    vague = answer_record(q, raw="no idea", parsed=None, latency_s=0, tokens_in=0, tokens_out=0)
    assert export_records([q], {state_key(q): vague})[0]["gpt_answer"] == "no idea"


def test_flat_table_shows_official_accuracy_and_unparsed_counts():
    from adlab.pipelines.mmad.views import flat_table
    from adlab.pipelines.views import RunRecord

    runs = [RunRecord(1, "strict_run", "mmad", {"llm": "qwen"},
                      {"accuracy": 61.25, "accuracy_official": 70.5, "unparseable": 12.0}),
            RunRecord(2, "imported", "mmad", {"llm": "gpt-4o"}, {"accuracy": 50.0})]
    view = flat_table(runs)
    header = next(line for line in view.lines if line.startswith("Experiment"))
    assert "Official" in header and "Unparsed" in header
    row = next(line for line in view.lines if line.startswith("strict_run")).split()
    assert row[4:6] == ["61.2%", "70.5%"] and "12" in row
    assert view.data.rows[1].official is None and view.data.rows[1].unparseable is None


def test_report_summary_shows_official_accuracy_and_unparsed():
    from adlab.pipelines.mmad.views import report_sections
    from adlab.pipelines.views import RunRecord

    run = RunRecord(1, "r", "mmad", {}, {"accuracy": 60.0, "accuracy_official": 72.0,
                                         "unparseable": 3.0},
                    {("accuracy", "DS/Defect Type"): 60.0, ("accuracy", "DS/Average"): 60.0,
                     ("accuracy", "Average/Average"): 60.0})
    [summary] = report_sections([run])[0].tables
    assert summary.columns == ("Run", "DS", "Average", "Official", "Unparsed")
    assert [c.value for c in summary.rows[0][1:]] == [60.0, 60.0, 72.0, 3.0]
