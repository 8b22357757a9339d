"""MMAD's InternVL script (``Transformers/internvl_query.py``).

One request per question, one text with an ``<image>`` per image: the instruction, the domain
knowledge, ``Following is/are {k} image of normal sample, ...`` with `` <image>`` per template,
``Following is the query image:`` ``<image>``, the Expert Agent's marked image when given (the
script's ``bbox`` notation), then ``Following is the question list. Answer with the option's
letter from the given choices directly:`` and ``Question {i+1}: ...``. Each image is one 448x448
tile (``load_image(max_num=1)``: resized, aspect ratio not kept, bicubic). Greedy decoding, at
most 128 new tokens; the last letter is the answer (no fallback).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import MARKED_NOTE, ImagePart, Part, knowledge_text
from adlab.pipelines.mmad.protocol.base import Ask, Generation, ImagePolicy, Inputs, LocalOptions
from adlab.pipelines.mmad.protocol.common import (INSTRUCTION_V, compact, one_by_one,
                                                  question_text)

IMAGE = "<image>"


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
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy("square", (448, 448)))
    local: LocalOptions = field(default_factory=lambda: LocalOptions(max_new_tokens=128))

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens if max_tokens is not None else 128,
                          temperature if temperature is not None else 0.0)

    def prompt(self, inputs: Inputs, q: Question) -> str:
        k = len(inputs.templates)
        incontext = knowledge_text(inputs.knowledge) if inputs.knowledge else ""
        if k:
            incontext += (f"Following is/are {k} image of normal sample, which can be used as a "
                          f"template to compare the image being queried.")
            incontext += ("\n" + " <image>\n") * k
        payload = (INSTRUCTION_V + incontext + "\n" + "Following is the query image: " + "\n"
                   + "<image> ")
        if inputs.marked is not None:
            payload += MARKED_NOTE + "<image>"
        if inputs.ad_text:
            payload += "\n" + inputs.ad_text
        payload += ("\n" + "Following is the question list. Answer with the option's letter "
                    "from the given choices directly: " + "\n")
        return payload + question_text(q, numbered=True) + "\n"

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        images = [*inputs.templates, inputs.query,
                  *([inputs.marked] if inputs.marked is not None else [])]
        return one_by_one(questions, todo, lambda q: interleave(self.prompt(inputs, q), images),
                          self.parse_family, fuzzy=False)


def internvl() -> InternVL:
    return InternVL()
