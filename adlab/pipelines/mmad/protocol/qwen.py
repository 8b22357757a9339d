"""MMAD's Qwen scripts: Qwen2.5-VL (``Transformers/qwen2_5_vl_query.py``, family ``qwen``) and
Qwen-VL-Chat (``Transformers/qwen_query.py``, family ``qwen-vl``).

One request per question, a list of content items: the instruction, ``Answer with the option's
letter from the given choices directly!`` (Qwen-VL: ``... directly.``), the domain knowledge
(Qwen2.5-VL), the template sentence and images, ``Following is the query image:`` and the
image, ``Following is the question list:`` and the question (``Question: ...``; Qwen-VL numbers
it, ``Question {i+1}: ...``). Images are the original files: ``qwen_vl_utils`` rounds them to
multiples of 28 and the processor, loaded with ``min_pixels=64*28*28`` and
``max_pixels=1280*28*28``, resizes within those bounds; the chat template numbers the images
(``add_vision_id``). At most 128 new tokens, the checkpoint's own sampling settings. The last
letter is the answer, else the closest option text (difflib), else the reply itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from PIL import Image

from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import MARKED_NOTE, Message, Part, knowledge_text
from adlab.pipelines.mmad.protocol.base import (Ask, Chain, Generation, ImagePolicy, Inputs,
                                                LocalOptions, OfficialOptions, Turn)
from adlab.pipelines.mmad.protocol.common import (INSTRUCTION_V, compact, one_by_one,
                                                  question_text, single_ask)

FACTOR = 28
VISION_MIN_PIXELS, VISION_MAX_PIXELS = 4 * 28 * 28, 16384 * 28 * 28  # qwen_vl_utils defaults
MIN_PIXELS, MAX_PIXELS = 64 * 28 * 28, 1280 * 28 * 28  # the script's processor bounds


def smart_resize(height: int, width: int, factor: int = FACTOR, min_pixels: int = VISION_MIN_PIXELS,
                 max_pixels: int = VISION_MAX_PIXELS) -> tuple[int, int]:
    """Qwen's rounding of an image size to multiples of ``factor`` within a pixel budget."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def vision_info_resize(img: Image.Image) -> Image.Image:
    """``qwen_vl_utils.fetch_image``: the image resized to its :func:`smart_resize` size."""
    h, w = smart_resize(img.height, img.width)
    return img if (w, h) == img.size else img.resize((w, h))


@dataclass
class Qwen:
    name: str = "qwen"
    parse_family: str = "qwen"
    directly: str = "Answer with the option's letter from the given choices directly! "
    numbered: bool = False
    max_tokens: Optional[int] = 128
    options: OfficialOptions = field(default_factory=OfficialOptions)
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy(
        "original", local_resize=vision_info_resize))
    local: LocalOptions = field(default_factory=lambda: LocalOptions(
        chat_template={"add_vision_id": True},
        processor={"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}, max_new_tokens=128))

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens if max_tokens is not None else self.max_tokens, temperature)

    def parts(self, inputs: Inputs, q: Question) -> list[Part]:
        k = len(inputs.templates)
        marked: list[Part] = [MARKED_NOTE, inputs.marked] if inputs.marked is not None else []
        return compact([
            INSTRUCTION_V, self.directly,
            knowledge_text(inputs.knowledge) if inputs.knowledge else "",
            (f"Following is/are {k} image of normal sample, which can be used as a template to "
             f"compare the image being queried.") if k else "",
            *inputs.templates, "Following is the query image: ", inputs.query, *marked,
            inputs.ad_text or "", "Following is the question list: ",
            question_text(q, self.numbered)])

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        return one_by_one(questions, todo, lambda q: self.parts(inputs, q), self.parse_family,
                          fuzzy=True)

    def chain(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> Optional[Chain]:
        if not self.options.record_history:
            return None

        def ask(turns: list[Turn], q: Question) -> Ask:
            if not turns:
                return single_ask(q, lambda shown: self.parts(inputs, shown), self.parse_family,
                                  fuzzy=True)
            before: list[Message] = []
            for i, t in enumerate(turns):
                assert t.question is not None  # no chain-of-thought turn in the Qwen scripts
                before += [Message("user", self.parts(inputs, t.question) if i == 0
                                   else [question_text(t.question, self.numbered)]),
                           Message("assistant", [t.reply])]
            return single_ask(q, lambda shown: [question_text(shown, self.numbered)],
                              self.parse_family, fuzzy=True, before=before)
        return Chain(list(questions), set(todo), ask, keep_answers=True)


def qwen() -> Qwen:
    return Qwen()


def qwen_vl(options: Optional[OfficialOptions] = None) -> Qwen:
    return Qwen(name="qwen-vl", directly="Answer with the option's letter from the given "
                "choices directly.", numbered=True, max_tokens=None,
                options=options or OfficialOptions(), images=ImagePolicy("original"),
                local=LocalOptions(max_new_tokens=512))
