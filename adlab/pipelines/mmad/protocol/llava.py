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

The scripts' options (``eval.*``): ``--text_only`` swaps the instruction for ``Although you can
not see the image. ...`` and drops everything up to the question list (templates, domain
knowledge, the query image; no image is sent); ``--CoT`` asks the script's chain-of-thought text
first in place of a question (at most 512 new tokens) and ``--record_history`` keeps each
question and its reply; both enter the later prompts as ``Followings are the previous questions
and answers:`` with ``{question}\\n`` and ``Answer: {reply}\\n`` per turn, before the question
list. (The scripts decode the chain-of-thought reply with its special tokens, e.g. ``</s>``;
adlab's clients return the text without them.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import MARKED_NOTE, Message, Part, knowledge_text
from adlab.pipelines.mmad.protocol.base import (Ask, Chain, Generation, ImagePolicy, Inputs,
                                                LocalOptions, OfficialOptions, Turn)
from adlab.pipelines.mmad.protocol.common import (INSTRUCTION_V, compact, cot_ask, one_by_one,
                                                  options_text, shuffled, single_ask)

SYSTEM_LLAVA_V1 = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's "
                   "questions.")
# llava_query.py / cambrian_query.py `chain_of_thought[0]["text"]`
COT_LLAVA = ("Before answering the following questions, we need to understand the test image. \n"
             "First, identify the objects in the template image and imagine the possible types "
             "of defects. \n"
             "Second, simply describe the differences between the test image with the template "
             "sample. \n"
             "Third, judge whether those differences are defect or normal. \n")
COT_CAMBRIAN = ("Before answering the following questions, we need to understand the test image. \n"
                "First, simply describe the differences between the test image with the normal "
                "and defect sample. \n"
                "Second, judge whether those differences are defect or normal. \n")
COT_MAX_TOKENS = 512
TEXT_ONLY_HINT = ("Although you can not see the image. Answer with the option's letter from the "
                  "given choices directly. ")
HISTORY_HEAD = "Followings are the previous questions and answers: \n"


@dataclass
class Llava:
    """Images are parts: a chat template renders each as ``<image>\\n``, the scripts' token."""

    name: str = "llava"
    parse_family: str = "llava"
    seed: int = 42
    suffix: str = ""
    system: Optional[str] = SYSTEM_LLAVA_V1
    max_tokens: int = 64
    cot_text: str = COT_LLAVA
    options: OfficialOptions = field(default_factory=OfficialOptions)
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy("fit", mime="jpeg"))
    local: LocalOptions = field(default_factory=LocalOptions)

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens if max_tokens is not None else self.max_tokens,
                          temperature if temperature is not None else 0.2)

    @staticmethod
    def body(q: Question) -> str:
        """The question as ``parse_conversation`` writes it (options as presented)."""
        return f"{q.text} \n" + options_text(q)

    def history(self, turns: Sequence[Turn]) -> str:
        if not turns:
            return ""
        return HISTORY_HEAD + "".join(
            f"{self.cot_text if t.question is None else self.body(t.question)}\n"
            f"Answer: {t.reply}\n" for t in turns)

    def prompt(self, inputs: Inputs, body: str, turns: Sequence[Turn] = ()) -> list[Part]:
        ad = (inputs.ad_text + "\n") if inputs.ad_text else ""
        tail = (ad + self.history(turns) + "Following is new question list: \n" + body
                + self.suffix)
        if self.options.text_only:
            return [TEXT_ONLY_HINT + "\n" + tail]
        k = len(inputs.templates)
        head = (INSTRUCTION_V + "\n" + (knowledge_text(inputs.knowledge) if inputs.knowledge else "")
                + (f"Following is {k} image of normal sample:" if k else ""))
        marked: list[Part] = [MARKED_NOTE, inputs.marked] if inputs.marked is not None else []
        return compact([head, *inputs.templates, "Test image: \n", inputs.query, *marked, tail])

    def parts(self, inputs: Inputs, q: Question) -> list[Part]:
        return self.prompt(inputs, self.body(q))

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        return one_by_one(questions, todo, lambda q: self.parts(inputs, q), self.parse_family,
                          fuzzy=True, system=self.system, present=shuffled(self.seed))

    def chain(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> Optional[Chain]:
        opts = self.options
        if not (opts.cot or opts.record_history):
            return None
        system = [Message("system", [self.system])] if self.system else []

        def ask(turns: list[Turn], q: Question) -> Ask:
            return single_ask(q, lambda shown: self.prompt(inputs, self.body(shown), turns),
                              self.parse_family, fuzzy=True, system=self.system,
                              present=shuffled(self.seed))
        cot = cot_ask([*system, Message("user", self.prompt(inputs, self.cot_text))],
                      COT_MAX_TOKENS) if opts.cot else None
        return Chain(list(questions), set(todo), ask, cot, keep_answers=opts.record_history)


def llava(box: tuple[int, int] = (512, 512), seed: int = 42,
          options: Optional[OfficialOptions] = None) -> Llava:
    return Llava(seed=seed, images=ImagePolicy("fit", box, mime="jpeg"),
                 options=options or OfficialOptions())


def cambrian(box: tuple[int, int] = (512, 512), seed: int = 42,
             options: Optional[OfficialOptions] = None) -> Llava:
    return Llava(name="cambrian", parse_family="cambrian", seed=seed,
                 suffix="\nAnswer with the letter.", system=None, max_tokens=128,
                 cot_text=COT_CAMBRIAN, options=options or OfficialOptions(),
                 images=ImagePolicy("fit", box, mime="jpeg"))
