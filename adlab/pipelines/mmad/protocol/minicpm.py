"""MMAD's MiniCPM-V script (``Transformers/minicpm_query.py``).

One request per question: the images (templates, the marked image when given, the query image;
original files, the model's processor resizes) and one text: the instruction, the domain
knowledge, ``Image 1 is a normal sample, ...`` (``Image 1-k are k normal samples, ...``), the
marked image's note, ``The last image is the query image:``, ``Following is the question list.
Answer with the option's letter from the given choices directly:`` and ``Question {i+1}: ...``.
The script calls ``model.chat`` with its defaults (sampling, temperature 0.7, at most 2048
new tokens); the last letter is the answer (no fallback).

``--record_history`` (``eval.record_history``): the questions are asked in order, and each
earlier question's text (``Question {i+1}: ...`` and a newline), a newline, its reply and a
newline go between the question-list sentence and the question, in the same user message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import Part, knowledge_text
from adlab.pipelines.mmad.protocol.base import (Ask, Chain, Generation, ImagePolicy, Inputs,
                                                LocalOptions, OfficialOptions, Turn)
from adlab.pipelines.mmad.protocol.common import (INSTRUCTION_V, one_by_one, question_text,
                                                  single_ask)


@dataclass
class MiniCPM:
    name: str = "minicpm"
    parse_family: str = "minicpm"
    options: OfficialOptions = field(default_factory=OfficialOptions)
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy("original"))
    local: LocalOptions = field(default_factory=lambda: LocalOptions(max_new_tokens=2048))

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens if max_tokens is not None else 2048,
                          temperature if temperature is not None else 0.7)

    def text(self, inputs: Inputs, q: Question, turns: Sequence[Turn] = ()) -> str:
        k = len(inputs.templates)
        incontext = knowledge_text(inputs.knowledge) if inputs.knowledge else ""
        if k == 1:
            incontext += ("Image 1 is a normal sample, which can be used as a template to "
                          "compare the image being queried.")
        elif k > 1:
            incontext += (f"Image 1-{k} are {k} normal samples, which can be used as a template "
                          f"to compare the image being queried.")
        if inputs.marked is not None:
            incontext += (f"Image {k + 1} is the reference image where some suspicious areas are "
                          "marked by red bounding boxes. Please note that even if the query "
                          "image does not have any defects, the red boxes still highlight some "
                          "areas. So you still need to make a judgement by comparing the images.")
        if inputs.ad_text:
            incontext += "\n" + inputs.ad_text
        return (INSTRUCTION_V + incontext + "\n" + "The last image is the query image: "
                + "Following is the question list. Answer with the option's letter from the "
                  "given choices directly: " + "\n" + self.history(turns)
                + question_text(q, numbered=True) + "\n")

    @staticmethod
    def history(turns: Sequence[Turn]) -> str:
        """The script's ``history``: ``conversation_text + '\\n' + response + '\\n'`` per turn."""
        return "".join(question_text(t.question, numbered=True) + "\n" + "\n" + t.reply + "\n"
                       for t in turns if t.question is not None)

    def parts(self, inputs: Inputs, q: Question, turns: Sequence[Turn] = ()) -> list[Part]:
        marked = [inputs.marked] if inputs.marked is not None else []
        return [*inputs.templates, *marked, inputs.query, self.text(inputs, q, turns)]

    def chain(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> Optional[Chain]:
        if not self.options.record_history:
            return None

        def ask(turns: list[Turn], q: Question) -> Ask:
            return single_ask(q, lambda shown: self.parts(inputs, shown, turns),
                              self.parse_family, fuzzy=False)
        return Chain(list(questions), set(todo), ask, keep_answers=True)

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        return one_by_one(questions, todo, lambda q: self.parts(inputs, q), self.parse_family,
                          fuzzy=False)


def minicpm(options: Optional[OfficialOptions] = None) -> MiniCPM:
    return MiniCPM(options=options or OfficialOptions())
