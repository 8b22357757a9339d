"""Which reading a run applies to its replies: the protocol (``official`` or ``adlab``) and,
under ``official``, the model family whose MMAD query script is reproduced.

The letter rules themselves live in :mod:`adlab.metrics.mmad_parsing` (scoring reads stored
answers with them too); this module picks the rule for a run and splits batch-mode replies.
A batch reply is never assigned to several questions: a question whose own answer cannot be
found in it stays unparsed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from adlab.metrics.mmad_parsing import (ADLAB, DEFAULT_FAMILY, NONE, OFFICIAL, OFFICIAL_RULES,
                                        Parsed, official_letters, parse_reply, parse_strict,
                                        strict_letters)
from adlab.pipelines.mmad.data import Question

# Checked in order: "llava-onevision-qwen2" is a LLaVA script model, not a Qwen one.
_FAMILY_HINTS = (("llava", "llava"), ("cambrian", "cambrian"), ("internvl", "internvl"),
                 ("minicpm", "minicpm"), ("qwen", "qwen"), ("gemini", "gemini"),
                 ("claude", "claude"), ("gpt", "gpt4o"))


def family_of(*names: Optional[str]) -> str:
    """The official query script family of a model (registry name, model id, path); models of
    no known family follow the GPT-4o script (the API script)."""
    for name in names:
        text = (name or "").lower()
        for hint, family in _FAMILY_HINTS:
            if hint in text:
                return family
    return DEFAULT_FAMILY


@dataclass(frozen=True)
class AnswerReader:
    """The reading of one run: ``protocol`` and ``family`` (only used under official)."""

    protocol: str = ADLAB
    family: str = DEFAULT_FAMILY

    def __post_init__(self) -> None:
        if self.protocol not in (OFFICIAL, ADLAB):
            raise ValueError(f"protocol must be official or adlab, not {self.protocol!r}")
        if self.family not in OFFICIAL_RULES:
            raise ValueError(f"unknown MMAD model family {self.family!r}; use one of "
                             f"{', '.join(sorted(OFFICIAL_RULES))}")

    def single(self, text: Optional[str], question: Question) -> Parsed:
        return parse_reply(text, self.protocol, self.family, question.options)

    def batch(self, text: Optional[str], questions: Sequence[Question]) -> list[Parsed]:
        """One reading per question of a batch reply, in order; unparsed where the reply does
        not answer that question by itself."""
        n = len(questions)
        if not isinstance(text, str) or n == 0:
            return [Parsed(None, NONE)] * n
        if self.protocol == OFFICIAL:
            # Gemini's script: the letters of the reply taken in order; when their number is not
            # the number of questions the script discards the image (no answer for any question).
            found = official_letters(text)
            if len(found) == n:
                return [Parsed(letter, "official:batch") for letter in found]
            return [Parsed(None, NONE)] * n
        return split_batch_answer(text, n)


_NUMBERED = re.compile(r"(?m)^\s*(?:\*\*)?(\d{1,2})\s*[.):]\s*(?:\*\*)?\s*(?:(?i:answer)\s*[:：]?\s*)?"
                       r"\(?\s*([A-E])(?![\w'’])")
_ANSWER_WORD = re.compile(r"(?i)\banswers?\b\s*[:：]?")


def split_batch_answer(text: Optional[str], n: int) -> list[Parsed]:
    """The strict reading of a batch reply: numbered lines (``2. Answer: C.``) when present
    (questions without a line stay unparsed); else, for one question, the strict single reading;
    else exactly ``n`` standalone letters A-E (the word "Answer" and articles ignored), in order.
    """
    text = text or ""
    found: dict[int, str] = {}
    for match in _NUMBERED.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= n and number not in found:
            found[number] = match.group(2)
    if found:
        return [Parsed(found[i + 1], "adlab:numbered") if i + 1 in found else Parsed(None, NONE)
                for i in range(n)]
    if n == 1:
        return [parse_strict(text)]
    letters = strict_letters(_ANSWER_WORD.sub(" ", text))
    if len(letters) == n:
        return [Parsed(letter, "adlab:in-order") for letter in letters]
    return [Parsed(None, NONE)] * n


def answer_reader(params: Any, model_id: str) -> AnswerReader:
    """The reader of a run from its params (``protocol``, ``family`` or the model's family)."""
    from adlab.pipelines.mmad.protocol import FAMILIES_PARSE, family_for

    family = family_for(params.family, "", params.llm, model_id)  # a script family
    return AnswerReader(params.protocol, FAMILIES_PARSE.get(family, family))  # its reading
