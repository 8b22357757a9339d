"""Seed 002's ``base-exp_condition.json`` loads as written: its field names map to the anomalib
pipeline's with one note per field, ``source_domain`` trains on one HDMAP domain and scores
the others (one run, per-target-domain metrics)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adlab.config.jsonc import strip_json_comments
from adlab.data.synth.domains import generate_domains

# The document's own example, verbatim (comments, Korean and the trailing space included).
SEED_JSON = """{
  "experiment_conditions": [
    {
      "name": "domainA_draem_baseline",
      "description": "Domain A - DRAEM 기본 설정",
      "config": {
        "model_type": "draem",           // 새로 추가
        "source_domain": "domain_A",
        "max_epochs": 50,
        "early_stopping_patience": 10,
        "learning_rate": 0.0001,
        "batch_size": 16,
        "image_size": "224x224"
        // 모델별 고유 파라미터들
      }
    },
    {
      "name": "domainA_dinomaly_baseline", 
      "description": "Domain A - Dinomaly 기본 설정",
      "config": {
        "model_type": "dinomaly",        // 새로 추가
        "source_domain": "domain_A",
        "max_epochs": 50,
        "early_stopping_patience": 10,
        "learning_rate": 0.0001,
        "batch_size": 8,
        "image_size": "224x224",
        "encoder_name": "dinov2reg_vit_base_14",
        "target_layers": [2, 3, 4, 5, 6, 7, 8, 9]
        // Dinomaly 고유 파라미터들
      }
    }
  ]
}
"""  # noqa: W291 (the document's trailing space, kept)

MAPPED = ("model_type", "source_domain", "max_epochs", "early_stopping_patience", "learning_rate",
          "batch_size", "image_size")


def _queue(cli, path: Path, *args: str):
    return cli("queue", str(path), *args)


def test_seed_json_loads_as_written_with_one_note_per_field(tmp_path, cli):
    root = tmp_path / "HDMAP" / "1000_8bit_resize_224x224"
    generate_domains(root, domains=("domain_A", "domain_B", "domain_C"), n_train=2,
                     n_test_good=1, n_test_fault=1, image_size=32)
    cfg = tmp_path / "base-exp_condition.json"
    cfg.write_text(SEED_JSON, encoding="utf-8")
    proc = _queue(cli, cfg, "--data-root", str(root), "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    runs = {r["name"]: r for r in json.loads(proc.stdout)["runs"]}
    assert set(runs) == {"domainA_draem_baseline", "domainA_dinomaly_baseline"}
    draem, dino = runs["domainA_draem_baseline"], runs["domainA_dinomaly_baseline"]
    assert draem["pipeline"] == "anomalib"
    p = draem["params"]
    assert (p["model"], p["train.max_epochs"], p["train.early_stopping.patience"],
            p["train.learning_rate"], p["train.batch_size"], p["image_size"]) == \
        ("draem", 50, 10, 0.0001, 16, 224)
    assert p["data.categories"] == "domain_A" and p["data.root"] == str(root)
    assert p["data.dataset"] == "folder" and p["data.options.abnormal_dir"] == "test/fault"
    assert p["cross_domain.test_domains"] == "auto"
    assert p["cross_domain.test_set"] == ["domain_B", "domain_C"]  # in the partition
    for field in MAPPED:  # one note per mapped field, naming where it went
        assert sum(n.startswith(f"{field} -> ") for n in draem["notes"]) == 1, (field, draem["notes"])
    assert "image_size -> image_size = 224" in draem["notes"]
    q = dino["params"]
    assert q["model"] == "dinomaly" and q["train.batch_size"] == 8
    assert q["model_params.encoder_name"] == "vit_base_patch14_reg4_dinov2"
    assert q["model_params.target_layers"] == [2, 3, 4, 5, 6, 7, 8, 9]
    assert any(n.startswith("encoder_name -> model_params.encoder_name") for n in dino["notes"])
    assert any(n.startswith("target_layers -> model_params.target_layers") for n in dino["notes"])
    # The notes are printed at queue time, and stored with the queued run.
    assert "domainA_draem_baseline: model_type -> model = 'draem'" in proc.stderr
    queued = _queue(cli, cfg, "--data-root", str(root), "--json")
    assert queued.returncode == 0, queued.stderr
    first = json.loads(queued.stdout)["created"][0]
    shown = json.loads(cli("show", str(first), "--json", check=True).stdout)
    assert shown["info"]["config_notes"] == draem["notes"]


def test_unknown_seed_field_is_one_sentence_naming_it(tmp_path, cli):
    cfg = tmp_path / "conditions.json"
    cfg.write_text(SEED_JSON.replace('"max_epochs": 50,\n        "early', '"max_epoch": 50,\n        "early', 1))
    proc = _queue(cli, cfg, "--dry-run")
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "field 'max_epoch'" in line and "condition 'domainA_draem_baseline'" in line
    assert "max_epochs" in line and "model_type" in line  # what exists
    bad_size = tmp_path / "size.json"
    bad_size.write_text(SEED_JSON.replace('"224x224"\n', '"224 by 224"\n', 1))
    proc = _queue(cli, bad_size, "--dry-run")
    assert proc.returncode == 1 and "image_size '224 by 224' is not HEIGHTxWIDTH" in proc.stderr


def test_json_comments_stripped_outside_strings_only():
    text = '{"url": "http://x//y", /* block\n comment */ "a": [1, 2,], // tail\n "b": "q\\"//"}'
    out = strip_json_comments(text)
    assert json.loads(out) == {"url": "http://x//y", "a": [1, 2], "b": 'q"//'}
    assert out.count("\n") == text.count("\n")  # lines kept for error positions


TINY_SEED = {"experiment_conditions": [{
    "name": "domainA_patchcore_tiny",
    "description": "train on domain_A, test on domain_B and domain_C",
    "config": {"model_type": "patchcore", "source_domain": "domain_A", "max_epochs": 1,
               "learning_rate": 0.0001, "batch_size": 4, "image_size": "64x64",
               "backbone": "resnet18", "layers": ["layer2", "layer3"], "pre_trained": False,
               "coreset_sampling_ratio": 0.5},
}]}


@pytest.mark.heavy
@pytest.mark.representative
def test_train_on_one_domain_test_on_the_others_through_the_worker(tmp_path, engine, cli):
    from adlab.db.queries import list_runs, run_detail

    root = tmp_path / "HDMAP"
    generate_domains(root, domains=("domain_A", "domain_B", "domain_C"), n_train=6,
                     n_test_good=3, n_test_fault=3, image_size=64)
    cfg = tmp_path / "base-exp_condition.json"
    cfg.write_text(json.dumps(TINY_SEED, indent=1))
    queued = cli("queue", str(cfg), "--data-root", str(root), "--json", check=True)
    notes = json.loads(queued.stdout)["runs"][0]["notes"]
    assert "learning_rate = 0.0001 ignored: patchcore has no optimizer" in notes
    assert "backbone -> model_params.backbone = 'resnet18'" in notes
    worker = subprocess.run([sys.executable, "-m", "adlab", "worker", "--until-empty"],
                            capture_output=True, text=True, timeout=900, env=os.environ.copy())
    assert worker.returncode == 0, worker.stderr
    [run] = list_runs(engine)
    assert run.status == "succeeded", run.error
    detail = run_detail(engine, run_id=run.id)
    metrics = {(m["key"], m["scope"]): m["value"] for m in detail["metrics"]}
    for target in ("domain_B", "domain_C"):  # per-target-domain metrics from the one model
        assert 0.0 <= metrics[("image_auroc", f"train=domain_A/test={target}")] <= 1.0
    assert 0.0 <= metrics[("image_auroc", "domain_A")] <= 1.0
    assert metrics[("in_domain_image_auroc", "")] == metrics[("image_auroc", "domain_A")]
    across = [metrics[("image_auroc", f"train=domain_A/test={t}")] for t in ("domain_B", "domain_C")]
    assert metrics[("cross_domain_image_auroc", "")] == pytest.approx(sum(across) / 2)
    assert metrics[("test_domains", "")] == 2.0
    assert ("fit_s", "domain_A") in metrics and not any(  # trained once: no fit per target
        k == "fit_s" and s.startswith("train=") for k, s in metrics)
    assert detail["info"]["config_notes"] == notes
    kinds = [a["kind"] for a in detail["artifacts"]]
    assert kinds.count("anomaly_maps") == 3  # the source's test set and each target's
