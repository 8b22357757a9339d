"""MMAD's prompt options (``eval.cot``, ``eval.text_only``, ``eval.record_history``,
``eval.defect_shot``: the scripts' ``--CoT``, ``--text_only``, ``--record_history``,
``--defect_shot``) against the official scripts' own code, read from a jam-cc/MMAD checkout
(``MMAD_OFFICIAL_ROOT``, see ``tests/mmad_official``; skipped without one; no copy of that
code is shipped, the repository has no licence).

adlab's requests are the ones a real loopback server received from a whole run; the
official ones come from the family script's own ``generate_answer`` (its prompt building, its
history keeping, its reading of replies) with the model replaced by a recorder that answers as
the loopback server does: the model is the only part that is not run. Also here: the refusals
of an option a family's script does not take, and a run with options through the real queue
and worker whose scores equal the official ``summary.py`` on its answers.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import random
import types
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from PIL import Image

from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.mmad.data import questions_of
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.protocol.inputs import defect_shots
from adlab.pipelines.mmad.run import run
from mmad_builders import make_mmad
from mmad_official.llava_stubs import LlavaConversation
from mmad_loopback import LoopbackServer, Script

SCRIPT_IMPORTS = frozenset({"cv2", "base64", "requests", "time"})
LLAVA_FILE = "evaluation/examples/LLaVA_Query/llava_query.py"
CAMBRIAN_FILE = "evaluation/examples/Cambrian_Query/cambrian_query.py"
INTERNVL_FILE = "evaluation/examples/Transformers/internvl_query.py"
MINICPM_FILE = "evaluation/examples/Transformers/minicpm_query.py"
QWEN_VL_FILE = "evaluation/examples/Transformers/qwen_query.py"


def _official() -> Any:
    pytest.importorskip("cv2")
    import mmad_official
    return mmad_official


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "MMAD"
    _, truth = make_mmad(root)
    data = json.loads((root / "mmad.json").read_text())
    return root, truth, data, next(iter(data))


def _ours(root: Path, server: LoopbackServer, tmp: Path, family: str, eval_: dict,
          monkeypatch) -> tuple[LocalRunContext, list[dict]]:
    """A whole adlab run on the first image against the loopback server: its requests."""
    monkeypatch.setenv("OPENAI_API_KEY", "key-for-tests-only")
    params = MmadParams.model_validate({
        "llm": "some/local-model", "family": family, "data_root": str(root),
        "eval": {"few_shot": 1, "max_images": 1, **eval_},
        "api": {"base_url": server.url + "/v1", "provider": "openai", "concurrency": 1}})
    ctx = LocalRunContext(params=params, output_dir=tmp / "out")
    run(ctx)
    return ctx, [body for _, body in server.bodies]


def _size(url: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(url.split(";base64,", 1)[1]))) as im:
        return im.size


def _turns(body: dict) -> list[tuple[str, list[tuple[str, Any]]]]:
    """A chat-completions body as (role, [("text", str) | ("image", size)]) turns."""
    out = []
    for m in body["messages"]:
        content = m["content"]
        items = [("text", content)] if isinstance(content, str) else [
            ("text", c["text"]) if c["type"] == "text" else ("image", _size(c["image_url"]["url"]))
            for c in content]
        out.append((m["role"], items))
    return out


def _flat(items: list[tuple[str, Any]], mark: str) -> str:
    return "".join(mark if kind == "image" else value for kind, value in items)


def _images(turns: list) -> int:
    return sum(kind == "image" for _, items in turns for kind, _ in items)


def _answers(ctx: LocalRunContext) -> list[dict]:
    return sorted(ctx.state.items("answer:").values(), key=lambda r: r["index"])


class _Stub:
    """What the scripts move to the GPU (input ids, image tensors): every method returns it;
    ``value`` carries the prompt or the reply through the recorder."""

    def __init__(self, value: Any = None) -> None:
        self.value = value
        self.shape = (1,)

    def __getattr__(self, name: str) -> Callable[..., "_Stub"]:
        return lambda *args, **kwargs: self


class _Orders:
    """``random`` for the LLaVA/Cambrian scripts: their unseeded ``random.shuffle`` of each
    question's options replaced by the order adlab showed (seeded per question)."""

    def __init__(self, image: str, record: dict, seed: int = 42) -> None:
        self.orders = []
        for q in questions_of(image, record):
            letters = list(q.options)
            random.Random(f"{seed}|{q.image}|{q.index}").shuffle(letters)
            self.orders.append(letters)

    def shuffle(self, items: list) -> None:
        order = self.orders.pop(0)
        items.sort(key=lambda kv: order.index(kv[0]))


