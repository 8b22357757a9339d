"""Query protocols of the ``mmad`` pipeline, one module per MMAD script family, behind one
interface (:class:`~adlab.pipelines.mmad.protocol.base.QueryProtocol`).

``protocol: official`` picks the family of the run's model (``family`` in params, else the
registry entry's, else a hint in the model's name) and reproduces that MMAD query script:
``gpt4o``, ``gpt4o-mini``, ``claude``, ``gemini``, ``qwen`` (Qwen2.5-VL), ``qwen-vl``
(Qwen-VL-Chat), ``llava``, ``cambrian``, ``internvl``, ``minicpm``. ``protocol: adlab`` is adlab's
own prompt with the strict reading.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from adlab.metrics.mmad_parsing import ADLAB, OFFICIAL
from adlab.pipelines.mmad.parsing import AnswerReader, family_of
from adlab.pipelines.mmad.protocol.base import (Ask, Generation, ImagePolicy, Inputs,
                                                LocalOptions, OfficialOptions, QueryProtocol)

__all__ = ["Ask", "FAMILIES", "Generation", "ImagePolicy", "Inputs", "LocalOptions",
           "OFFICIAL_OPTIONS", "OfficialOptions", "QueryProtocol", "family_for", "options_of",
           "protocol_for", "refused_option", "run_family"]

Box = tuple[int, int]
Opts = OfficialOptions


def _gpt4o(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.gpt4o import gpt4o
    return gpt4o(box)


def _gpt4o_mini(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.gpt4o import gpt4o_mini
    return gpt4o_mini(box)


def _claude(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.gpt4o import claude
    return claude(box)


def _gemini(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.gemini import gemini
    return gemini(box)


def _llava(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.llava import llava
    return llava(box, seed, opts)


def _cambrian(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.llava import cambrian
    return cambrian(box, seed, opts)


def _qwen(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.qwen import qwen
    return qwen()


def _qwen_vl(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.qwen import qwen_vl
    return qwen_vl(opts)


def _internvl(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.internvl import internvl
    return internvl(opts)


def _minicpm(box: Box, seed: int, opts: Opts) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.minicpm import minicpm
    return minicpm(opts)


# Family -> protocol factory (the fit box of the 512-pixel families, the option-shuffle seed,
# the run's official options).
FAMILIES: dict[str, Callable[[Box, int, Opts], QueryProtocol]] = {
    "gpt4o": _gpt4o, "gpt4o-mini": _gpt4o_mini, "claude": _claude, "gemini": _gemini,
    "qwen": _qwen, "qwen-vl": _qwen_vl, "llava": _llava, "cambrian": _cambrian,
    "internvl": _internvl, "minicpm": _minicpm,
}

# The official scripts' prompt options: params field -> (the scripts' flag, the families whose
# script takes it and acts on it). GPT-4o, GPT-4o mini and Gemini's scripts take none of them;
# the Qwen2.5-VL script accepts --record_history but its branch is `pass` (the run stops at its
# first reply), so it is not offered; --defect_shot is parsed by the InternVL script only (the
# LLaVA/Cambrian scripts build defect-shot prompts but always pass an empty list).
OFFICIAL_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "eval.cot": ("--CoT", ("llava", "cambrian", "internvl")),
    "eval.text_only": ("--text_only", ("llava", "cambrian")),
    "eval.record_history": ("--record_history", ("llava", "cambrian", "internvl", "minicpm",
                                                 "qwen-vl")),
    "eval.defect_shot": ("--defect_shot", ("internvl",)),
}


def _and(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def options_of(ev: Any) -> OfficialOptions:
    """The official options of a run's ``eval`` params."""
    return OfficialOptions(cot=bool(ev.cot), text_only=bool(ev.text_only),
                           record_history=bool(ev.record_history),
                           defect_shot=int(ev.defect_shot or 0))


def option_refusal(field: str, family: str, protocol: str) -> str:
    """The sentence refusing ``field`` for a run of ``family`` under ``protocol``."""
    flag, families = OFFICIAL_OPTIONS[field]
    if protocol != OFFICIAL:
        return (f"{field} is MMAD's {flag} of protocol official, which only the {_and(families)} "
                f"scripts support; set protocol: official with one of those families or "
                f"remove {field}")
    return (f"{field} ({flag}) is not supported by the {family} family's official MMAD script; "
            f"only the {_and(families)} scripts support it, so set family to one of them or "
            f"remove {field}")


def refused_option(ev: Any, family: str, protocol: str) -> Optional[str]:
    """The refusal of the first official option the run sets that its family's script (or
    protocol adlab) does not support; None when all are supported."""
    opts = options_of(ev)
    for field, value in (("eval.cot", opts.cot), ("eval.text_only", opts.text_only),
                         ("eval.record_history", opts.record_history),
                         ("eval.defect_shot", opts.defect_shot)):
        if value and (protocol != OFFICIAL or family not in OFFICIAL_OPTIONS[field][1]):
            return option_refusal(field, family, protocol)
    return None


# Name hints checked before the reading families' (parsing.family_of): scripts that share a
# reading rule but not a prompt.
_HINTS = (("gpt-4o-mini", "gpt4o-mini"), ("gpt4o-mini", "gpt4o-mini"), ("qwen-vl-chat", "qwen-vl"))


def family_for(family: Optional[str], entry_family: str, *names: Optional[str]) -> str:
    """The script family: ``family`` (params), else the registry entry's, else name hints."""
    if family:
        return family
    if entry_family:
        return entry_family
    for name in names:
        text = (name or "").lower()
        for hint, found in _HINTS:
            if hint in text:
                return found
    return family_of(*names)


def protocol_for(params: Any, entry: Any) -> QueryProtocol:
    """The protocol of a run (``params``: MmadParams, ``entry``: its resolved ModelEntry)."""
    family = run_family(params, entry)
    box = tuple(params.eval.max_image_size)
    if params.protocol == OFFICIAL:
        return FAMILIES[family](box, params.eval.sample_seed,  # type: ignore[arg-type]
                                options_of(params.eval))
    from adlab.pipelines.mmad.protocol.adlab import Adlab

    reader = AnswerReader(ADLAB, FAMILIES_PARSE.get(family, family))
    return Adlab(batch=bool(params.eval.batch_mode), reader=reader,
                 images=ImagePolicy("shrink", box))  # type: ignore[arg-type]


def run_family(params: Any, entry: Any) -> str:
    """The script family of a run (``family``, the registry entry's, or the model's name)."""
    model_id = params.api.model_id or entry.model_id
    return family_for(params.family, getattr(entry, "family", ""), params.llm, model_id)


# Reading family (OFFICIAL_RULES key) of each script family.
FAMILIES_PARSE = {"gpt4o-mini": "gpt4o", "qwen-vl": "qwen"}
