"""MMAD's Gemini script (``evaluation/examples/Gemini/gemini_query.py``).

The same single user message as the GPT-4o script (images, then one text) with Gemini's
instruction; question 1 (anomaly or not) is asked alone and its reply's last letter kept, then
questions 2..n together, whose reply must hold exactly n-1 letters, taken in order; otherwise
the script drops the whole image, and so does :meth:`Gemini.finalize` once the run's answers
are in (question 1's answer is kept in ``raw`` but no longer counts). Images fit 512x512 (small
ones enlarged), JPEG quality 95, labelled by extension (``image/png`` for unknown ones); no
generation settings are sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from adlab.metrics.mmad_parsing import Parsed
from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import Message
from adlab.pipelines.mmad.protocol.base import (Ask, Generation, ImagePolicy, Inputs,
                                                LocalOptions)
from adlab.pipelines.mmad.protocol.common import in_order_reader, official_reader
from adlab.pipelines.mmad.protocol.gpt4o import api_images, api_text

INSTRUCTION_GEMINI = (
    "\nYou are an industrial inspector who checks products by images. You should judge whether "
    "there is a defect in the query image and answer the questions about it.\nAnswer with the "
    "option's letter from the given choices directly.\n\nFinally, you should output a answer "
    "list of every question, such as:\n1. Answer: B.\n2. Answer: B.\n3. Answer: A.\n...\n\n")


@dataclass
class Gemini:
    name: str = "gemini"
    parse_family: str = "gemini"
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy(
        "fit", mime="extension", mime_default="image/png"))
    local: LocalOptions = field(default_factory=LocalOptions)

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens, temperature)

    def _ask(self, inputs: Inputs, listed: list[Question], targets: list[Question],
             read_all) -> Ask:
        text = api_text(INSTRUCTION_GEMINI, inputs, listed, numbered=False)
        positions = [listed.index(q) for q in targets]

        def read(reply: Optional[str]) -> list[Parsed]:
            found = read_all(reply)
            return [found[i] for i in positions]
        return Ask([Message("user", [*api_images(inputs), text])], targets, read, listed)

    def finalize(self, records: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Records to store again once every answer is in (see :func:`discard_images`)."""
        return discard_images(records)

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        if not questions:
            return []
        first, rest = questions[0], list(questions[1:])
        out = []
        if first.index in todo:
            out.append(self._ask(inputs, [first], [first],
                                 official_reader(self.parse_family, first, False)))
        targets = [q for q in rest if q.index in todo]
        if targets:
            out.append(self._ask(inputs, rest, targets, in_order_reader(len(rest))))
        return out


def discard_images(records: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The question-1 records of images whose second reply was discarded, discarded too."""
    from adlab.pipelines.mmad.answers import DISCARDED

    dropped = {r["image"] for r in records.values() if r.get("rule") == DISCARDED}
    out = {}
    for key, rec in records.items():
        if rec.get("image") in dropped and rec.get("index") == 0 and rec.get("rule") != DISCARDED \
                and rec.get("error") is None:
            out[key] = {**rec, "parsed": None, "rule": DISCARDED,
                        "discarded": "the reply to questions 2..n had the wrong number of letters"}
    return out


def gemini(box: tuple[int, int] = (512, 512)) -> Gemini:
    return Gemini(images=ImagePolicy("fit", box, mime="extension", mime_default="image/png"))