def _gpt4v(off: Any) -> dict[str, Any]:
    return off.load_definitions(off.PARSER_FILE, {"GPT4Query"},
                                assigns=frozenset({"instruction", "api"}),
                                imports=SCRIPT_IMPORTS | {"random"})


# -- LLaVA and Cambrian: --CoT, --text_only, --record_history ---------------------------------

def _llava_script(off: Any, script: str, conv_mode: str, flags: dict, reply: Callable[[str], str],
                  orders: _Orders) -> tuple[type, types.SimpleNamespace, Any, list]:
    """The script's query class, its ``args``, the recorder model and its log of
    ``(prompt, images sent, max_new_tokens)`` per ``model.generate`` call."""
    base = _gpt4v(off)
    calls: list[tuple[str, int, int]] = []

    class Model:
        def generate(self, input_ids: _Stub, images: Any = None, max_new_tokens: int = 0,
                     **kwargs: Any) -> _Stub:
            calls.append((input_ids.value, 0 if images is None else len(images), max_new_tokens))
            return _Stub(reply(input_ids.value))

    args = types.SimpleNamespace(single_pred_prompt=False, lang="en", conv_mode=conv_mode,
                                 temperature=0.2, top_p=None, num_beams=1, **flags)
    ns = off.load_definitions(
        script, {"LLaVAQuery" if "LLaVA" in script else "CambrianQuery"}, imports=SCRIPT_IMPORTS,
        base={"GPT4Query": base["GPT4Query"], "instruction": base["instruction"],
              "DEFAULT_IMAGE_TOKEN": "<image>", "IMAGE_TOKEN_INDEX": -200,
              "conv_templates": {conv_mode: LlavaConversation()}, "random": orders,
              "tokenizer_image_token": lambda prompt, *a, **k: _Stub(prompt),
              "process_images": lambda images, *a, **k: [_Stub() for _ in images],
              "load_image_from_base64": lambda data: Image.open(io.BytesIO(base64.b64decode(data))),
              "torch": types.SimpleNamespace(inference_mode=contextlib.nullcontext),
              "args": args})
    cls = ns["LLaVAQuery" if "LLaVA" in script else "CambrianQuery"]
    return cls, args, Model(), calls


class _Tokenizer:
    def batch_decode(self, ids: _Stub, **kwargs: Any) -> list[str]:
        return [ids.value]


class _Processor:  # no `forward`: the LLaVA script calls preprocess
    def preprocess(self, images: list, return_tensors: Any = None) -> dict:
        return {"pixel_values": [_Stub() for _ in images]}


LLAVA_CASES = [(family, flags) for family in ("llava", "cambrian") for flags in (
    {"CoT": True}, {"text_only": True}, {"record_history": True},
    {"CoT": True, "record_history": True}, {"CoT": True, "text_only": True})]


@pytest.mark.parametrize("family,flags", LLAVA_CASES)
def test_llava_and_cambrian_options_equal_the_scripts(tree, tmp_path, monkeypatch, family, flags):
    off = _official()
    root, truth, data, image = tree
    eval_ = {"cot": flags.get("CoT", False), "text_only": flags.get("text_only", False),
             "record_history": flags.get("record_history", False)}
    with LoopbackServer(Script(answers=truth, last_question=True)) as server:
        ctx, bodies = _ours(root, server, tmp_path, family, eval_, monkeypatch)
        script = LLAVA_FILE if family == "llava" else CAMBRIAN_FILE
        cls, args, model, calls = _llava_script(
            off, script, "llava_v1" if family == "llava" else "llama_3",
            {"CoT": False, "text_only": False, "record_history": False, **flags},
            server.reply_for, _Orders(image, data[image]))
        query = cls(image_path=str(root / image), text_gt=data[image], tokenizer=_Tokenizer(),
                    model=model, image_processor=_Processor(), context_len=0,
                    few_shot=[str(root / data[image]["random_templates"][0])], args=args)
        _, _, official_answers = query.generate_answer()
    n = len(data[image]["conversation"])
    assert len(bodies) == len(calls) == n + (1 if flags.get("CoT") else 0)
    for body, (prompt, n_images, max_new) in zip(bodies, calls):
        turns = _turns(body)
        roles = [role for role, _ in turns]
        assert roles == (["system", "user"] if family == "llava" else ["user"])
        assert _flat(turns[-1][1], "<image>\n") == prompt
        assert _images(turns) == n_images == (0 if flags.get("text_only") else 2)
        assert body["max_tokens"] == max_new
    answers = _answers(ctx)
    assert [r["parsed_shown"] for r in answers] == official_answers
    if flags.get("CoT"):  # the chain-of-thought reply is kept with every answer
        assert {r["cot"] for r in answers} == {"I see no question."}


