"""Pieces MMAD's query scripts share: the instruction most scripts import from
``GPT4/gpt4v.py``, the question text of ``parse_conversation``, the one-question-per-request
loop of the Hugging Face scripts, and the official reading of a reply."""
from __future__ import annotations

import random
from typing import Callable, Optional, Sequence

from adlab.metrics.mmad_parsing import NONE, Parsed, official_letters, parse_official
from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import Message, Part
from adlab.pipelines.mmad.protocol.base import Ask, with_options

# evaluation/examples/GPT4/gpt4v.py `instruction` (LLaVA, Cambrian, Qwen, InternVL, MiniCPM).
INSTRUCTION_V = ("\nYou are an industrial inspector who checks products by images. You should "
                 "judge whether there is a defect in the query image and answer the questions "
                 "about it.\nAnswer with the option's letter from the given choices directly.\n")


def options_text(q: Question) -> str:
    return "".join(f"{letter}. {text}\n" for letter, text in q.options.items())


def question_text(q: Question, numbered: bool) -> str:
    """``parse_conversation``'s text: ``Question {i+1}: ...`` (gpt4v.py, gpt4o-mini.py) or
    ``Question: ...`` (gpt4o.py, gemini_query.py); ``i`` is the question's place in the image's
    conversation, also when it is asked alone."""
    head = f"Question {q.index + 1}:" if numbered else "Question:"
    return f"{head} {q.text} \n{options_text(q)}"


def official_reader(family: str, q: Question, with_options_fallback: bool) -> Callable[[Optional[str]], list[Parsed]]:
    """A one-question reply read as the family's script does (first/last letter, the difflib
    fallback over the presented options where the script passes them)."""
    options = q.options if with_options_fallback else None
    return lambda text: [parse_official(text, family, options)]


def in_order_reader(n: int) -> Callable[[Optional[str]], list[Parsed]]:
    """Gemini's second request: the reply's letters in order, one per listed question; when
    their number is not ``n`` the script discards the image (no answer for any of them)."""
    from adlab.pipelines.mmad.answers import DISCARDED

    def read(text: Optional[str]) -> list[Parsed]:
        found = official_letters(text) if isinstance(text, str) else []
        if len(found) == n:
            return [Parsed(letter, "official:in-order") for letter in found]
        return [Parsed(None, DISCARDED if isinstance(text, str) else NONE)] * n
    return read


def single_ask(q: Question, build: Callable[[Question], list[Part]], family: str, fuzzy: bool,
               system: Optional[str] = None,
               present: Callable[[Question], Question] = lambda q: q,
               before: Sequence[Message] = ()) -> Ask:
    """One question's request: ``build`` gets the question as presented (LLaVA's shuffled
    options); ``before``: earlier chat turns (a chain's history) between system and user."""
    shown = present(q)
    messages = ([Message("system", [system])] if system else []) + list(before) \
        + [Message("user", build(shown))]
    return Ask(messages, [q], official_reader(family, shown, fuzzy), [q],
               presented={q.index: shown} if shown is not q else {})


def one_by_one(questions: Sequence[Question], todo: set[int],
               build: Callable[[Question], list[Part]], family: str, fuzzy: bool,
               system: Optional[str] = None,
               present: Callable[[Question], Question] = lambda q: q) -> list[Ask]:
    """The Hugging Face scripts' loop: one request per question (``questions[i:i + 1]``)."""
    return [single_ask(q, build, family, fuzzy, system, present)
            for q in questions if q.index in todo]


def cot_ask(messages: list[Message], max_tokens: int) -> Ask:
    """The chain-of-thought request of ``--CoT``: no question is answered by its reply, which
    only enters the later prompts."""
    return Ask(messages, [], lambda text: [], [], max_tokens=max_tokens)


def shuffled(seed: int) -> Callable[[Question], Question]:
    """LLaVA/Cambrian's ``random.shuffle(options_items)``, seeded per question (the scripts use
    the unseeded global generator) so a resumed run shows the same order again."""
    def present(q: Question) -> Question:
        order = list(q.options)
        random.Random(f"{seed}|{q.image}|{q.index}").shuffle(order)
        return with_options(q, order)
    return present


def compact(parts: Sequence[Part]) -> list[Part]:
    """Drop empty text pieces (a prompt's optional sentences that are absent)."""
    return [p for p in parts if not (isinstance(p, str) and p == "")]
