"""MMAD's GPT-4o script (``evaluation/examples/GPT4/gpt4o.py``) and its variants: GPT-4o mini
(``gpt4o-mini.py``) and Claude (no script is published; the GPT-4o one, the API script, is used).

One user message: the template images, the query image, then one text: the instruction, the
template sentence, ``The last image is the query image``, the question list. GPT-4o asks
cumulatively: request *i* lists questions 1..*i* and its reply's last letter answers question
*i*; GPT-4o mini asks each question alone, numbered. Images fit 512x512 (small ones enlarged),
JPEG quality 95, labelled by file extension (GPT-4o) or as JPEG (mini, Claude: Anthropic checks
the label). ``max_tokens`` 200 (mini 600); no temperature is sent (the API's default). A reply
with one of the script's error keywords (``please``, ``sorry``, ...) is asked again, 5 sends in
all (mini 3), then left unanswered.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import MARKED_NOTE, Message, Part, knowledge_text
from adlab.pipelines.mmad.protocol.base import (Ask, Generation, ImagePolicy, Inputs,
                                                LocalOptions)
from adlab.pipelines.mmad.protocol.common import official_reader, question_text

_LIST = ("\n\nFinally, you should output a list of answer, such as:\n1. Answer: B.\n"
         "2. Answer: B.\n3. Answer: A.\n...\n")
_HEAD = ("\nYou are an industrial inspector who checks products by images. You should judge "
         "whether there is a defect in the query image and answer the questions about it.\n"
         "Answer with the option's letter from the given choices directly")
INSTRUCTION_4O = _HEAD + "!" + _LIST
INSTRUCTION_4O_MINI = _HEAD + "." + _LIST
# The marked image goes just before the query image, so "the last image" stays the query image.
MARKED_BEFORE_QUERY = MARKED_NOTE.replace("Following is the reference image",
                                          "The image before the last one is the reference image")


# A reply containing one of these is asked again (``send_request_to_api``), up to the
# script's max_retries sends in all; after that the question's answer is empty.
ERROR_KEYWORDS = ("please", "sorry", "today", "cannot assist")


def refused(text: str) -> bool:
    lower = text.lower()
    return any(word in lower for word in ERROR_KEYWORDS)


def template_sentence(k: int) -> str:
    return (f"The first {k} image is the normal sample, which can be used as a template to "
            f"compare." if k else "")


def api_text(instruction: str, inputs: Inputs, listed: Sequence[Question], numbered: bool) -> str:
    """``instruction + incontext + "The last image is the query image" + "Following is the
    question list: " + '\\n' + conversation_text`` of gpt4o.py/gemini_query.py; domain
    knowledge, the marked image's note and the AD text (adlab's additions, absent from those
    scripts) go after the instruction and after the query sentence."""
    extras = [s for s in (MARKED_BEFORE_QUERY if inputs.marked is not None else "",
                          inputs.ad_text or "") if s]
    return (instruction + (knowledge_text(inputs.knowledge) if inputs.knowledge else "")
            + template_sentence(len(inputs.templates)) + "The last image is the query image"
            + ("\n" + "\n".join(e.strip() for e in extras) + "\n" if extras else "")
            + "Following is the question list: " + "\n"
            + "".join(question_text(q, numbered) + "\n" for q in listed))


def api_images(inputs: Inputs) -> list[Part]:
    return [*inputs.templates, *([inputs.marked] if inputs.marked is not None else []),
            inputs.query]


@dataclass
class Gpt4o:
    name: str = "gpt4o"
    parse_family: str = "gpt4o"
    instruction: str = INSTRUCTION_4O
    cumulative: bool = True
    numbered: bool = False
    max_tokens: int = 200
    sends: int = 5  # max_retries (gpt4o-mini.py: 3)
    images: ImagePolicy = field(default_factory=lambda: ImagePolicy("fit", mime="extension"))
    local: LocalOptions = field(default_factory=LocalOptions)

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        return Generation(max_tokens if max_tokens is not None else self.max_tokens, temperature)

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        out = []
        for i, q in enumerate(questions):
            if q.index not in todo:
                continue
            listed = list(questions[: i + 1]) if self.cumulative else [q]
            text = api_text(self.instruction, inputs, listed, self.numbered)
            out.append(Ask([Message("user", [*api_images(inputs), text])], [q],
                           official_reader(self.parse_family, q, False), listed,
                           refused=refused, sends=self.sends))
        return out


def gpt4o_mini(box: tuple[int, int] = (512, 512)) -> Gpt4o:
    return Gpt4o(name="gpt4o-mini", instruction=INSTRUCTION_4O_MINI, cumulative=False,
                 numbered=True, max_tokens=600, sends=3,
                 images=ImagePolicy("fit", box, mime="jpeg"))


def claude(box: tuple[int, int] = (512, 512)) -> Gpt4o:
    return Gpt4o(name="claude", parse_family="claude", images=ImagePolicy("fit", box, mime="jpeg"))


def gpt4o(box: tuple[int, int] = (512, 512)) -> Gpt4o:
    return Gpt4o(images=ImagePolicy("fit", box, mime="extension"))