# -- InternVL: --CoT, --record_history, --defect_shot -----------------------------------------

def _chat_recorder(calls: list, reply: Callable[[str], str]) -> Any:
    """InternVL's ``model.chat`` as far as the script sees it: a question without ``<image>``
    and without history gets one prefixed; the history list it is given is appended to and
    returned (``history.append((question, response))``)."""
    class Model:
        def chat(self, tokenizer: Any, pixel_values: Any, question: str, generation_config: dict,
                 num_patches_list: Any = None, history: Any = None,
                 return_history: bool = False) -> Any:
            if history is None and pixel_values is not None and "<image>" not in question:
                question = "<image>\n" + question
            history = [] if history is None else history
            calls.append((list(history), question, len(num_patches_list),
                          generation_config["max_new_tokens"], generation_config["do_sample"]))
            response = reply(question)
            history.append((question, response))
            return (response, history) if return_history else response
    return Model()


INTERNVL_CASES = [{"CoT": True}, {"record_history": True}, {"defect_shot": 2},
                  {"CoT": True, "record_history": True, "defect_shot": 1}]


@pytest.mark.parametrize("flags", INTERNVL_CASES)
def test_internvl_options_equal_the_script(tree, tmp_path, monkeypatch, flags):
    off = _official()
    root, truth, data, image = tree
    eval_ = {"cot": flags.get("CoT", False), "record_history": flags.get("record_history", False),
             "defect_shot": flags.get("defect_shot", 0)}
    base = _gpt4v(off)
    calls: list = []
    with LoopbackServer(Script(answers=truth)) as server:
        ctx, bodies = _ours(root, server, tmp_path, "internvl", eval_, monkeypatch)
        args = types.SimpleNamespace(record_history=eval_["record_history"], agent_model="GT",
                                     agent_notation="bbox")
        ns = off.load_definitions(INTERNVL_FILE, {"InternVLQuery"}, base={
            "GPT4Query": base["GPT4Query"], "instruction": base["instruction"], "args": args,
            "model": _chat_recorder(calls, server.reply_for), "tokenizer": None,
            "load_image": lambda path, max_num=12: _Stub(path),
            "torch": types.SimpleNamespace(bfloat16=None, cat=lambda xs, dim=0: list(xs))})
        defects = defect_shots(data, image, eval_["defect_shot"], 42)
        assert len(defects) == eval_["defect_shot"]
        assert all("/good/" not in d and d.split("/")[:2] == image.split("/")[:2] for d in defects)
        query = ns["InternVLQuery"](
            image_path=str(root / image), text_gt=data[image], tokenizer=None, model=None,
            few_shot=[str(root / data[image]["random_templates"][0])], CoT=flags.get("CoT"),
            defect_shot=[str(root / d) for d in defects], args=args)
        _, _, official_answers = query.generate_answer()
    n = len(data[image]["conversation"])
    assert len(bodies) == len(calls) == n + (1 if flags.get("CoT") else 0)
    for body, (history, question, n_images, max_new, sample) in zip(bodies, calls):
        turns = _turns(body)
        expected = [t for q, a in history for t in (("user", q), ("assistant", a))]
        assert [(role, _flat(items, "<image>")) for role, items in turns] == \
            expected + [("user", question)]
        # the images fill the first turn's markers; later turns keep them as text
        assert _images(turns) == n_images == 2 + eval_["defect_shot"]
        assert sum(kind == "image" for kind, _ in turns[0][1]) == n_images
        assert body["max_tokens"] == max_new and body["temperature"] == 0.0 and not sample
    assert [r["parsed"] for r in _answers(ctx)] == official_answers


# -- MiniCPM and Qwen-VL: --record_history ----------------------------------------------------

