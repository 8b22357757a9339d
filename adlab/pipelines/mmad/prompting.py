"""Prompts as MMAD builds them: instruction, normal templates, the query image, the AD model's
findings (when an AD model feeds the run) and the questions with options A-E.

Messages are provider-neutral (:class:`Message` with text and image parts); each client turns
them into its SDK's format. Images shrink to ``max_image_size`` (width, height) keeping the
aspect ratio, as MMAD's query scripts do, and are decoded once per image and shared by its
questions.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from PIL import Image

from adlab.errors import NotFoundError, PipelineError
from adlab.pipelines.mmad.data import Question

INSTRUCTION = (
    "You are an industrial inspector who checks products in images. Decide whether the query "
    "image shows a defect and answer the questions about it. Answer with the letter of the "
    "chosen option."
)
BATCH_FORMAT = ("Answer every question, one per line, in the form:\n"
                "1. Answer: B.\n2. Answer: A.\n...")
SINGLE_FORMAT = "Answer with the option's letter from the given choices directly."


@dataclass
class ImagePart:
    image: Image.Image  # RGB, already resized
    source: str  # path, for logs

    _jpeg: Optional[bytes] = field(default=None, repr=False)

    def jpeg(self) -> bytes:
        if self._jpeg is None:
            buf = io.BytesIO()
            self.image.save(buf, format="JPEG", quality=90)
            self._jpeg = buf.getvalue()
        return self._jpeg

    def base64(self) -> str:
        return base64.b64encode(self.jpeg()).decode("ascii")

    mime = "image/jpeg"


Part = Union[str, ImagePart]


@dataclass
class Message:
    role: str  # "user" | "assistant"
    parts: list[Part]

    @property
    def text(self) -> str:
        return "\n".join(p for p in self.parts if isinstance(p, str))


def load_image(path: Path, max_size: tuple[int, int]) -> ImagePart:
    """RGB image no larger than ``max_size`` = (width, height), aspect ratio kept."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except FileNotFoundError:
        raise NotFoundError(f"image {path} does not exist; check data_root (the MMAD folder)") from None
    except OSError as exc:
        raise PipelineError(f"cannot read image {path} ({exc})") from None
    max_w, max_h = max_size
    scale = min(max_w / img.width, max_h / img.height, 1.0)
    if scale < 1.0:
        img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))),
                         Image.Resampling.LANCZOS)
    return ImagePart(image=img, source=str(path))


def format_question(q: Question, number: Optional[int] = None) -> str:
    options = "\n".join(f"{letter}. {text}" for letter, text in q.options.items())
    prefix = f"{number}. " if number is not None else ""
    return f"{prefix}Question: {q.text}\n{options}"


def describe_ad(info: Mapping[str, Any], image_hw: Optional[tuple[int, int]] = None) -> str:
    """The AD model's findings for the query image, as one paragraph for the prompt."""
    meta = info.get("metadata") or {}
    model = meta.get("model_type") or "anomaly detection model"
    score = info.get("anomaly_score")
    threshold = info.get("threshold_used")
    verdict = "ANOMALOUS" if info.get("is_anomaly") else "NORMAL"
    text = (f"An anomaly detection model ({model}) analysed the query image: anomaly score "
            f"{_num(score)} against threshold {_num(threshold)}, so it judged the image {verdict}.")
    loc = info.get("defect_location") or {}
    if loc.get("has_defect"):
        text += f" Suspected defect region: {loc.get('region')} of the image"
        if loc.get("bbox"):
            size = f" of a {image_hw[1]}x{image_hw[0]} image" if image_hw else ""
            text += f", bounding box {list(loc['bbox'])} (x1, y1, x2, y2 in pixels{size})"
        if loc.get("area_ratio") is not None:
            text += f", covering about {100 * float(loc['area_ratio']):.1f}% of the image"
        text += "."
    return text + " The detector can be wrong; use it as a hint next to your own inspection."


def _num(value: Any) -> str:
    return f"{float(value):.4g}" if isinstance(value, (int, float)) else "unknown"


def intro_parts(templates: Sequence[ImagePart], query: ImagePart, ad_text: Optional[str],
                batch: bool) -> list[Part]:
    parts: list[Part] = [INSTRUCTION, BATCH_FORMAT if batch else SINGLE_FORMAT]
    if templates:
        parts.append(f"The following {len(templates)} image(s) show normal samples; use them as "
                     f"templates to compare the query image with.")
        parts.extend(templates)
    parts.append("The following image is the query image.")
    parts.append(query)
    if ad_text:
        parts.append(ad_text)
    return parts


def build_request(templates: Sequence[ImagePart], query: ImagePart, questions: Sequence[Question],
                  ad_text: Optional[str], batch: bool) -> list[Message]:
    """One user message: intro, images, then one question or the numbered question list."""
    parts = intro_parts(templates, query, ad_text, batch)
    if batch:
        parts.append("Following is the question list:\n" + "\n".join(
            format_question(q, i + 1) for i, q in enumerate(questions)))
    else:
        [q] = questions
        parts.append(format_question(q))
    return [Message("user", parts)]


def follow_up(history: list[Message], answer: str, question: Question) -> list[Message]:
    """Chat history mode: the previous turns, the model's answer, then the next question."""
    return [*history, Message("assistant", [answer]), Message("user", [format_question(question)])]
