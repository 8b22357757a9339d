"""MMAD's InternVL script (``Transformers/internvl_query.py``).

One request per question, one text with an ``<image>`` per image: the instruction, the domain
knowledge, ``Following is/are {k} image of normal sample, ...`` with `` <image>`` per template,
``Following is the query image:`` ``<image>``, the Expert Agent's marked image when given (the
script's ``bbox`` notation), then ``Following is the question list. Answer with the option's
letter from the given choices directly:`` and ``Question {i+1}: ...``. Each image is one 448x448
tile (``load_image(max_num=1)``: resized, aspect ratio not kept, bicubic). Greedy decoding, at
most 128 new tokens; the last letter is the answer (no fallback).

The script's options (``eval.*``): ``--defect_shot N`` adds ``Following is/are N image of defect
sample.`` with `` <image>`` per defect image after the templates (images: templates, defect
shots, query; see :func:`~adlab.pipelines.mmad.protocol.inputs.defect_shots` for the draw).
``--CoT`` first sends the script's chain-of-thought text in place of the question (at most 256
new tokens, greedy) and ``--record_history`` keeps each question's turn: ``model.chat``'s
history, a multi-turn chat whose user turns are each request's whole text. The images fill the
``<image>`` markers of the first turn only; later turns keep the markers as plain text, as
``model.chat`` leaves them. With ``--CoT`` the question turns are kept even without
``--record_history``: ``model.chat`` appends to the history list it is given, which the script
keeps from the chain-of-thought call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import MARKED_NOTE, ImagePart, Message, Part, knowledge_text
from adlab.pipelines.mmad.protocol.base import (Ask, Chain, Generation, ImagePolicy, Inputs,
                                                LocalOptions, OfficialOptions, Turn)
from adlab.pipelines.mmad.protocol.common import (INSTRUCTION_V, compact, cot_ask, one_by_one,
                                                  question_text, single_ask)

IMAGE = "<image>"
# internvl_query.py `chain_of_thought[0]["text"]`
COT_INTERNVL = ("Before answering the following questions, we need to understand the query "
                "image. \n"
                "First, identify the objects in the template image and imagine the possible "
                "types of defects. \n"
                "Second, simply describe the differences between the query image with the "
                "template sample. \n"
                "Third, if exist, judge whether those differences are defect or normal. \n"
                "Output a simple thoughts in 100 words. Notice that slight movement of objects "
                "or changes in image quality fall within the normal range.\n")
COT_MAX_TOKENS = 256


def interleave(text: str, images: Sequence[ImagePart]) -> list[Part]:
    """A prompt written with ``<image>`` markers as text and image parts, in order."""
    pieces = text.split(IMAGE)
    if len(pieces) != len(images) + 1:
        raise ValueError(f"prompt has {len(pieces) - 1} image marker(s) for {len(images)} image(s)")
    parts: list[Part] = []
    for piece, image in zip(pieces, [*images, None]):
        parts.append(piece)
        if image is not None:
            parts.append(image)
    return compact(parts)


@dataclass
class InternVL:
    name: str = "internvl"
    parse_family: str = "internvl"
    options: OfficialOptions = field(default_factory=OfficialOptions)
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy("square", (448, 448)))
    local: LocalOptions = field(default_factory=lambda: LocalOptions(max_new_tokens=128))

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens if max_tokens is not None else 128,
                          temperature if temperature is not None else 0.0)

    def text(self, inputs: Inputs, conversation: str) -> str:
        """``payload + conversation_text`` of the script's ``get_query``."""
        k, n = len(inputs.templates), len(inputs.defects)
        incontext = knowledge_text(inputs.knowledge) if inputs.knowledge else ""
        if k:
            incontext += (f"Following is/are {k} image of normal sample, which can be used as a "
                          f"template to compare the image being queried.")
            incontext += ("\n" + " <image>\n") * k
        if n:
            incontext += f"Following is/are {n} image of defect sample."
            incontext += ("\n" + " <image>\n") * n
        payload = (INSTRUCTION_V + incontext + "\n" + "Following is the query image: " + "\n"
                   + "<image> ")
        if inputs.marked is not None:
            payload += MARKED_NOTE + "<image>"
        if inputs.ad_text:
            payload += "\n" + inputs.ad_text
        payload += ("\n" + "Following is the question list. Answer with the option's letter "
                    "from the given choices directly: " + "\n")
        return payload + conversation + "\n"

    def prompt(self, inputs: Inputs, q: Question) -> str:
        return self.text(inputs, question_text(q, numbered=True))

    def _images(self, inputs: Inputs) -> list[ImagePart]:
        return [*inputs.templates, *inputs.defects, inputs.query,
                *([inputs.marked] if inputs.marked is not None else [])]

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        images = self._images(inputs)
        return one_by_one(questions, todo, lambda q: interleave(self.prompt(inputs, q), images),
                          self.parse_family, fuzzy=False)

    def chain(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> Optional[Chain]:
        opts = self.options
        if not (opts.cot or opts.record_history):
            return None
        images = self._images(inputs)
        cot_query = self.text(inputs, COT_INTERNVL)

        def turn_text(t: Turn) -> str:
            return cot_query if t.question is None else self.prompt(inputs, t.question)

        def history(turns: Sequence[Turn]) -> list[Message]:
            out: list[Message] = []
            for i, t in enumerate(turns):
                text = turn_text(t)
                out += [Message("user", interleave(text, images) if i == 0 else [text]),
                        Message("assistant", [t.reply])]
            return out

        def ask(turns: list[Turn], q: Question) -> Ask:
            if not turns:
                return single_ask(q, lambda shown: interleave(self.prompt(inputs, shown), images),
                                  self.parse_family, fuzzy=False)
            return single_ask(q, lambda shown: [self.prompt(inputs, shown)], self.parse_family,
                              fuzzy=False, before=history(turns))
        cot = cot_ask([Message("user", interleave(cot_query, images))],
                      COT_MAX_TOKENS) if opts.cot else None
        # --CoT: model.chat appends every question's turn to the history list the script keeps
        return Chain(list(questions), set(todo), ask, cot,
                     keep_answers=opts.record_history or opts.cot)


def internvl(options: Optional[OfficialOptions] = None) -> InternVL:
    return InternVL(options=options or OfficialOptions())