def test_minicpm_record_history_equals_the_script(tree, tmp_path, monkeypatch):
    off = _official()
    root, truth, data, image = tree
    base = _gpt4v(off)
    calls: list = []

    class Model:  # MiniCPM-V's model.chat: one user message, images then the text
        def chat(self, image: Any, msgs: list, tokenizer: Any) -> str:
            [msg] = msgs
            *images, text = msg["content"]
            calls.append((len(images), text))
            return server.reply_for(text)

    with LoopbackServer(Script(answers=truth, last_question=True)) as server:
        ctx, bodies = _ours(root, server, tmp_path, "minicpm", {"record_history": True},
                            monkeypatch)
        ns = off.load_definitions(MINICPM_FILE, {"MiniCPMQuery"}, base={
            "GPT4Query": base["GPT4Query"], "instruction": base["instruction"], "Image": Image,
            "args": types.SimpleNamespace(record_history=True)})
        query = ns["MiniCPMQuery"](image_path=str(root / image), text_gt=data[image],
                                   tokenizer=None, model=Model(),
                                   few_shot=[str(root / data[image]["random_templates"][0])])
        _, _, official_answers = query.generate_answer()
    assert len(bodies) == len(calls) == len(data[image]["conversation"])
    for i, (body, (n_images, text)) in enumerate(zip(bodies, calls)):
        [(role, items)] = _turns(body)
        assert [kind for kind, _ in items] == ["image"] * n_images + ["text"]
        assert items[-1][1] == text
        assert text.count("Question ") == i + 1  # the earlier questions ride along
    assert [r["parsed"] for r in _answers(ctx)] == official_answers


def test_qwen_vl_record_history_equals_the_script(tree, tmp_path, monkeypatch):
    off = _official()
    root, truth, data, image = tree
    base = _gpt4v(off)
    calls: list = []

    class Tokenizer:  # Qwen-VL-Chat's from_list_format, keeping the list it was given
        def from_list_format(self, items: list) -> Any:
            text, pictures = "", 0
            for ele in items:
                if "image" in ele:
                    pictures += 1
                    text += f"Picture {pictures}: <img>{ele['image']}</img>\n"
                elif "text" in ele:
                    text += ele["text"]
            return text, [("image", None) if "image" in e else ("text", e["text"]) for e in items]

    class Model:  # Qwen-VL-Chat's model.chat: returns the history with the new turn
        def chat(self, tokenizer: Any, query: Any, history: Any = None) -> Any:
            text, items = query
            calls.append(([(q[1], a) for q, a in (history or [])], items))
            response = server.reply_for(text)
            return response, [*(history or []), (query, response)]

    with LoopbackServer(Script(answers=truth)) as server:
        ctx, bodies = _ours(root, server, tmp_path, "qwen-vl", {"record_history": True},
                            monkeypatch)
        tokenizer = Tokenizer()
        ns = off.load_definitions(QWEN_VL_FILE, {"QwenQuery"}, imports=SCRIPT_IMPORTS | {"logging"},
                                  base={"GPT4Query": base["GPT4Query"],
                                        "instruction": base["instruction"], "tokenizer": tokenizer})
        query = ns["QwenQuery"](image_path=str(root / image), text_gt=data[image],
                                tokenizer=tokenizer, model=Model(),
                                few_shot=[str(root / data[image]["random_templates"][0])],
                                args=types.SimpleNamespace(record_history=True))
        _, _, official_answers = query.generate_answer()

    def shape(items: list) -> list:
        return [("image", None) if kind == "image" else ("text", value) for kind, value in items]
    assert len(bodies) == len(calls) == len(data[image]["conversation"])
    for body, (history, items) in zip(bodies, calls):
        turns = _turns(body)
        expected = [t for q, a in history for t in (("user", q), ("assistant", [("text", a)]))]
        assert [(role, shape(its)) for role, its in turns] == expected + [("user", items)]
    assert [r["parsed"] for r in _answers(ctx)] == official_answers


# -- queue-time refusals ----------------------------------------------------------------------

@pytest.mark.parametrize("family,field,value,supported", [
    ("gpt4o", "cot", True, "llava, cambrian and internvl"),
    ("gemini", "text_only", True, "llava and cambrian"),
    ("qwen", "record_history", True, "llava, cambrian, internvl, minicpm and qwen-vl"),
    ("llava", "defect_shot", 2, "internvl")])
