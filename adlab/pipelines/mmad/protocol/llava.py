"""MMAD's LLaVA and Cambrian scripts (``LLaVA_Query/llava_query.py``,
``Cambrian_Query/cambrian_query.py``).

One request per question. The prompt: the instruction, ``Following is {k} image of normal
sample:`` with one ``<image>`` per template, ``Test image:`` with the query image, then
``Following is new question list:`` and the question without a ``Question:`` head, its options
shuffled (seeded here per question; the scripts use Python's unseeded global generator) and the
answer key following its option; Cambrian appends ``Answer with the letter.``. LLaVA's
``llava_v1`` conversation carries its system sentence. Images fit 512x512 (small ones enlarged),
go through JPEG quality 95 and back, as the scripts' base64 round trip does. Sampling at
temperature 0.2; at most 64 new tokens (Cambrian 128). A reply's first letter is the answer,
else the option text closest to the reply (difflib).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import MARKED_NOTE, Part, knowledge_text
from adlab.pipelines.mmad.protocol.base import Ask, Generation, ImagePolicy, Inputs, LocalOptions
from adlab.pipelines.mmad.protocol.common import (INSTRUCTION_V, compact, one_by_one,
                                                  options_text, shuffled)

SYSTEM_LLAVA_V1 = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's "
                   "questions.")


@dataclass
class Llava:
    """Images are parts: a chat template renders each as ``<image>\\n``, the scripts' token."""

    name: str = "llava"
    parse_family: str = "llava"
    seed: int = 42
    suffix: str = ""
    system: Optional[str] = SYSTEM_LLAVA_V1
    max_tokens: int = 64
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy("fit", mime="jpeg"))
    local: LocalOptions = field(default_factory=LocalOptions)

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens if max_tokens is not None else self.max_tokens,
                          temperature if temperature is not None else 0.2)

    def parts(self, inputs: Inputs, q: Question) -> list[Part]:
        k = len(inputs.templates)
        head = (INSTRUCTION_V + "\n" + (knowledge_text(inputs.knowledge) if inputs.knowledge else "")
                + (f"Following is {k} image of normal sample:" if k else ""))
        marked: list[Part] = [MARKED_NOTE, inputs.marked] if inputs.marked is not None else []
        ad = (inputs.ad_text + "\n") if inputs.ad_text else ""
        return compact([head, *inputs.templates, "Test image: \n", inputs.query, *marked,
                        ad + "Following is new question list: \n" + f"{q.text} \n"
                        + options_text(q) + self.suffix])

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        return one_by_one(questions, todo, lambda q: self.parts(inputs, q), self.parse_family,
                          fuzzy=True, system=self.system, present=shuffled(self.seed))


def llava(box: tuple[int, int] = (512, 512), seed: int = 42) -> Llava:
    return Llava(seed=seed, images=ImagePolicy("fit", box, mime="jpeg"))


def cambrian(box: tuple[int, int] = (512, 512), seed: int = 42) -> Llava:
    return Llava(name="cambrian", parse_family="cambrian", seed=seed,
                 suffix="\nAnswer with the letter.", system=None, max_tokens=128,
                 images=ImagePolicy("fit", box, mime="jpeg"))
