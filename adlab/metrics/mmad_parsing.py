"""Reading the chosen letter A-E out of a model reply, under two protocols.

``official`` reproduces the MMAD query scripts (jam-cc/MMAD ``evaluation/examples``): the
pattern ``\\b([A-E])\\b`` with Python's Unicode word boundaries (so ``答案是B`` holds no letter,
while ``éA`` ... is split only where Unicode says a word ends), the first match for the LLaVA and
Cambrian scripts, the last for GPT-4o, Gemini, Qwen, InternVL and MiniCPM, and, for the scripts
that pass the options (Qwen, LLaVA, Cambrian), ``difflib.get_close_matches(reply, option texts,
n=1, cutoff=0.0)`` when no letter is found.

``adlab`` (strict) reads a letter only where it is an answer: the whole reply, a marked answer
(``Answer: C``, ``the answer is (D)``), a leading label (``B. A small scratch``) or a letter in
parentheses; otherwise the last standalone capital letter that is not the article "A" before a
word (``A scratch``), nor part of an abbreviation (``E.g.``). It never guesses from option texts.

Every result is a :class:`Parsed`: the letter (or None) and the rule that produced it, stored
next to the raw reply so a score can always be traced to its reading.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Mapping, Optional

CHOICES = ("A", "B", "C", "D", "E")
OFFICIAL = "official"
ADLAB = "adlab"
PROTOCOLS = (OFFICIAL, ADLAB)

# The query scripts' pattern, verbatim: Python str patterns use Unicode word boundaries.
OFFICIAL_PATTERN = re.compile(r'\b([A-E])\b')


@dataclass(frozen=True)
class OfficialRule:
    """How one official query script turns a reply into a letter."""

    pick: str  # "first" | "last"
    fuzzy: bool  # difflib fallback over the option texts when no letter is found


# Family -> rule, from the scripts' ``gpt_answer[0]``/``gpt_answer[-1]`` and whether they pass
# ``options`` to ``parse_answer``. Unknown families use the GPT-4o script (API models).
OFFICIAL_RULES: dict[str, OfficialRule] = {
    "gpt4o": OfficialRule("last", False),
    "gemini": OfficialRule("last", False),
    "claude": OfficialRule("last", False),
    "internvl": OfficialRule("last", False),
    "minicpm": OfficialRule("last", False),
    "qwen": OfficialRule("last", True),
    "llava": OfficialRule("first", True),
    "cambrian": OfficialRule("first", True),
}
DEFAULT_FAMILY = "gpt4o"


@dataclass(frozen=True)
class Parsed:
    letter: Optional[str]
    rule: str  # e.g. "official:last", "official:fuzzy", "adlab:marked", "none"

    @property
    def ok(self) -> bool:
        return self.letter is not None


NONE = "none"


def official_letters(text: str) -> list[str]:
    """Every ``\\b([A-E])\\b`` match, as the scripts' ``pattern.findall(response_text)``."""
    return OFFICIAL_PATTERN.findall(text)


def official_fuzzy(text: str, options: Mapping[str, str]) -> Optional[str]:
    """The scripts' fallback: the option whose text is closest to the whole reply."""
    values = list(options.values())
    matches = get_close_matches(text, values, n=1, cutoff=0.0)
    if matches:
        for key, value in options.items():
            if value == matches[0]:
                return key
    return None


def parse_official(text: Optional[str], family: str = DEFAULT_FAMILY,
                   options: Optional[Mapping[str, str]] = None) -> Parsed:
    """The letter the official script of ``family`` would store for this reply (None where the
    script stores no letter: a failed request, or no match and no fallback)."""
    if not isinstance(text, str):
        return Parsed(None, NONE)
    rule = OFFICIAL_RULES.get(family, OFFICIAL_RULES[DEFAULT_FAMILY])
    found = official_letters(text)
    if found:
        return Parsed(found[0] if rule.pick == "first" else found[-1], f"official:{rule.pick}")
    if rule.fuzzy and options:
        letter = official_fuzzy(text, options)
        if letter is not None:
            return Parsed(letter, "official:fuzzy")
    return Parsed(None, NONE)


# --- strict (adlab) -----------------------------------------------------------------------
_L = r"(?<![^\W_])"  # no letter/digit before (Unicode-aware)
_R = r"(?![^\W_])"  # no letter/digit after
_BARE = re.compile(r"^[\s*_`'\"(\[]*([A-E])[\s*_`'\")\].:;!,]*$")
_MARKED = re.compile(
    r"(?i:\b(?:final\s+)?(?:answer|option|choice)s?\b(?:\s+(?:is|would\s+be|should\s+be))?"
    r"\s*(?:[:：=\-]|\bis\b)?\s*[*_`\"']*|答案\s*(?:是|为|[:：])?\s*)"
    rf"[(\[]?\s*([A-E]){_R}(?![.'’]\w)")
_LEADING = re.compile(r"^[\s*_`]*[(\[]?([A-E])(?:[)\]][.:：]?|[.:：])(?=\s|$)")
_PAREN = re.compile(r"[(\[]([A-E])[)\]]")
_CANDIDATE = re.compile(rf"{_L}([A-E]){_R}")
# "A" as the English article or an abbreviation's first letter is no answer.
_VERBS = {"is", "was", "seems", "appears", "looks", "fits", "matches", "would", "should",
          "best", "correct", "describes", "applies"}
_WORD_AFTER = re.compile(r"\s+([a-z][a-z'-]*)")


def _is_answer_letter(text: str, start: int, end: int) -> bool:
    if re.match(r"[.'’]\w", text[end:end + 2]):  # E.g., A's, D.C.
        return False
    if text[start] == "A":
        after = _WORD_AFTER.match(text, end)
        if after and after.group(1) not in _VERBS:
            return False  # "A scratch", "A small", "A or rather C"
    return True


def strict_letters(text: str) -> list[str]:
    """The standalone capitals A-E of ``text`` that can be answers (not an article, not an
    abbreviation), in order."""
    return [m.group(1) for m in _CANDIDATE.finditer(text)
            if _is_answer_letter(text, m.start(1), m.end(1))]


def parse_strict(text: Optional[str]) -> Parsed:
    """adlab's reading: a letter only where it stands as the answer (see the module docstring)."""
    if not isinstance(text, str) or not text.strip():
        return Parsed(None, NONE)
    bare = _BARE.match(text)
    if bare:
        return Parsed(bare.group(1), "adlab:bare")
    marked = _MARKED.findall(text)
    if marked:
        return Parsed(marked[-1], "adlab:marked")
    leading = _LEADING.match(text)
    if leading:
        return Parsed(leading.group(1), "adlab:leading")
    paren = set(_PAREN.findall(text))
    if len(paren) == 1:
        return Parsed(paren.pop(), "adlab:parenthesized")
    letters = strict_letters(text)
    if letters:
        return Parsed(letters[-1], "adlab:last")
    return Parsed(None, NONE)


def parse_reply(text: Optional[str], protocol: str, family: str = DEFAULT_FAMILY,
                options: Optional[Mapping[str, str]] = None) -> Parsed:
    """One entry point: ``protocol`` official (per-family script rule) or adlab (strict)."""
    if protocol == OFFICIAL:
        return parse_official(text, family, options)
    if protocol == ADLAB:
        return parse_strict(text)
    raise ValueError(f"unknown MMAD protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