def test_an_option_the_family_script_lacks_is_refused_at_queue_time(cli, mmad_tree, tmp_path,
                                                                    family, field, value,
                                                                    supported):
    root, _ = mmad_tree
    config = {"pipeline": "mmad", "llm": "some/model", "family": family, "data_root": str(root),
              "api": {"base_url": "http://127.0.0.1:9/v1", "provider": "openai"},
              "eval": {field: value}}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = cli("queue", str(path), "--json")
    assert proc.returncode == 1
    assert f"eval.{field}" in proc.stderr and f"the {family} family" in proc.stderr
    assert f"only the {supported} scripts support it" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_options_are_refused_under_protocol_adlab_and_with_text_only_conflicts():
    with pytest.raises(ValueError, match="eval.cot is MMAD's --CoT of protocol official"):
        MmadParams.model_validate({"llm": "llava", "protocol": "adlab", "eval": {"cot": True}})
    with pytest.raises(ValueError, match="ad.findings: image cannot be combined with "
                                         "eval.text_only"):
        MmadParams.model_validate({"llm": "llava", "ad_model": "patchcore",
                                   "eval": {"text_only": True}, "ad": {"findings": "image"}})


def test_options_split_the_partition_and_name_the_answers_file():
    from adlab.core.grouping import partition_hash
    from adlab.core.values import flatten
    from adlab.pipelines.mmad.answers import answers_filename, option_suffixes
    from adlab.pipelines.mmad.spec import SPEC

    plain = MmadParams.model_validate({"llm": "internvl"})
    hashes = {partition_hash("mmad", flatten(plain.model_dump(mode="json")), SPEC.partition_keys)}
    for eval_ in ({"cot": True}, {"record_history": True}, {"defect_shot": 1}):
        p = MmadParams.model_validate({"llm": "internvl", "eval": eval_})
        hashes.add(partition_hash("mmad", flatten(p.model_dump(mode="json")), SPEC.partition_keys))
    hashes.add(partition_hash("mmad", flatten(MmadParams.model_validate(
        {"llm": "llava", "eval": {"text_only": True}}).model_dump(mode="json")),
        SPEC.partition_keys))
    assert len(hashes) == 5
    p = MmadParams.model_validate({"llm": "internvl", "eval": {"cot": True, "defect_shot": 2}})
    assert answers_filename(1, "internvl", False, None, option_suffixes(p.eval)) == \
        "answers_1_shot_internvl_Random_template_CoT_2_defect_shot.json"


# -- through the real queue and worker --------------------------------------------------------

E2E = [("internvl", {"cot": True, "record_history": True, "defect_shot": 1}),
       ("llava", {"cot": True, "text_only": True}),
       ("minicpm", {"record_history": True})]


