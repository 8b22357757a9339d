"""The pieces protocol ``official`` prepares: image policies (sizes, labels, bytes), Qwen's
pixel rounding, LLaVA's option relabelling, MMAD's domain knowledge lookup, the Expert Agent's
marked image, and the params rules that go with the protocols."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from pydantic import ValidationError

from adlab.errors import ConfigError, NotFoundError
from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.protocol.base import ImagePolicy, with_options
from adlab.pipelines.mmad.protocol.inputs import knowledge_of, load_knowledge, marked_image
from adlab.pipelines.mmad.protocol.qwen import smart_resize


def _png(path, size=(64, 48)):
    Image.new("RGB", size, (120, 130, 140)).save(path)
    return path


def test_image_policies(tmp_path):
    path = _png(tmp_path / "a.png")
    fit = ImagePolicy("fit", mime="extension").load(path)
    assert fit.image.size == (512, 384) and fit.mime == "image/png" and fit.payload()[:2] == b"\xff\xd8"
    big = _png(tmp_path / "big.jpg", (1000, 400))
    assert ImagePolicy("fit", mime="jpeg").load(big).image.size == (512, 204)
    assert ImagePolicy("fit", mime="extension", mime_default="image/png").prepare(
        Image.new("RGB", (10, 10)), "x.bmp").mime == "image/png"
    square = ImagePolicy("square", (448, 448)).load(big)
    assert square.image.size == (448, 448) and square.payload()[:4] == b"\x89PNG"
    original = ImagePolicy("original").load(path)
    assert original.payload() == path.read_bytes() and original.image.size == (64, 48)
    shrink = ImagePolicy("shrink", (100, 100)).load(big)
    assert shrink.image.size == (100, 40) and shrink.quality == 90


def test_qwen_rounding():
    assert smart_resize(48, 64) == (56, 56)
    assert smart_resize(1024, 1024, max_pixels=1280 * 28 * 28) == (980, 980)
    assert smart_resize(56, 56, min_pixels=64 * 28 * 28, max_pixels=1280 * 28 * 28) == (224, 224)


def test_options_relabelled_with_their_answer_key():
    q = Question("i", 0, "Which?", {"A": "red", "B": "green", "C": "blue"}, "B", "t")
    shown = with_options(q, ["C", "B", "A"])
    assert shown.options == {"A": "blue", "B": "green", "C": "red"} and shown.answer == "B"
    assert with_options(q, ["B", "C", "A"]).answer == "A"


def test_domain_knowledge_lookup_and_its_errors(tmp_path):
    path = tmp_path / "domain_knowledge.json"
    path.write_text(json.dumps({"MVTec": {"bottle": {"a": "one.", "b": "two."}}}))
    data = load_knowledge(path)
    assert knowledge_of(data, "DS-MVTec/bottle/image/crack/000.png", path) == "one.\ntwo."
    assert knowledge_of(data, "MVTec/bottle/test/good/000.png", path) == "one.\ntwo."
    with pytest.raises(ConfigError, match="no domain knowledge for MVTec/screw"):
        knowledge_of(data, "MVTec/screw/test/good/000.png", path)
    with pytest.raises(NotFoundError, match="eval.domain_knowledge_path"):
        load_knowledge(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="is not MMAD's domain_knowledge.json"):
        load_knowledge(tmp_path / "bad.json")


def test_marked_image_draws_the_defect_box_in_red():
    img = Image.new("RGB", (64, 48), (200, 200, 200))
    marked = marked_image(img, {"defect_location": {"has_defect": True, "bbox": [10, 8, 30, 20]}})
    assert marked.getpixel((10, 14)) == (255, 0, 0) and marked.getpixel((20, 14)) == (200, 200, 200)
    assert marked_image(img, {"defect_location": {"has_defect": False}}).tobytes() == img.tobytes()
    buf = io.BytesIO()
    marked.save(buf, format="PNG")  # a real image, ready for any policy


def test_protocol_params_rules():
    official = MmadParams.model_validate({"llm": "llava"})
    assert official.protocol == "official" and official.eval.similar_template is False
    assert (official.eval.max_tokens, official.eval.temperature) == (64, 0.2)
    adlab = MmadParams.model_validate({"llm": "llava", "protocol": "adlab"})
    assert adlab.eval.similar_template is True and (adlab.eval.max_tokens, adlab.eval.temperature) == (200, 0.0)
    assert (official.local.batch_size, adlab.local.batch_size) == (1, 4)  # scripts: one at a time
    assert MmadParams.model_validate({"llm": "gemini"}).eval.max_tokens is None
    with pytest.raises(ValidationError, match="eval.history is a protocol adlab setting"):
        MmadParams.model_validate({"llm": "gpt-4o", "eval": {"history": True}})
    with pytest.raises(ValidationError, match="not an MMAD script family"):
        MmadParams.model_validate({"llm": "gpt-4o", "family": "gpt5"})
    mini = MmadParams.model_validate({"llm": "my-server-model", "family": "gpt4o-mini",
                                      "api": {"base_url": "http://127.0.0.1:9/v1"}})
    assert mini.eval.max_tokens == 600
