"""adlab's ``official`` requests against the official scripts' own request builders, read from
a jam-cc/MMAD checkout (``MMAD_OFFICIAL_ROOT``; skipped without one): GPT-4o, GPT-4o mini and
Gemini payloads compared with what a loopback server received from adlab (text, image count,
order, labels and sizes, max_tokens, grouping); the Qwen2.5-VL, Qwen-VL, InternVL, MiniCPM
and LLaVA/Cambrian prompts compared with the protocol's messages (the scripts' model calls are
not run: no checkpoint is loaded; LLaVA's conversation template and tokenizer are replaced by
a recorder of the prompt they receive)."""
from __future__ import annotations

import base64
import io
import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines" / "mmad"))

from adlab.pipelines.local import LocalRunContext  # noqa: E402
from adlab.pipelines.mmad.data import load_mmad, questions_of  # noqa: E402
from adlab.pipelines.mmad.engine import plan_jobs, run_protocol  # noqa: E402
from adlab.pipelines.mmad.params import MmadParams  # noqa: E402
from adlab.pipelines.mmad.prompting import ImagePart  # noqa: E402
from adlab.pipelines.mmad.registry import resolve_llm  # noqa: E402
from adlab.pipelines.mmad.run import run  # noqa: E402
from mmad_builders import make_mmad  # noqa: E402
from mmad_loopback import LoopbackServer, Script  # noqa: E402
from mmad_official import PARSER_FILE, load_definitions  # noqa: E402
from mmad_official.llava_stubs import LlavaConversation  # noqa: E402

pytest.importorskip("cv2")
SCRIPT_IMPORTS = frozenset({"cv2", "base64", "random", "requests", "time"})


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "MMAD"
    _, truth = make_mmad(root)
    return root, truth, json.loads((root / "mmad.json").read_text())


