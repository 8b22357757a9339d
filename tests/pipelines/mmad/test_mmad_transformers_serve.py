"""End to end against a real OpenAI-compatible server: ``transformers serve`` on loopback with a
tiny random-weight Qwen2.5-VL checkpoint (built offline), an ``mmad`` run queued with the
default protocol (``official``: the Qwen2.5-VL script, one question per request, original
image files) and run by a worker; the stored answers keep the raw replies and their reading,
and the run's metrics are the scores of its export (strict and summary.py's)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from adlab.db.queries import get_run, run_artifacts, run_items, run_metrics
from adlab.metrics.mmad import score_answers
from lab_helpers import start_worker
from mmad_tiny_vlms import build_tiny_qwen

pytestmark = [pytest.mark.heavy, pytest.mark.representative]  # issue 17: one real server in CI
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    model = build_tiny_qwen(tmp_path / "tiny-qwen")
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cli = Path(sys.executable).with_name("transformers")
    log = tmp_path / "serve.log"
    with log.open("w") as out:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen([str(cli), "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--device", "cpu", str(model)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"transformers serve did not start: "
                                     f"{log.read_text()[-2000:]}") from None
            time.sleep(0.5)
    yield model, url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_official_run_against_transformers_serve(cli, engine, mmad_tree, served, tmp_path):
    root, truth = mmad_tree
    model, url = served
    config = {"pipeline": "mmad", "ad_model": None, "llm": str(model), "data_root": str(root),
              "api": {"base_url": url + "/v1", "timeout_s": 120, "concurrency": 2},
              "eval": {"few_shot": 1, "max_images": 3, "max_tokens": 8}}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    [rid] = json.loads(cli("queue", str(path), "--json", check=True).stdout)["created"]
    worker = start_worker("--until-empty", env={"HF_HUB_OFFLINE": "1"})
    worker.wait(timeout=600)
    assert worker.returncode == 0, worker.stderr.read()[-2000:]
    run = get_run(engine, run_id=rid)
    assert run.status == "succeeded", run.error
    params = json.loads(run.params_json) if hasattr(run, "params_json") else None
    if params is not None:
        assert params["protocol"] == "official" and params["eval"]["similar_template"] is False
    metrics = {(m["key"], m["scope"]): m["value"] for m in run_metrics(engine, run_id=rid)}
    items = run_items(engine, run_id=rid, prefix="answer:")
    assert len(items) == metrics[("questions", "")] == metrics[("answered", "")]
    assert metrics[("errors", "")] == 0
    for rec in items.values():  # one question per request, read by the Qwen script's rule
        assert isinstance(rec["raw"], str) and not rec["shared_reply"] and "listed" not in rec
        assert rec["rule"] in ("official:last", "official:fuzzy", "none")
        assert (rec["parsed"] is None) == (rec["rule"] == "none")
    answers = next(Path(a["path"]) for a in run_artifacts(engine, run_id=rid) if a["kind"] == "answers")
    answers = answers if answers.is_absolute() else Path(os.environ["ADLAB_ARTIFACTS"]) / answers
    exported = json.loads(answers.read_text())
    assert metrics[("accuracy", "")] == pytest.approx(score_answers(exported)["Average"]["Average"])
    assert metrics[("accuracy_official", "")] == pytest.approx(
        score_answers(exported, protocol="official")["Average"]["Average"])
    # the export holds each question's own reply or letter, never another question's
    by_question = {(r["image"], r["question"]): r for r in exported}
    for rec in items.values():
        assert by_question[(rec["image"], rec["question"])]["gpt_answer"] == (rec["parsed"] or rec["raw"])
