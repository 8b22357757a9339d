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
                                                LocalOptions, QueryProtocol)

__all__ = ["Ask", "FAMILIES", "Generation", "ImagePolicy", "Inputs", "LocalOptions",
           "QueryProtocol", "family_for", "protocol_for"]

Box = tuple[int, int]


def _gpt4o(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.gpt4o import gpt4o
    return gpt4o(box)


def _gpt4o_mini(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.gpt4o import gpt4o_mini
    return gpt4o_mini(box)


def _claude(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.gpt4o import claude
    return claude(box)


def _gemini(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.gemini import gemini
    return gemini(box)


def _llava(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.llava import llava
    return llava(box, seed)


def _cambrian(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.llava import cambrian
    return cambrian(box, seed)


def _qwen(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.qwen import qwen
    return qwen()


def _qwen_vl(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.qwen import qwen_vl
    return qwen_vl()


def _internvl(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.internvl import internvl
    return internvl()


def _minicpm(box: Box, seed: int) -> QueryProtocol:
    from adlab.pipelines.mmad.protocol.minicpm import minicpm
    return minicpm()


# Family -> protocol factory (the fit box of the 512-pixel families, the option-shuffle seed).
FAMILIES: dict[str, Callable[[Box, int], QueryProtocol]] = {
    "gpt4o": _gpt4o, "gpt4o-mini": _gpt4o_mini, "claude": _claude, "gemini": _gemini,
    "qwen": _qwen, "qwen-vl": _qwen_vl, "llava": _llava, "cambrian": _cambrian,
    "internvl": _internvl, "minicpm": _minicpm,
}
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
    model_id = params.api.model_id or entry.model_id
    family = family_for(params.family, getattr(entry, "family", ""), params.llm, model_id)
    box = tuple(params.eval.max_image_size)
    if params.protocol == OFFICIAL:
        return FAMILIES[family](box, params.eval.sample_seed)  # type: ignore[arg-type]
    from adlab.pipelines.mmad.protocol.adlab import Adlab

    reader = AnswerReader(ADLAB, FAMILIES_PARSE.get(family, family))
    return Adlab(batch=bool(params.eval.batch_mode), reader=reader,
                 images=ImagePolicy("shrink", box))  # type: ignore[arg-type]


# Reading family (OFFICIAL_RULES key) of each script family.
FAMILIES_PARSE = {"gpt4o-mini": "gpt4o", "qwen-vl": "qwen"}