@pytest.mark.slow
def test_runs_with_options_through_queue_and_worker_score_as_summary_py(cli, engine, tmp_path):
    from adlab.db.queries import get_run, run_artifacts, run_metrics
    from adlab.metrics.mmad import score_answers
    from lab_helpers import start_worker

    root = tmp_path / "MMAD"
    _, truth = make_mmad(root, {"DS-A": {"bottle": {"good": 2, "crack": 3}},
                                "DS-B": {"can": {"good": 2, "dent": 2}}})
    # some wrong and some unreadable replies, so the scores and summary.py's drops matter
    questions = sorted(truth)
    replies = {q: ("I cannot tell." if i % 5 == 0 else
                   f"Answer: {'A' if truth[q] != 'A' else 'B'}." if i % 3 == 0 else
                   f"Answer: {truth[q]}.") for i, q in enumerate(questions)}
    with LoopbackServer(Script(answers=truth, replies=replies, last_question=True)) as server:
        ids = []
        for family, eval_ in E2E:
            path = tmp_path / f"{family}.yaml"
            path.write_text(yaml.safe_dump({
                "pipeline": "mmad", "llm": "some/local-model", "family": family,
                "data_root": str(root), "eval": {"few_shot": 1, **eval_},
                "api": {"base_url": server.url + "/v1", "provider": "openai", "concurrency": 2,
                        "backoff_s": 0.05}}))
            ids += json.loads(cli("queue", str(path), "--json", check=True).stdout)["created"]
        worker = start_worker("--until-empty", env={"OPENAI_API_KEY": "k-test"})
        worker.wait(timeout=300)
        assert worker.returncode == 0, worker.stderr.read()
        cot_requests = [r for r in server.requests() if not r.questions]
    assert len(cot_requests) == 2 * 9  # internvl and llava: one per image
    summary = None
    if os.environ.get("MMAD_OFFICIAL_ROOT"):
        off = _official()
        summary = off.load_definitions(off.SUMMARY_FILE, {"caculate_accuracy_mmad"})[
            "caculate_accuracy_mmad"]
    for rid, (family, eval_) in zip(ids, E2E):
        run_ = get_run(engine, run_id=rid)
        assert run_.status == "succeeded", run_.error
        stored = json.loads(run_.config_json)  # the options are recorded with the run
        assert all(stored["eval"][k] == v for k, v in eval_.items()), stored
        metrics = {(m["key"], m["scope"]): m["value"] for m in run_metrics(engine, run_id=rid)}
        assert metrics[("errors", "")] == 0 and metrics[("questions", "")] == len(truth)
        path = next(Path(a["path"]) for a in run_artifacts(engine, run_id=rid)
                    if a["kind"] == "answers")
        path = path if path.is_absolute() else Path(os.environ["ADLAB_ARTIFACTS"]) / path
        assert "_CoT" in path.name or "_Record_history" in path.name
        records = json.loads(path.read_text())
        ours = score_answers(records, protocol="official")
        assert 0 < metrics[("accuracy_official", "")] < 100
        assert metrics[("accuracy_official", "")] == pytest.approx(ours["Average"]["Average"])
        assert metrics[("accuracy", "")] == pytest.approx(score_answers(records)["Average"]["Average"])
        if summary is not None:
            import matplotlib.pyplot as plt
            import pandas as pd

            copy = tmp_path / f"answers_{rid}.json"
            copy.write_text(json.dumps(records))
            summary(str(copy))
            plt.close("all")
            table = pd.read_csv(tmp_path / f"answers_{rid}_accuracy.csv", index_col=0)
            for dataset in table.index:
                for qtype in table.columns:
                    assert metrics[("accuracy_official", f"{dataset}/{qtype}")] == \
                        pytest.approx(table.at[dataset, qtype]), (family, dataset, qtype)


# -- without a checkout: the scripts' texts written out, and resuming a chain -----------------

INSTR_V = ("\nYou are an industrial inspector who checks products by images. You should judge "
           "whether there is a defect in the query image and answer the questions about it.\n"
           "Answer with the option's letter from the given choices directly.\n")
COT_LLAVA = ("Before answering the following questions, we need to understand the test image. \n"
             "First, identify the objects in the template image and imagine the possible types "
             "of defects. \nSecond, simply describe the differences between the test image with "
             "the template sample. \nThird, judge whether those differences are defect or "
             "normal. \n")


def _user_text(body: dict) -> str:
    return _flat(_turns(body)[-1][1], "<image>\n")


def test_option_prompts_as_the_scripts_write_them(tree, tmp_path, monkeypatch):
    root, truth, data, image = tree
    qa = data[image]["conversation"]
    with LoopbackServer(Script(answers=truth, last_question=True)) as server:
        _ours(root, server, tmp_path / "a", "llava", {"text_only": True, "cot": True}, monkeypatch)
        cot, first, *_ = [b for _, b in server.bodies]
        assert _user_text(cot) == ("Although you can not see the image. Answer with the option's "
                                   "letter from the given choices directly. \n"
                                   "Following is new question list: \n" + COT_LLAVA)
        assert cot["max_tokens"] == 512 and first["max_tokens"] == 64
        assert _user_text(first).startswith(
            "Although you can not see the image. Answer with the option's letter from the given "
            "choices directly. \nFollowings are the previous questions and answers: \n"
            + COT_LLAVA + "\nAnswer: I see no question.\nFollowing is new question list: \n"
            + qa[0]["Question"] + " \n")
        assert _images(_turns(first)) == 0

        server.bodies.clear()
        _ours(root, server, tmp_path / "b", "minicpm", {"record_history": True}, monkeypatch)
        second = _turns(server.bodies[1][1])[-1][1][-1][1]
        opts = "".join(f"{k}. {v}\n" for k, v in qa[0]["Options"].items())
        assert (f"directly: \nQuestion 1: {qa[0]['Question']} \n{opts}\n\n"
                f"Answer: {truth[qa[0]['Question']]}.\nQuestion 2: {qa[1]['Question']} \n") in second

        server.bodies.clear()
        _ours(root, server, tmp_path / "c", "qwen-vl", {"record_history": True}, monkeypatch)
        turns = _turns(server.bodies[1][1])
        assert [role for role, _ in turns] == ["user", "assistant", "user"]
        opts = "".join(f"{k}. {v}\n" for k, v in qa[1]["Options"].items())
        assert turns[2][1] == [("text", f"Question 2: {qa[1]['Question']} \n{opts}")]

        server.bodies.clear()
        _ours(root, server, tmp_path / "d", "internvl", {"defect_shot": 1}, monkeypatch)
        turns = _turns(server.bodies[0][1])
        text = _flat(turns[0][1], "<image>")
        assert (INSTR_V + "Following is/are 1 image of normal sample, which can be used as a "
                "template to compare the image being queried.\n <image>\nFollowing is/are 1 image "
                "of defect sample.\n <image>\n\nFollowing is the query image: \n<image> ") in text
        assert _images(turns) == 3


