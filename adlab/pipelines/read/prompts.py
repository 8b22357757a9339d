"""Prompt templates and the leakage rule (import-light: used at queue time by the spec).

The public MVTec evaluation of READ asks ``Segment the {anomaly_type} on the {class}.`` with the
test folder name as ``anomaly_type`` - the prompt names the answer (``good`` for normal images).
adlab's default names the class only; a template that uses ``{defect_type}`` needs
``prompt.allow_defect_name: true`` and such runs are marked and compared only among themselves.
"""
from __future__ import annotations

import string

CLASS_FIELD = "class_name"
DEFECT_FIELD = "defect_type"
KNOWN_FIELDS = frozenset({CLASS_FIELD, DEFECT_FIELD})

DEFAULT_READ_TEMPLATE = "Is there any defect on the {class_name}? Please segment the defect."
# The template of the public READ-on-MVTec evaluation (leaks the defect folder name).
READ_MVTEC_LEAKY_TEMPLATE = "Segment the {defect_type} on the {class_name}."
DEFAULT_BASELINE_TEMPLATE = "a photo of a damaged {class_name} with a defect."
DEFAULT_BASELINE_NORMAL_TEMPLATE = "a photo of a flawless {class_name}."
# LISA/READ's answer for a segmentation request; used when the answer is teacher-forced.
FIXED_ANSWER = "Sure, it is [SEG]."
SEG_TOKEN = "[SEG]"
# LLaVA v1 conversation (what LISA and READ were trained with).
LLAVA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's questions.")


def template_fields(template: str) -> set[str]:
    """Names of the ``{...}`` fields a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def check_template(template: str, *, allow_defect_name: bool, where: str) -> None:
    """Raise ValueError for unknown fields, or for ``{defect_type}`` without the explicit flag."""
    try:
        fields = template_fields(template)
    except ValueError as exc:
        raise ValueError(f"{where}: template {template!r} is not a valid format string ({exc})") from None
    unknown = sorted(fields - KNOWN_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field {{{unknown[0]}}} in {template!r}; use "
                         f"{{class_name}} (and {{defect_type}} with prompt.allow_defect_name: true)")
    if DEFECT_FIELD in fields and not allow_defect_name:
        raise ValueError(f"{where}: {template!r} puts the ground-truth defect type into the prompt, "
                         f"which tells the model the answer; remove {{defect_type}} or set "
                         f"prompt.allow_defect_name: true to run the leaky protocol on purpose")


def uses_defect_name(*templates: str) -> bool:
    """True when any template names the ground-truth defect type (a leaky run)."""
    return any(DEFECT_FIELD in template_fields(t) for t in templates if t)


def class_words(category: str) -> str:
    """``metal_nut`` -> ``metal nut`` (how READ writes MVTec class names)."""
    return category.replace("_", " ").strip()


def render(template: str, category: str, defect_type: str) -> str:
    return template.format(class_name=class_words(category), defect_type=defect_type.replace("_", " "))


def llava_v1_conversation(question: str, image_placeholder: str, answer: str | None = None) -> str:
    """The LLaVA v1 chat text, image first; with ``answer`` the assistant turn is filled in."""
    text = f"{LLAVA_V1_SYSTEM} USER: {image_placeholder}\n{question} ASSISTANT:"
    return text + (f" {answer}" if answer else "")
