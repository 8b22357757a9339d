"""Protocol ``adlab``: adlab's own prompt (:mod:`adlab.pipelines.mmad.prompting`) and the strict
reading; all of an image's questions in one request (batch mode) or one per request. Chat
history mode (one question per turn) is run by the engine on top of the same prompt."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.parsing import AnswerReader
from adlab.pipelines.mmad.prompting import build_request
from adlab.pipelines.mmad.protocol.base import Ask, Generation, ImagePolicy, Inputs, LocalOptions

MAX_TOKENS, TEMPERATURE = 200, 0.0


@dataclass
class Adlab:
    batch: bool = False
    reader: AnswerReader = field(default_factory=AnswerReader)
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy("shrink"))
    local: LocalOptions = field(default_factory=LocalOptions)
    name: str = "adlab"

    @property
    def parse_family(self) -> str:
        return self.reader.family

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens if max_tokens is not None else MAX_TOKENS,
                          temperature if temperature is not None else TEMPERATURE)

    def messages(self, inputs: Inputs, questions: Sequence[Question], batch: bool):
        return build_request(inputs.templates, inputs.query, questions, inputs.ad_text,
                             batch=batch, knowledge=inputs.knowledge, marked=inputs.marked)

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        missing = [q for q in questions if q.index in todo]
        if self.batch and missing:
            return [Ask(self.messages(inputs, missing, True), missing,
                        lambda text: self.reader.batch(text, missing), missing)]
        return [Ask(self.messages(inputs, [q], False), [q],
                    lambda text, q=q: [self.reader.single(text, q)], [q]) for q in missing]
