"""``adlab data synth|list|datasets`` in a real process: one JSON document, exit codes."""
from __future__ import annotations

import json


def test_synth_json_summary_then_list_reads_it_back(tmp_path, cli):
    out = tmp_path / "syn"
    proc = cli("data", "synth", str(out), "--category", "tiles", "--category", "leather", "--seed", "3",
               "--image-size", "48", "--train", "3", "--test-good", "2", "--test-defect", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["categories"] == ["tiles", "leather"] and summary["seed"] == 3
    assert summary["n_train"] == 3 and set(summary["defect_types"]) == {"tiles", "leather"}
    assert (out / "tiles" / "train" / "good" / "002.png").is_file()

    listed = cli("data", "list", str(out), "--dataset", "synthetic", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    rows = {r["category"]: r for r in doc["categories"]}
    assert doc["ok"] and set(rows) == {"tiles", "leather"}
    assert rows["tiles"]["train"] == 3 and rows["tiles"]["test_good"] == 2 and rows["tiles"]["test_anomalous"] == 4

    again = cli("data", "synth", str(out), "--categories", "1")
    assert again.returncode == 1 and "not empty" in again.stderr and "--overwrite" in again.stderr


def test_list_reports_broken_category_and_exits_1(tmp_path, cli):
    out = tmp_path / "syn"
    assert cli("data", "synth", str(out), "--categories", "2", "--image-size", "32", "--train", "1",
               "--test-good", "1", "--test-defect", "3").returncode == 0
    for mask in (out / "washer" / "ground_truth").rglob("*_mask.png"):
        mask.unlink()
    proc = cli("data", "list", str(out), "--json")
    assert proc.returncode == 1
    rows = {r["category"]: r for r in json.loads(proc.stdout)["categories"]}
    assert rows["woven"]["error"] is None and "has no mask" in rows["washer"]["error"]


def test_usage_and_input_errors(tmp_path, cli):
    assert cli("data", "synth", str(tmp_path / "x"), "--categories", "2", "--category", "wood").returncode == 2
    proc = cli("data", "list", str(tmp_path / "missing"), "--dataset", "mvtec_ad")
    assert proc.returncode == 1 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("data", "list", str(tmp_path), "--dataset", "nope")
    assert proc.returncode == 1 and "unknown dataset 'nope'" in proc.stderr


def test_datasets_json(cli):
    proc = cli("data", "datasets", "--json")
    assert proc.returncode == 0
    assert [d["name"] for d in json.loads(proc.stdout)][:2] == ["mvtec_ad", "visa"]