def test_a_resumed_chain_replays_stored_replies_and_the_chain_of_thought(tree, tmp_path,
                                                                         monkeypatch):
    """A failed request leaves the image's later questions unasked; the retry asks only those,
    with the stored replies (and the stored chain-of-thought reply) in their prompts."""
    root, truth, data, _ = tree
    image = list(data)[1]  # an image with four questions, alone in its mmad.json
    (root / "one.json").write_text(json.dumps({image: data[image]}))
    qa = data[image]["conversation"]
    assert len(qa) == 4
    monkeypatch.setenv("OPENAI_API_KEY", "key-for-tests-only")
    with LoopbackServer(Script(answers=truth, always_fail={qa[1]["Question"]: 400})) as server:
        params = MmadParams.model_validate({
            "llm": "some/local-model", "family": "internvl", "data_root": str(root),
            "mmad_json": str(root / "one.json"),
            "eval": {"few_shot": 1, "cot": True, "record_history": True, "error_budget": 1.0},
            "api": {"base_url": server.url + "/v1", "provider": "openai", "max_retries": 0}})
        ctx = LocalRunContext(params=params, output_dir=tmp_path / "out")
        run(ctx)
        first_try = _answers(ctx)
        assert first_try[0]["parsed"] == truth[qa[0]["Question"]] and not first_try[0].get("error")
        assert "400" in first_try[1]["error"]
        assert all(r["error"].startswith("not asked: the request of question 2") for r in first_try[2:])
        n_before = len(server.bodies)
        server.script.always_fail.clear()
        run(ctx)
        again = [b for _, b in server.bodies[n_before:]]
    assert len(again) == len(qa) - 1  # no second chain-of-thought request, question 1 kept
    turns = _turns(again[0])
    assert [role for role, _ in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[1][1] == [("text", "I see no question.")]
    assert turns[3][1] == [("text", first_try[0]["raw"])]
    assert all(r["parsed"] == truth[q["Question"]] for r, q in zip(_answers(ctx), qa))
    assert {r["cot"] for r in _answers(ctx)} == {"I see no question."}


def test_a_local_model_runs_the_internvl_chain_with_its_own_answer_lengths(tree, tmp_path):
    """A tiny random-weight checkpoint through the transformers client: every question answered
    within the run's answer length, each answer keeping the one chain-of-thought reply, and
    the client giving a request its own length (the chain-of-thought request's 256)."""
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from mmad_tiny_vlms import build_tiny_qwen

    root, _, data, image = tree
    model = build_tiny_qwen(tmp_path / "qwen")
    params = MmadParams.model_validate({
        "llm": str(model), "family": "internvl", "data_root": str(root),
        "eval": {"few_shot": 1, "max_images": 1, "cot": True, "max_tokens": 3}})
    ctx = LocalRunContext(params=params, output_dir=tmp_path / "out")
    run(ctx)
    answers = _answers(ctx)
    assert len(answers) == len(data[image]["conversation"])
    assert all(not r.get("error") and r["tokens_out"] <= 3 for r in answers)
    cot = answers[0]["cot"]
    assert isinstance(cot, str) and all(r["cot"] == cot for r in answers)
    from adlab.pipelines.mmad.clients import make_client
    from adlab.pipelines.mmad.registry import resolve_llm

    client = make_client(resolve_llm(params.llm), params, "cpu")
    assert client.generation_kwargs()["max_new_tokens"] == 3
    assert client.generation_kwargs(256)["max_new_tokens"] == 256
