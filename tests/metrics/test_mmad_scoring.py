"""MMAD scoring: answer parsing, MMAD's table rules, unparseable answers, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adlab.errors import AdlabError
from adlab.metrics.mmad import parse_answer_letter, score_answers


@pytest.mark.parametrize("text, letter", [
    ("B", "B"), (" c ", None), ("(C) a scratch", "C"), ("Answer: D.", "D"),
    ("A scratch is visible, so the answer is B", "B"), ("E.g. it could be A", "A"),
    ("B: Yes", "B"), ("I cannot tell", None), ("", None), (None, None), (3, None),
    ("ABC", None), ("option A1", None), ("A or E?", "E"), ("The answer is A)", "A"),
])
def test_parse_answer_letter(text, letter):
    assert parse_answer_letter(text) == letter


def _answer(image: str, qtype: str, correct: str, given: object) -> dict:
    return {"image": image, "question": "?", "question_type": qtype,
            "correct_answer": correct, "gpt_answer": given}


def _records() -> list[dict]:
    good, bad = "MVTec-AD/bottle/test/good/000.png", "MVTec-AD/bottle/test/broken/001.png"
    visa = "VisA/pcb1/test/bad/002.JPG"
    return [
        # Anomaly Detection on MVTec-AD: normal 1/2 correct, anomalous 3/3 correct.
        _answer(good, "Anomaly Detection", "B", "B"),
        _answer(good, "Anomaly Detection", "B", "A"),
        _answer(bad, "Anomaly Detection", "A", "A"),
        _answer(bad, "Anomaly Detection", "A", "Answer: A"),
        _answer(bad, "Anomaly Detection", "A", "A"),
        # Object Structure + Object Details merge: 1 of 3 correct (one unparseable).
        _answer(bad, "Object Structure", "C", "C"),
        _answer(bad, "Object Details", "C", "no idea"),
        _answer(bad, "Object Details", "D", "C"),
        _answer(bad, "Defect Type", "A", "A"),
        # VisA: one type only, and its Anomaly Detection has only anomalous images.
        _answer(visa, "Defect Type", "D", "D"),
        _answer(visa, "Defect Type", "D", "B"),
        _answer(visa, "Anomaly Detection", "A", "B"),
        _answer(visa, "Anomaly Detection", "A", "A"),
    ]


def test_table_follows_mmad_rules():
    table = score_answers(_records())
    mv = table["MVTec-AD"]
    assert list(mv) == ["Anomaly Detection", "Object Analysis", "Defect Type", "Average"]
    assert mv["Anomaly Detection"] == pytest.approx((50.0 + 100.0) / 2)  # balanced accuracy
    assert mv["Object Analysis"] == pytest.approx(100 / 3)
    assert mv["Defect Type"] == 100.0
    assert mv["Average"] == pytest.approx((75.0 + 100 / 3 + 100.0) / 3)
    visa = table["VisA"]
    assert visa == {"Anomaly Detection": 50.0, "Defect Type": 50.0, "Average": 50.0}
    avg = table["Average"]
    assert avg["Anomaly Detection"] == pytest.approx((75.0 + 50.0) / 2)
    assert avg["Object Analysis"] == pytest.approx(100 / 3)  # only MVTec-AD has it
    assert avg["Average"] == pytest.approx((mv["Average"] + visa["Average"]) / 2)

    summary = table["_summary"]
    assert summary["n_answers"] == 13 and summary["n_unparseable"] == 1
    assert summary["unparseable"][0]["index"] == 6
    assert summary["unparseable"][0]["gpt_answer"] == "no idea"
    assert summary["overkill"]["MVTec-AD"] == 50.0 and summary["miss"]["MVTec-AD"] == 0.0
    assert "VisA" not in summary["overkill"] and summary["miss"]["VisA"] == 50.0
    assert summary["miss"]["Average"] == 25.0
    assert summary["counts"]["MVTec-AD"]["Object Analysis"] == {"correct": 1, "total": 3}
    # Per-dataset rows hold only type columns and Average.
    assert set(table) == {"MVTec-AD", "VisA", "Average", "_summary"}


def test_unparseable_answer_counts_as_wrong_not_dropped():
    records = [_answer("GoodsAD/x/test/good/0.jpg", "Defect Type", "A", "A"),
               _answer("GoodsAD/x/test/good/1.jpg", "Defect Type", "A", None)]
    table = score_answers(records)
    assert table["GoodsAD"]["Defect Type"] == 50.0
    assert table["_summary"]["unparseable_by_dataset"] == {"GoodsAD": 1}


@pytest.mark.parametrize("record, message", [
    ({"image": "a/b.png", "question_type": "Defect Type", "correct_answer": "F",
      "gpt_answer": "A"}, "one letter A-E"),
    ({"image": "a/b.png", "question_type": "Defect Type", "gpt_answer": "A"},
     "'correct_answer'"),
    ("just a string", "not an object"),
    ({"image": "Average/x.png", "question_type": "T", "correct_answer": "A",
      "gpt_answer": "A"}, "cannot name a dataset"),
])
def test_invalid_records_name_the_problem(record, message):
    with pytest.raises(AdlabError, match=message):
        score_answers([record])


def test_cli_json_and_table(tmp_path: Path, cli):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(_records()))
    proc = cli("mmad", "score", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == json.loads(json.dumps(score_answers(_records())))
    assert "1 answer(s) had no choice letter" in proc.stderr
    human = cli("mmad", "score", str(path))
    assert human.returncode == 0
    assert "MVTec-AD" in human.stdout and "Overkill" in human.stdout
    assert "1 unparseable (counted wrong)" in human.stdout

    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    proc = cli("mmad", "score", str(broken))
    assert proc.returncode == 1 and "not valid JSON" in proc.stderr
    proc = cli("mmad", "score", str(tmp_path / "missing.json"))
    assert proc.returncode == 1 and "does not exist" in proc.stderr


def test_strict_counts_failed_and_unparseable_per_cell():
    img = "MVTec-AD/bottle/test/broken/{}.png"
    records = [_answer(img.format(0), "Defect Type", "A", "A"),
               _answer(img.format(1), "Defect Type", "A", "B. A small scratch on the left."),
               _answer(img.format(2), "Defect Type", "B", "A scratch is visible."),
               {**_answer(img.format(3), "Defect Type", "B", None), "error": "HTTP 500"}]
    table = score_answers(records)
    # 0: A right; 1: strict reads the label B (not the article A): wrong; 2: no answer; 3: failed.
    assert table["MVTec-AD"]["Defect Type"] == 25.0
    cell = table["_summary"]["cells"]["MVTec-AD"]["Defect Type"]
    assert cell == {"correct": 1, "total": 4, "unparseable": 1, "failed": 1}
    assert table["_summary"]["n_unparseable"] == 1 and table["_summary"]["n_failed"] == 1


def test_cli_official_protocol(tmp_path: Path, cli):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(_records()))
    proc = cli("mmad", "score", str(path), "--protocol", "official", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == json.loads(json.dumps(score_answers(_records(), protocol="official")))
    # record 3 ("Answer: A") is dropped and record 4 skipped; 6 ("no idea") dropped, 7 skipped.
    assert out["_summary"]["n_dropped"] == 2 and out["_summary"]["n_skipped"] == 2
    assert out["VisA"]["Object Analysis"] == 0.0  # a missing cell counts 0 %
    assert "dropped" in proc.stderr
    human = cli("mmad", "score", str(path), "--protocol", "official")
    assert human.returncode == 0 and "2 dropped" in human.stdout
    bad = cli("mmad", "score", str(path), "--protocol", "paper")
    assert bad.returncode == 1 and "unknown MMAD scoring protocol" in bad.stderr
