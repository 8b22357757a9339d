"""The whole ``mmad`` pipeline against the loopback server (no database): answers stored as
they arrive, scored with MMAD's rules, exported in the seed's files; errors, budget, resume,
requests in flight, AD findings in the prompt."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adlab.errors import PipelineError
from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.run import run
from mmad_loopback import LoopbackServer, Script


@pytest.fixture(autouse=True)
def _openai_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "key-for-tests-only")


def _params(root: Path, server: LoopbackServer, llm: str = "gpt-4o", suffix: str = "/v1", **over):
    # these tests are about adlab's run mechanics (one request per question, batch and
    # history modes); protocol official is covered by test_mmad_protocol_api.py
    config = {"llm": llm, "data_root": str(root), "protocol": "adlab",
              "api": {"base_url": server.url + suffix, "backoff_s": 0.01, "max_retries": 2}}
    for key, value in over.items():
        section, _, leaf = key.rpartition("__")
        (config.setdefault(section, {}) if section else config)[leaf] = value
    return MmadParams.model_validate(config)


def _run(params: MmadParams, out: Path, **kw) -> LocalRunContext:
    ctx = LocalRunContext(params=params, output_dir=out, **kw)
    run(ctx)
    return ctx


@pytest.mark.parametrize("llm,env,suffix", [("gpt-4o", "OPENAI_API_KEY", "/v1"),
                                            ("claude-haiku", "ANTHROPIC_API_KEY", ""),
                                            ("gemini-pro", "GEMINI_API_KEY", "")])
def test_every_provider_end_to_end(mmad_tree, tmp_path, monkeypatch, llm, env, suffix):
    root, truth = mmad_tree
    monkeypatch.setenv(env, "key-for-tests-only")
    with LoopbackServer(Script(answers=truth)) as server:
        ctx = _run(_params(root, server, llm, suffix, eval__few_shot=2), tmp_path / "out")
    assert ctx.metric_value("accuracy") == 100.0
    assert ctx.metric_value("questions") == len(truth) == ctx.metric_value("answered")
    assert server.answered_counts() == {q: 1 for q in truth}
    assert {r.images for r in server.log} == {3}  # two templates + the query image
    stored = ctx.state.items("answer:")
    assert len(stored) == len(truth)
    one = next(iter(stored.values()))
    assert {"question_type", "correct_answer", "parsed", "raw", "latency_s", "tokens_in",
            "tokens_out", "error"} <= set(one) and one["tokens_in"] > 0


def test_scores_exports_and_unparseable_answers(mmad_tree, tmp_path):
    root, truth = mmad_tree
    questions = list(truth)
    wrong = questions[0]
    vague = questions[1]
    answers = dict(truth)
    answers[wrong] = "A" if truth[wrong] != "A" else "B"
    script = Script(answers=answers, replies={vague: "I cannot tell from this picture."})
    with LoopbackServer(script) as server:
        params = _params(root, server, output_dir=str(tmp_path / "seed_outputs"),
                         ad_model=None, eval__similar_template=False)
        ctx = _run(params, tmp_path / "out", name="none_gpt-4o_1shot")
    name = "answers_1_shot_gpt-4o_Random_template"
    exported = json.loads((tmp_path / "out" / f"{name}.json").read_text())
    assert [set(r) for r in exported][:1] == [{"image", "question", "question_type",
                                                "correct_answer", "gpt_answer"}]
    assert next(r for r in exported if r["question"] == vague)["gpt_answer"] == \
        "I cannot tell from this picture."
    meta = json.loads((tmp_path / "seed_outputs" / f"{name}.meta.json").read_text())
    assert meta["experiment_name"] == "none_gpt-4o_1shot" and meta["errors"] == 0
    assert meta["processed"] == 10 and meta["unparseable"] == 1
    from adlab.metrics.mmad import score_answers

    table = score_answers(exported)
    assert meta["accuracy"] == pytest.approx(table["Average"]["Average"], abs=1e-3)
    assert ctx.metric_value("accuracy") == pytest.approx(table["Average"]["Average"])
    assert ctx.metric_value("accuracy", scope="DS-A/Average") == pytest.approx(table["DS-A"]["Average"])
    assert ctx.metric_value("unparseable") == 1 and ctx.metric_value("accuracy") < 100
    kinds = {a["kind"] for a in ctx.artifacts}
    assert {"answers", "answers_meta", "subset"} <= kinds


def test_failed_requests_are_errors_and_the_run_goes_on_within_budget(mmad_tree, tmp_path):
    root, truth = mmad_tree
    broken = list(truth)[:2]
    script = Script(answers=truth, always_fail={q: 500 for q in broken},
                    failures={list(truth)[5]: [429, 429]})
    with LoopbackServer(script) as server:
        ctx = _run(_params(root, server, eval__error_budget=0.1), tmp_path / "out")
        assert ctx.metric_value("errors") == 2 and ctx.metric_value("answered") == len(truth) - 2
        errored = [r for r in ctx.state.items("answer:").values() if r["error"]]
        assert {r["question"] for r in errored} == set(broken)
        assert all("after 3 attempt" in r["error"] for r in errored)
        # a retried run (same store) asks only the failed questions again
        server.script.always_fail.clear()
        before = len(server.log)
        ctx2 = LocalRunContext(params=ctx.params, output_dir=tmp_path / "out", state=ctx.state)
        run(ctx2)
        assert sorted(q for r in server.log[before:] for q in r.questions) == sorted(broken)
        assert ctx2.metric_value("errors") == 0 and ctx2.metric_value("accuracy") == 100.0
        # past the budget the run fails
        server.script.always_fail.update({q: 500 for q in list(truth)[:6]})
        with pytest.raises(PipelineError, match="error budget"):
            _run(_params(root, server, eval__error_budget=0.1, api__concurrency=2), tmp_path / "out3")


def test_requests_in_flight_and_batch_and_history_modes(mmad_tree, tmp_path):
    root, truth = mmad_tree
    with LoopbackServer(Script(answers=truth, delay_s=0.05)) as server:
        _run(_params(root, server, api__concurrency=6), tmp_path / "a")
        assert server.max_in_flight == 6
        server.max_in_flight = 0
        _run(_params(root, server, api__concurrency=1), tmp_path / "b")
        assert server.max_in_flight == 1
        before = len(server.log)
        batch = _run(_params(root, server, eval__batch_mode=True), tmp_path / "c")
        assert len(server.log) - before == 10  # one request per image
        assert batch.metric_value("accuracy") == 100.0
        before = len(server.log)
        history = _run(_params(root, server, eval__history=True), tmp_path / "d")
        assert len(server.log) - before == len(truth) and history.metric_value("accuracy") == 100.0


def test_ad_findings_from_a_predictions_file_go_into_the_prompt(mmad_tree, tmp_path):
    root, truth = mmad_tree
    data = json.loads((root / "mmad.json").read_text())
    images = list(data)
    records = [{"image_path": image, "anomaly_score": 3.14, "is_anomaly": True,
                "threshold_used": 2.5,
                "defect_location": {"has_defect": True, "region": "top-left", "bbox": [1, 2, 9, 8],
                                    "center": [5, 5], "area_ratio": 0.04},
                "metadata": {"dataset": image.split("/")[0], "class_name": "x",
                             "model_type": "patchcore"}} for image in images[:-1]]
    preds = tmp_path / "patchcore_predictions.json"
    preds.write_text(json.dumps(records))
    seen: list[str] = []
    with LoopbackServer(Script(answers=truth)) as server:
        original = server._openai_text

        def spy(body):
            text, n = original(body)
            seen.append(text)
            return text, n

        server._openai_text = spy
        ctx = _run(_params(root, server, ad_model="patchcore", ad__output=str(preds)), tmp_path / "o")
    with_ad = [t for t in seen if "anomaly detection model (patchcore)" in t]
    assert len(with_ad) == len(truth) - len(data[images[-1]]["conversation"])
    assert "score 3.14 against threshold 2.5" in with_ad[0] and "top-left" in with_ad[0]
    assert ctx.metric_value("ad_missing") == 1
    assert (tmp_path / "o" / "answers_1_shot_gpt-4o_Similar_template_with_patchcore.json").is_file()


def test_seed_resume_reads_an_earlier_answers_file(mmad_tree, tmp_path):
    root, truth = mmad_tree
    with LoopbackServer(Script(answers=truth)) as server:
        first = _params(root, server, output_dir=str(tmp_path / "seed"), eval__max_images=4)
        _run(first, tmp_path / "one")
        before = len(server.log)
        again = _params(root, server, output_dir=str(tmp_path / "seed"), eval__resume=True)
        ctx = _run(again, tmp_path / "two")
        asked = [q for r in server.log[before:] for q in r.questions]
    data = json.loads((root / "mmad.json").read_text())
    first_four = {c["Question"] for image in list(data)[:4] for c in data[image]["conversation"]}
    assert set(asked) == set(truth) - first_four
    assert ctx.metric_value("accuracy") == 100.0
