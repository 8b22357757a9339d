"""The ``mmad`` pipeline through the real queue and workers: queued from YAML with the seed's
flags, answers in run_items while it runs, metrics and artifacts in the database, and a
SIGKILLed worker whose run resumes asking only the missing questions."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from adlab.db.queries import get_run, run_artifacts, run_items, run_metrics
from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.run import run as run_pipeline
from mmad_loopback import LoopbackServer, Script
from lab_helpers import start_worker, wait_until

pytestmark = pytest.mark.slow


def _queue(cli, tmp_path: Path, config: dict, *flags: str) -> list[int]:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = cli("queue", str(path), "--json", *flags, check=True)
    return json.loads(proc.stdout)["created"]


def _config(root: Path, server: LoopbackServer, **eval_) -> dict:
    return {"pipeline": "mmad", "ad_model": None, "llm": "qwen", "data_root": str(root),
            "protocol": "adlab",  # the seed's flags (--batch-mode) are adlab's protocol
            "api": {"base_url": server.url + "/v1", "provider": "openai", "backoff_s": 0.05,
                    "concurrency": 2},
            "eval": {"few_shot": 1, "similar_template": True, **eval_}}


def test_queue_with_seed_flags_run_and_score(cli, engine, mmad_tree, tmp_path):
    root, truth = mmad_tree
    with LoopbackServer(Script(answers=truth)) as server:
        [rid] = _queue(cli, tmp_path, _config(root, server), "--llm", "gpt-4o",
                       "--sample-per-folder", "2", "--few-shot", "2", "--batch-mode")
        worker = start_worker("--until-empty", env={"OPENAI_API_KEY": "k-test"})
        worker.wait(timeout=120)
        assert worker.returncode == 0, worker.stderr.read()
    run = get_run(engine, run_id=rid)
    assert run.status == "succeeded", run.error
    assert run.name == "none_gpt-4o_2shot" and run.headline_value == 100.0
    metrics = {(m["key"], m["scope"]): m["value"] for m in run_metrics(engine, run_id=rid)}
    assert metrics[("accuracy", "")] == 100.0 and metrics[("images", "")] == 8
    assert metrics[("accuracy", "DS-A/Anomaly Detection")] == 100.0 and metrics[("errors", "")] == 0
    items = run_items(engine, run_id=rid, prefix="answer:")
    assert len(items) == metrics[("questions", "")]
    assert all(v["parsed"] == v["correct_answer"] for v in items.values())
    kinds = {a["kind"]: a["path"] for a in run_artifacts(engine, run_id=rid)}
    assert {"answers", "answers_meta", "subset"} <= set(kinds)
    detail = json.loads(cli("show", str(rid), "--json", check=True).stdout)
    assert "k-test" not in json.dumps(detail)
    answers = next(Path(a["path"]) for a in run_artifacts(engine, run_id=rid) if a["kind"] == "answers")
    answers = answers if answers.is_absolute() else Path(os.environ["ADLAB_ARTIFACTS"]) / answers
    scored = json.loads(cli("mmad", "score", str(answers), "--json", check=True).stdout)
    assert scored["Average"]["Average"] == 100.0


def test_killed_worker_resumes_asking_only_missing_questions(cli, engine, mmad_tree, tmp_path,
                                                            monkeypatch):
    root, truth = mmad_tree
    monkeypatch.setenv("OPENAI_API_KEY", "k-test")
    env = {"OPENAI_API_KEY": "k-test", "ADLAB_LEASE_S": "2"}
    with LoopbackServer(Script(answers=truth, delay_s=0.25)) as server:
        config = _config(root, server)
        [rid] = _queue(cli, tmp_path, config)
        victim = start_worker("--name", "victim", env=env)
        # the warm worker claims once its zygote has imported the vlm extra (torch, transformers)
        wait_until(lambda: len(run_items(engine, run_id=rid, prefix="answer:")) >= 8, timeout=180)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.time()
        stored_at_kill = run_items(engine, run_id=rid, prefix="answer:")
        time.sleep(0.5)  # the run's child died with the worker: nothing more is stored
        assert run_items(engine, run_id=rid, prefix="answer:") == stored_at_kill
        assert get_run(engine, run_id=rid).status == "running"
        rescuer = start_worker("--until-empty", "--name", "rescuer", env=env)
        rescuer.wait(timeout=120)
        assert rescuer.returncode == 0, rescuer.stderr.read()
        log = server.requests()
        # the uninterrupted reference, in-process against the same server
        params = MmadParams.model_validate({k: v for k, v in config.items() if k != "pipeline"})
        reference = LocalRunContext(params=params, output_dir=tmp_path / "reference")
        run_pipeline(reference)
    run = get_run(engine, run_id=rid)
    assert run.status == "succeeded" and run.attempt == 2 and run.worker == "rescuer"
    stored_questions = {v["question"] for v in stored_at_kill.values()}
    before = [r for r in log if r.t < killed_at]  # received before the kill
    after = [r for r in log if r.t >= killed_at]
    asked_after = [q for r in after for q in r.questions]
    # the resumed attempt asked exactly the questions without a stored answer, each once
    assert sorted(asked_after) == sorted(set(truth) - stored_questions)
    # questions answered before the kill were received exactly once overall
    asked_before = [q for r in before for q in r.questions]
    assert all(asked_before.count(q) == 1 for q in stored_questions)
    assert all(q not in asked_after for q in stored_questions)
    # only requests in flight at the kill were received without their answer being stored
    lost = set(asked_before) - stored_questions
    assert len(lost) <= config["api"]["concurrency"]
    # final answers equal an uninterrupted run's
    final = run_items(engine, run_id=rid, prefix="answer:")
    ref = reference.state.items("answer:")
    assert set(final) == set(ref)
    assert {k: (v["parsed"], v["raw"]) for k, v in final.items()} == \
        {k: (v["parsed"], v["raw"]) for k, v in ref.items()}
    out = Path(run.output_dir)
    name = "answers_1_shot_qwen_Similar_template.json"
    assert json.loads((out / name).read_text()) == \
        json.loads((tmp_path / "reference" / name).read_text())