def _size(data: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_"))) as im:
        return im.size


def _ours(root: Path, server: LoopbackServer, tmp: Path, llm: str, suffix: str,
          monkeypatch) -> list[dict]:
    for env in ("OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(env, "key-for-tests-only")
    params = MmadParams.model_validate({
        "llm": llm, "data_root": str(root), "eval": {"few_shot": 1, "max_images": 1},
        "api": {"base_url": server.url + suffix, "concurrency": 1}})
    run(LocalRunContext(params=params, output_dir=tmp / "out"))
    return [body for _, body in server.bodies]


def _openai_view(content: list[dict]) -> list[tuple[str, Any]]:
    out = []
    for c in content:
        if c["type"] == "text":
            out.append(("text", c["text"]))
        else:
            label, data = c["image_url"]["url"].split(";base64,", 1)
            out.append(("image", (label, _size(data), c["image_url"].get("detail"))))
    return out


@pytest.mark.parametrize("script,llm,cumulative", [
    ("evaluation/examples/GPT4/gpt4o.py", "gpt-4o", True),
    ("evaluation/examples/GPT4/gpt4o-mini.py", "gpt-4o-mini", False)])
def test_gpt4o_payloads_equal_the_scripts(tree, tmp_path, monkeypatch, script, llm, cumulative):
    root, truth, data = tree
    ns = load_definitions(script, {"GPT4Query"} | ({"get_mime_type"} if cumulative else set()),
                          assigns=frozenset({"instruction", "api", "error_keywords"}),
                          imports=SCRIPT_IMPORTS)
    with LoopbackServer(Script(answers=truth)) as server:
        bodies = _ours(root, server, tmp_path, llm, "/v1", monkeypatch)
    image = next(iter(data))
    query = ns["GPT4Query"](image_path=str(root / image), text_gt=data[image],
                            few_shot=[str(root / data[image]["random_templates"][0])])
    questions, _ = query.parse_conversation(data[image])
    assert len(bodies) == len(questions)
    for i, body in enumerate(bodies):
        listed = questions[: i + 1] if cumulative else questions[i:i + 1]
        official = query.get_query(listed)
        assert _openai_view(body["messages"][0]["content"]) == \
            _openai_view(official["messages"][0]["content"])
        assert body["max_tokens"] == official["max_tokens"]
        assert ("temperature" in body) == ("temperature" in official)
        reply = f"{i + 1}. Answer: {truth[data[image]['conversation'][i]['Question']]}."
        assert query.parse_answer(reply)[-1] == truth[data[image]["conversation"][i]["Question"]]


def test_gemini_payloads_equal_the_script(tree, tmp_path, monkeypatch):
    root, truth, data = tree
    ns = load_definitions("evaluation/examples/Gemini/gemini_query.py",
                          {"GeminiQuery", "get_mime_type"}, assigns=frozenset({"instruction"}),
                          imports=SCRIPT_IMPORTS)
    ns["gemini_model"] = None  # the script's global client
    with LoopbackServer(Script(answers=truth)) as server:
        bodies = _ours(root, server, tmp_path, "gemini", "", monkeypatch)
    image = next(iter(data))
    query = ns["GeminiQuery"](image_path=str(root / image), text_gt=data[image],
                              few_shot=[str(root / data[image]["random_templates"][0])])
    questions, _ = query.parse_conversation(data[image])
    groups = [questions[:1], questions[1:]]
    assert len(bodies) == 2
    for body, listed in zip(bodies, groups):
        official = query.get_query(listed)["parts"]
        ours = body["contents"][0]["parts"]
        assert len(ours) == len(official)
        for mine, theirs in zip(ours, official):
            if "text" in theirs:
                assert mine["text"] == theirs["text"]
            else:
                inline = mine.get("inlineData") or mine["inline_data"]
                assert (inline.get("mimeType") or inline.get("mime_type")) == \
                    theirs["inline_data"]["mime_type"]
                assert _size(inline["data"]) == _size(theirs["inline_data"]["data"])


# -- local families: the protocol's messages against the scripts' prompt builders -------------

def _gpt4v() -> dict[str, Any]:
    return load_definitions(PARSER_FILE, {"GPT4Query"}, assigns=frozenset({"instruction", "api"}),
                            imports=SCRIPT_IMPORTS)


def _asks(root: Path, family: str, data: dict, **extra: Any) -> tuple[str, list]:
    params = MmadParams.model_validate({"llm": "some/local-model", "family": family,
                                        "data_root": str(root), "eval": {"few_shot": 1}, **extra})
    protocol, _ = run_protocol(params, resolve_llm(params.llm))
    image = next(iter(data))
    mm = load_mmad(root / "mmad.json")
    qs = {image: questions_of(image, mm[image])}
    return image, list(plan_jobs(params, protocol, root, mm, {}, [image], qs, qs, {}))


def _flat(parts: list, image_mark: str) -> str:
    return "".join(image_mark if isinstance(p, ImagePart) else p for p in parts)


def test_internvl_and_minicpm_prompts_equal_the_scripts(tree):
    root, _, data = tree
    base = _gpt4v()
    for script, cls, family in (("evaluation/examples/Transformers/internvl_query.py",
                                 "InternVLQuery", "internvl"),
                                ("evaluation/examples/Transformers/minicpm_query.py",
                                 "MiniCPMQuery", "minicpm")):
        ns = load_definitions(script, {cls}, base={"GPT4Query": base["GPT4Query"],
                                                   "instruction": base["instruction"]})
        image, jobs = _asks(root, family, data)
        template = str(root / data[image]["random_templates"][0])
        query = ns[cls](image_path=str(root / image), text_gt=data[image], tokenizer=None,
                        model=None, few_shot=[template])
        questions, _ = query.parse_conversation(data[image])
        assert len(jobs) == len(questions)
        for job, q in zip(jobs, questions):
            payload, conversation = query.get_query([q])
            [message] = job.messages()
            if family == "internvl":
                assert _flat(message.parts, "<image>") == payload + conversation
            else:  # MiniCPM: the images (template, query), then the text
                assert [type(p) for p in message.parts] == [ImagePart, ImagePart, str]
                assert message.parts[-1] == payload + conversation
            images = [p.source for p in message.parts if isinstance(p, ImagePart)]
            assert images == [template, str(root / image)]


def test_qwen_prompts_equal_the_scripts(tree):
    root, _, data = tree
    base = _gpt4v()
    for script, family in (("evaluation/examples/Transformers/qwen2_5_vl_query.py", "qwen"),
                           ("evaluation/examples/Transformers/qwen_query.py", "qwen-vl")):
        ns = load_definitions(script, {"QwenQuery"}, imports=SCRIPT_IMPORTS,
                              base={"GPT4Query": base["GPT4Query"], "instruction": base["instruction"]})
        image, jobs = _asks(root, family, data)
        query = ns["QwenQuery"](image_path=str(root / image), text_gt=data[image],
                                processor=None, model=None,
                                few_shot=[str(root / data[image]["random_templates"][0])]) \
            if family == "qwen" else \
            ns["QwenQuery"](image_path=str(root / image), text_gt=data[image], tokenizer=None,
                            model=None, few_shot=[str(root / data[image]["random_templates"][0])])
        # gpt4v's parse_conversation numbers the questions; the Qwen2.5-VL script asks for them
        # unnumbered (add_question_id=False, an argument the published gpt4v.py lacks)
        questions, _ = base["GPT4Query"].parse_conversation(query, data[image])
        if family == "qwen":
            questions = [{**q, "text": re.sub(r"^Question \d+:", "Question:", q["text"])}
                         for q in questions]
        for job, q in zip(jobs, questions):
            official = [("image", c["image"]) if "image" in c else ("text", c["text"])
                        for c in query.get_query([q])]
            [message] = job.messages()
            ours = [("image", p.source) if isinstance(p, ImagePart) else ("text", p)
                    for p in message.parts]
            assert ours == official


class _Captured(Exception):
    pass


def _llava_namespace(script: str, conv_mode: str, base: dict[str, Any]) -> dict[str, Any]:
    """The script's class with LLaVA's conversation template and tokenizer replaced by a
    recorder: ``get_query`` stops where the prompt is tokenized, handing over the user turn."""
    def tokenizer_image_token(prompt: str, *args: Any, **kwargs: Any) -> Any:
        raise _Captured(prompt)

    args = types.SimpleNamespace(single_pred_prompt=False, lang="en", conv_mode=conv_mode,
                                 text_only=False, CoT=False, record_history=False)
    return load_definitions(script, {"LLaVAQuery" if "LLaVA" in script else "CambrianQuery"},
                            imports=SCRIPT_IMPORTS,
                            base={"GPT4Query": base["GPT4Query"], "instruction": base["instruction"],
                                  "DEFAULT_IMAGE_TOKEN": "<image>", "IMAGE_TOKEN_INDEX": -200,
                                  "conv_templates": {conv_mode: LlavaConversation()},
                                  "tokenizer_image_token": tokenizer_image_token, "args": args})


@pytest.mark.parametrize("script,cls,family,conv", [
    ("evaluation/examples/LLaVA_Query/llava_query.py", "LLaVAQuery", "llava", "llava_v1"),
    ("evaluation/examples/Cambrian_Query/cambrian_query.py", "CambrianQuery", "cambrian", "llama_3")])
def test_llava_and_cambrian_prompts_equal_the_scripts(tree, script, cls, family, conv):
    root, _, data = tree
    ns = _llava_namespace(script, conv, _gpt4v())
    image, jobs = _asks(root, family, data)
    query = ns[cls](image_path=str(root / image), text_gt=data[image], tokenizer=None, model=None,
                    image_processor=None, context_len=0,
                    few_shot=[str(root / data[image]["random_templates"][0])],
                    args=ns["args"])
    for job in jobs:
        [target] = job.ask.targets
        shown = job.ask.presented[target.index]
        # the script's question dict for the options as adlab presented them (its own shuffle
        # is unseeded): the text, the options and the remapped answer key
        official_q = {"text": f"{shown.text} \n" + "".join(f"{k}. {v}\n" for k, v in shown.options.items()),
                      "options": shown.options}
        with pytest.raises(_Captured) as captured:
            query.get_query([official_q], [])
        [*system, user] = job.messages()
        assert _flat(user.parts, "<image>\n") == str(captured.value)
        assert [m.role for m in system] == (["system"] if family == "llava" else [])
    # the scripts' shuffle keeps each option's text with its answer key, as with_options does
    questions, answers = query.parse_conversation(data[image])
    for q, key, qa in zip(questions, answers, data[image]["conversation"]):
        assert q["options"][key] == qa["Options"][qa["Answer"]]
