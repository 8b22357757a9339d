"""Protocol ``official`` for the local (transformers) families, asserted at the processor's
inputs: the prompt text the chat template renders, the images in order and their sizes, the
processed image grid and the generation arguments, on tiny random-weight checkpoints
(Qwen2.5-VL and LLaVA architectures, built offline). The expected prompts are written out here
from MMAD's scripts; the tiny chat templates render each content item in order (an image as
the model's image token), so the rendered user turn is the script's prompt."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from adlab.pipelines.mmad.clients import Completion, make_client
from adlab.pipelines.mmad.data import load_mmad, questions_of
from adlab.pipelines.mmad.engine import plan_jobs, run_protocol
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.registry import resolve_llm
from mmad_tiny_vlms import build_tiny_llava, build_tiny_qwen

pytest.importorskip("torch")
pytest.importorskip("torchvision")

# evaluation/examples/GPT4/gpt4v.py `instruction`
INSTR_V = ("\nYou are an industrial inspector who checks products by images. You should judge "
           "whether there is a defect in the query image and answer the questions about it.\n"
           "Answer with the option's letter from the given choices directly.\n")
VISION = "<|vision_start|><|image_pad|><|vision_end|>"
LLAVA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. The "
                "assistant gives helpful, detailed, and polite answers to the human's questions.")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny")
    return {"qwen": build_tiny_qwen(base / "qwen"), "llava": build_tiny_llava(base / "llava")}


def _opts(options: dict) -> str:
    return "".join(f"{k}. {v}\n" for k, v in options.items())


def _prepared(root: Path, model: Path, family: str, **eval_):
    """(client, [(question record, rendered prompt, images)]) for the first image."""
    params = MmadParams.model_validate({"llm": str(model), "family": family, "data_root": str(root),
                                        "eval": {"few_shot": 1, **eval_}})
    entry = resolve_llm(params.llm)
    protocol, label = run_protocol(params, entry)
    assert label == f"official {family}"
    data = load_mmad(root / "mmad.json")
    image = next(iter(data))
    qs = {image: questions_of(image, data[image])}
    client = make_client(entry, params, "cpu")
    out = []
    for job in plan_jobs(params, protocol, root, data, {}, [image], qs, qs, {}):
        texts, images = client.prepare([job.messages()])
        out.append((job, texts[0], images))
    return client, data[image], image, out


def test_qwen25_vl_prompt_images_and_pixel_bounds(mmad_tree, tiny):
    root, _ = mmad_tree
    client, record, image, prepared = _prepared(root, tiny["qwen"], "qwen")
    assert len(prepared) == len(record["conversation"])  # one request per question
    for (_job, text, images), qa in zip(prepared, record["conversation"]):
        user = (INSTR_V + "Answer with the option's letter from the given choices directly! "
                + "Following is/are 1 image of normal sample, which can be used as a template to "
                  "compare the image being queried." + VISION + "Following is the query image: "
                + VISION + "Following is the question list: "
                + f"Question: {qa['Question']} \n{_opts(qa['Options'])}")
        assert text == f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
        # qwen_vl_utils rounds 64x48 to 56x56; the processor's min_pixels=64*28*28 enlarges it
        assert [im.size for im in images] == [(56, 56), (56, 56)]
        grid = client.processor(text=[text], images=images, return_tensors="pt")["image_grid_thw"]
        assert grid.tolist() == [[1, 16, 16], [1, 16, 16]]
    assert client.generation_kwargs() == {"max_new_tokens": 128}  # the checkpoint's sampling
    [completion] = client.complete_batch([prepared[0][0].messages()])
    assert completion.tokens_in > 0


def test_llava_prompt_shuffled_options_and_sampling(mmad_tree, tiny):
    root, _ = mmad_tree
    client, record, image, prepared = _prepared(root, tiny["llava"], "llava")
    for (job, text, images), (i, qa) in zip(prepared, enumerate(record["conversation"])):
        letters = list(qa["Options"])
        random.Random(f"42|{image}|{i}").shuffle(letters)
        shown = {chr(65 + n): qa["Options"][old] for n, old in enumerate(letters)}
        user = (INSTR_V + "\n" + "Following is 1 image of normal sample:" + "<image>\n"
                + "Test image: \n" + "<image>\n" + "Following is new question list: \n"
                + f"{qa['Question']} \n{_opts(shown)}")
        # (transformers renders templates with trim_blocks: the tiny template's newlines go)
        assert text == f"SYSTEM: {LLAVA_SYSTEM}USER: {user}ASSISTANT:"
        assert [im.size for im in images] == [(512, 384), (512, 384)]  # fit 512, enlarged
        [ask_target] = job.ask.targets
        assert job.ask.presented[ask_target.index].answer == chr(65 + letters.index(qa["Answer"]))
        # stored in mmad.json's letters: "B" as shown is the option originally at letters[1]
        [rec] = job.answers(Completion(text="B. " + shown["B"]))
        assert (rec["parsed"], rec["parsed_shown"], rec["correct_answer"]) == \
            (letters[1], "B", qa["Answer"])
        assert rec["option_order"] == "".join(letters) and rec["rule"] == "official:first"
    assert client.generation_kwargs() == {"max_new_tokens": 64, "do_sample": True,
                                          "temperature": 0.2}


def test_cambrian_prompt_suffix_and_no_system(mmad_tree, tiny):
    root, _ = mmad_tree
    client, record, image, prepared = _prepared(root, tiny["llava"], "cambrian")
    _, text, _ = prepared[0]
    assert text.startswith("USER: " + INSTR_V + "\nFollowing is 1 image of normal sample:<image>\n")
    assert text.endswith("\nAnswer with the letter.ASSISTANT:")
    assert client.generation_kwargs()["max_new_tokens"] == 128


def test_internvl_prompt_and_448_tiles(mmad_tree, tiny):
    root, _ = mmad_tree
    client, record, image, prepared = _prepared(root, tiny["qwen"], "internvl")
    for (_job, text, images), (i, qa) in zip(prepared, enumerate(record["conversation"])):
        query = (INSTR_V + "Following is/are 1 image of normal sample, which can be used as a "
                 "template to compare the image being queried." + "\n" + " <image>\n" + "\n"
                 + "Following is the query image: " + "\n" + "<image> " + "\n"
                 + "Following is the question list. Answer with the option's letter from the "
                   "given choices directly: " + "\n"
                 + f"Question {i + 1}: {qa['Question']} \n{_opts(qa['Options'])}" + "\n")
        user = query.replace("<image>", VISION)
        assert text == f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
        assert [im.size for im in images] == [(448, 448), (448, 448)]
    assert client.generation_kwargs() == {"max_new_tokens": 128, "do_sample": False}


def test_minicpm_images_first_original_size(mmad_tree, tiny):
    root, _ = mmad_tree
    client, record, image, prepared = _prepared(root, tiny["qwen"], "minicpm")
    _, text, images = prepared[1]
    qa = record["conversation"][1]
    user = (VISION + VISION + INSTR_V + "Image 1 is a normal sample, which can be used as a "
            "template to compare the image being queried." + "\n"
            + "The last image is the query image: " + "Following is the question list. Answer "
              "with the option's letter from the given choices directly: " + "\n"
            + f"Question 2: {qa['Question']} \n{_opts(qa['Options'])}" + "\n")
    assert text == f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    assert [im.size for im in images] == [(64, 48), (64, 48)]


def test_domain_knowledge_and_marked_image(mmad_tree, tiny, tmp_path):
    """``domain_knowledge: true`` reads a file shaped like MMAD's; the Expert Agent's image is
    the query image with the AD box drawn in red, after the query image (InternVL's script)."""
    root, _ = mmad_tree
    knowledge = {"DS-A": {"bottle": {"crack": "A crack is a thin dark line.",
                                     "normal": "A round bottle, even grey."}}}
    path = tmp_path / "dk.json"
    path.write_text(json.dumps(knowledge))
    data = load_mmad(root / "mmad.json")
    image = next(iter(data))
    params = MmadParams.model_validate({
        "llm": str(tiny["qwen"]), "family": "internvl", "data_root": str(root),
        "eval": {"few_shot": 1, "domain_knowledge": True, "domain_knowledge_path": str(path)},
        "ad": {"findings": "image"}})
    entry = resolve_llm(params.llm)
    protocol, _ = run_protocol(params, entry)
    qs = {image: questions_of(image, data[image])}
    record = {"image_path": image, "anomaly_score": 0.9, "is_anomaly": True,
              "defect_location": {"has_defect": True, "bbox": [10, 8, 30, 20], "region": "center"}}
    [job, *_] = plan_jobs(params, protocol, root, data, {image: record}, [image], qs, qs, {})
    client = make_client(entry, params, "cpu")
    [text], images = client.prepare([job.messages()])
    assert ("Following is the domain knowledge which contains some type of defect and the normal "
            "object characteristics: \n A crack is a thin dark line.\nA round bottle, even grey."
            "Following is/are 1 image") in text
    assert ("<image> ".replace("<image>", VISION) + "Following is the reference image where some "
            "suspicious areas are marked by red bounding boxes.") in text
    assert len(images) == 3 and images[2].size == (448, 448)
    marked = images[2].resize((64, 48))
    assert marked.getpixel((20, 8))[0] > 200 and marked.getpixel((20, 8))[1] < 80  # red edge
