"""Protocol ``official`` for the API families, asserted on the requests a real loopback server
received: message text, image count and order, image size and label, generation parameters,
and the grouping of questions (GPT-4o cumulative, GPT-4o mini one by one, Gemini's split,
Claude as GPT-4o). The expected texts are written out here from MMAD's scripts
(jam-cc/MMAD ``evaluation/examples``), independently of adlab's constants."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.run import run
from mmad_loopback import LoopbackServer, Script

# evaluation/examples/GPT4/gpt4o.py `instruction`
INSTR_4O = ("\nYou are an industrial inspector who checks products by images. You should judge "
            "whether there is a defect in the query image and answer the questions about it.\n"
            "Answer with the option's letter from the given choices directly!\n\n"
            "Finally, you should output a list of answer, such as:\n1. Answer: B.\n2. Answer: B.\n"
            "3. Answer: A.\n...\n")
INSTR_MINI = INSTR_4O.replace("directly!", "directly.")
# evaluation/examples/Gemini/gemini_query.py `instruction`
INSTR_GEMINI = ("\nYou are an industrial inspector who checks products by images. You should judge "
                "whether there is a defect in the query image and answer the questions about it.\n"
                "Answer with the option's letter from the given choices directly.\n\n"
                "Finally, you should output a answer list of every question, such as:\n"
                "1. Answer: B.\n2. Answer: B.\n3. Answer: A.\n...\n\n")
TEMPLATE_1 = "The first 1 image is the normal sample, which can be used as a template to compare."


def _mmad(root: Path) -> dict:
    return json.loads((root / "mmad.json").read_text())


def _question(qa: dict, number: int | None = None) -> str:
    head = f"Question {number}:" if number else "Question:"
    return f"{head} {qa['Question']} \n" + "".join(f"{k}. {v}\n" for k, v in qa["Options"].items())


def _expected_text(instruction: str, listed: list[str]) -> str:
    return (instruction + TEMPLATE_1 + "The last image is the query image"
            + "Following is the question list: " + "\n" + "".join(q + "\n" for q in listed))


def _decode(data: str) -> tuple[bytes, tuple[int, int]]:
    raw = base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_")  # the SDKs differ
    with Image.open(io.BytesIO(raw)) as img:
        return raw, img.size


def _run(root: Path, server: LoopbackServer, out: Path, llm: str, suffix: str = "", **eval_):
    params = MmadParams.model_validate({
        "llm": llm, "data_root": str(root),
        "api": {"base_url": server.url + suffix, "backoff_s": 0.01, "max_retries": 1,
                "concurrency": 1},  # requests in the scripts' order
        "eval": {"few_shot": 1, "max_images": 2, **eval_}})
    assert params.protocol == "official" and params.eval.similar_template is False
    ctx = LocalRunContext(params=params, output_dir=out)
    run(ctx)
    return params, ctx


@pytest.fixture
def keys(monkeypatch):
    for env in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(env, "key-for-tests-only")


def test_gpt4o_asks_cumulatively_as_its_script(mmad_tree, tmp_path, keys):
    root, truth = mmad_tree
    data = _mmad(root)
    with LoopbackServer(Script(answers=truth)) as server:
        params, ctx = _run(root, server, tmp_path / "out", "gpt-4o", "/v1")
    images = list(data)[:2]
    expected = []
    for image in images:
        qas = data[image]["conversation"]
        for i in range(len(qas)):
            expected.append((image, [_question(qa) for qa in qas[: i + 1]]))
    assert len(server.bodies) == len(expected)  # request i lists questions 1..i
    for (path, body), (_image, listed) in zip(server.bodies, expected):
        assert path.endswith("/chat/completions")
        assert body["max_tokens"] == 200 and "temperature" not in body  # the API's default
        [message] = body["messages"]
        content = message["content"]
        assert [c["type"] for c in content] == ["image_url", "image_url", "text"]
        assert content[2]["text"] == _expected_text(INSTR_4O, listed)
        for c in content[:2]:  # the template (random_templates[0]), then the query image
            url = c["image_url"]["url"]
            assert url.startswith("data:image/png;base64,")  # labelled by the .png extension
            raw, size = _decode(url.split(",", 1)[1])
            assert raw[:2] == b"\xff\xd8" and size == (512, 384)  # 64x48 enlarged, JPEG
            assert c["image_url"]["detail"] == "low"
    stored = ctx.state.items("answer:")
    assert ctx.metric_value("accuracy") == 100.0
    assert all(r["rule"] == "official:last" for r in stored.values())
    assert params.eval.max_tokens == 200 and params.eval.temperature is None


def test_gpt4o_mini_asks_each_question_alone_numbered(mmad_tree, tmp_path, keys):
    root, truth = mmad_tree
    data = _mmad(root)
    with LoopbackServer(Script(answers=truth)) as server:
        _, ctx = _run(root, server, tmp_path / "out", "gpt-4o-mini", "/v1", max_images=1)
    [image] = list(data)[:1]
    qas = data[image]["conversation"]
    assert len(server.bodies) == len(qas)
    for i, (_, body) in enumerate(server.bodies):
        assert body["max_tokens"] == 600 and "temperature" not in body
        content = body["messages"][0]["content"]
        assert content[-1]["text"] == _expected_text(INSTR_MINI, [_question(qas[i], i + 1)])
        assert all(c["image_url"]["url"].startswith("data:image/jpeg;base64,")
                   for c in content[:2])
    assert ctx.metric_value("accuracy") == 100.0


def test_gemini_asks_question_one_alone_then_the_rest(mmad_tree, tmp_path, keys):
    root, truth = mmad_tree
    data = _mmad(root)
    with LoopbackServer(Script(answers=truth)) as server:
        _, ctx = _run(root, server, tmp_path / "out", "gemini", "", max_images=2)
    groups = []
    for image in list(data)[:2]:
        qas = data[image]["conversation"]
        groups += [[qas[0]], qas[1:]]
    assert len(server.bodies) == len(groups)
    for (path, body), listed in zip(server.bodies, groups):
        assert ":generateContent" in path
        [turn] = body["contents"]
        parts = turn["parts"]
        inline = [p.get("inlineData") or p.get("inline_data") for p in parts[:2]]
        assert all(i is not None for i in inline) and "text" in parts[2] and len(parts) == 3
        assert [i.get("mimeType") or i.get("mime_type") for i in inline] == ["image/png"] * 2
        assert all(_decode(i["data"])[1] == (512, 384) for i in inline)
        assert parts[2]["text"] == _expected_text(INSTR_GEMINI, [_question(q) for q in listed])
        config = body.get("generationConfig") or {}
        assert "temperature" not in config and "maxOutputTokens" not in config
    assert ctx.metric_value("accuracy") == 100.0
    rules = {r["rule"] for r in ctx.state.items("answer:").values()}
    assert rules == {"official:last", "official:in-order"}


def test_gemini_reply_with_the_wrong_number_of_letters_drops_the_image(mmad_tree, tmp_path, keys):
    root, truth = mmad_tree
    data = _mmad(root)
    image = next(i for i in data if len(data[i]["conversation"]) == 4)
    rest = [qa["Question"] for qa in data[image]["conversation"][1:]]
    replies = {rest[0]: "1. Answer: B.\n2. Answer: C."}  # two letters for three questions
    with LoopbackServer(Script(answers=truth, replies=replies)) as server:
        original = server._reply_text
        server._reply_text = lambda qs: replies[rest[0]] if qs == rest else original(qs)
        _, ctx = _run(root, server, tmp_path / "out", "gemini", "", max_images=None)
    # the script drops the whole image, question 1's answer included
    stored = ctx.state.items("answer:")
    mine = sorted((r for r in stored.values() if r["image"] == image), key=lambda r: r["index"])
    assert [r["parsed"] for r in mine] == [None] * 4
    assert {r["rule"] for r in mine} == {"official:discarded"} and mine[0]["raw"]
    assert all(r["shared_reply"] for r in mine if r["index"] > 0)
    [answers] = [f for f in (tmp_path / "out").glob("answers_*.json") if not f.name.endswith("meta.json")]
    exported = [r for r in json.loads(answers.read_text()) if r["image"] == image]
    assert [r["gpt_answer"] for r in exported] == [None] * 4
    others = [r for r in stored.values() if r["image"] != image]
    assert others and all(r["parsed"] is not None for r in others)


def test_claude_follows_the_gpt4o_script_with_jpeg_labels(mmad_tree, tmp_path, keys):
    root, truth = mmad_tree
    data = _mmad(root)
    with LoopbackServer(Script(answers=truth)) as server:
        _, ctx = _run(root, server, tmp_path / "out", "claude-haiku", "", max_images=1)
    [image] = list(data)[:1]
    qas = data[image]["conversation"]
    assert len(server.bodies) == len(qas)
    for i, (path, body) in enumerate(server.bodies):
        assert path.endswith("/messages") and body["max_tokens"] == 200
        assert "temperature" not in body and "system" not in body
        content = body["messages"][0]["content"]
        assert [c["type"] for c in content] == ["image", "image", "text"]
        assert content[2]["text"] == _expected_text(INSTR_4O, [_question(q) for q in qas[: i + 1]])
        assert {c["source"]["media_type"] for c in content[:2]} == {"image/jpeg"}
        assert all(_decode(c["source"]["data"])[1] == (512, 384) for c in content[:2])
    assert ctx.metric_value("accuracy") == 100.0


def test_similar_template_and_explicit_generation_settings_are_honoured(mmad_tree, tmp_path, keys):
    root, truth = mmad_tree
    data = _mmad(root)
    with LoopbackServer(Script(answers=truth)) as server:
        params = MmadParams.model_validate({
            "llm": "gpt-4o", "data_root": str(root),
            "api": {"base_url": server.url + "/v1"},
            "eval": {"few_shot": 2, "max_images": 1, "similar_template": True,
                     "temperature": 0.3, "max_tokens": 50}})
        run(LocalRunContext(params=params, output_dir=tmp_path / "out"))
    [image] = list(data)[:1]
    _, body = server.bodies[0]
    assert body["temperature"] == 0.3 and body["max_tokens"] == 50
    text = body["messages"][0]["content"][-1]["text"]
    assert "The first 2 image is the normal sample" in text
    sent = [Image.open(io.BytesIO(_decode(c["image_url"]["url"].split(",", 1)[1])[0])).convert("RGB")
            for c in body["messages"][0]["content"][:-1]]
    assert len(sent) == 3

    def corner(img: Image.Image) -> tuple[int, ...]:
        return img.resize((64, 48)).getpixel((1, 1))

    def distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
        return sum(abs(x - y) for x, y in zip(a, b))

    for shown, similar, rand in zip(sent, data[image]["similar_templates"][:2],
                                    data[image]["random_templates"][:2]):
        want, other = corner(Image.open(root / similar)), corner(Image.open(root / rand))
        assert want != other  # the builder's templates differ in shade
        assert distance(corner(shown), want) < distance(corner(shown), other)


def test_replies_with_the_scripts_error_keywords_are_asked_again(mmad_tree, tmp_path, keys):
    """gpt4o-mini.py's send_request_to_api: a reply containing 'please', 'sorry', 'today' or
    'cannot assist' is sent again, 3 sends in all; then the question has no answer."""
    root, truth = mmad_tree
    data = _mmad(root)
    image = next(iter(data))
    refused_q = data[image]["conversation"][1]["Question"]
    script = Script(answers=truth, replies={refused_q: "Sorry, I cannot assist with that. A"})
    with LoopbackServer(script) as server:
        _, ctx = _run(root, server, tmp_path / "out", "gpt-4o-mini", "/v1", max_images=1)
    asked = [r.questions for r in server.log]
    assert asked.count([refused_q]) == 3 and len(asked) == len(data[image]["conversation"]) + 2
    [rec] = [r for r in ctx.state.items("answer:").values() if r["question"] == refused_q]
    assert rec["parsed"] is None and rec["rule"] == "official:refused" and rec["attempts"] == 3
    assert ctx.metric_value("unparseable") == 1
