"""Prompts as MMAD builds them: instruction, normal templates, the query image, the AD model's
findings (when an AD model feeds the run) and the questions with options A-E.

Messages are provider-neutral (:class:`Message` with text and image parts); each client turns
them into its SDK's format. Under protocol ``adlab`` images shrink to ``max_image_size`` (width,
height) keeping the aspect ratio; the image rules of protocol ``official`` (fit with
enlarging, JPEG quality, original files, 448 squares) live in
:mod:`adlab.pipelines.mmad.protocol` and use the helpers here. Images are decoded once per
image and shared by its questions.
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
    """One image of a prompt: the pixels a local model sees and the bytes an API receives.

    ``data`` is sent as is when set (an original file, an encoded JPEG); otherwise the image is
    encoded as JPEG at ``quality`` once. ``mime`` is the label sent with the bytes; MMAD's
    GPT-4o and Gemini scripts label by file extension whatever the encoding, so it is kept
    separate from the bytes on purpose.
    """

    image: Image.Image  # RGB, already resized
    source: str  # path, for logs
    quality: int = 90
    mime: str = "image/jpeg"
    data: Optional[bytes] = field(default=None, repr=False)

    def payload(self) -> bytes:
        if self.data is None:
            buf = io.BytesIO()
            self.image.save(buf, format="JPEG", quality=self.quality)
            self.data = buf.getvalue()
        return self.data

    def jpeg(self) -> bytes:
        """The bytes to send (kept under its old name: a JPEG unless ``data`` says otherwise)."""
        return self.payload()

    def base64(self) -> str:
        return base64.b64encode(self.payload()).decode("ascii")


Part = Union[str, ImagePart]


@dataclass
class Message:
    role: str  # "user" | "assistant"
    parts: list[Part]

    @property
    def text(self) -> str:
        return "\n".join(p for p in self.parts if isinstance(p, str))


def open_rgb(path: Path) -> Image.Image:
    """The file as an RGB image; one sentence naming the file when it cannot be read."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise NotFoundError(f"image {path} does not exist; check data_root (the MMAD folder)") from None
    except OSError as exc:
        raise PipelineError(f"cannot read image {path} ({exc})") from None


def load_image(path: Path, max_size: tuple[int, int]) -> ImagePart:
    """RGB image no larger than ``max_size`` = (width, height), aspect ratio kept."""
    img = open_rgb(path)
    max_w, max_h = max_size
    scale = min(max_w / img.width, max_h / img.height, 1.0)
    if scale < 1.0:
        img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))),
                         Image.Resampling.LANCZOS)
    return ImagePart(image=img, source=str(path))


def mime_by_extension(source: str, default: str = "image/jpeg") -> str:
    """The label MMAD's API scripts put on an image: by the file's extension."""
    lower = source.lower()
    if lower.endswith(".png"):
        return "image/png"
    if lower.endswith((".jpg", ".jpeg")):
        return "image/jpeg"
    return default


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def fit_box(img: Image.Image, box: tuple[int, int]) -> Image.Image:
    """Scale to fit ``box`` (width, height) keeping the aspect ratio, enlarging small images
    too, sizes truncated: MMAD's ``encode_image_to_base64`` (cv2 INTER_AREA; here PIL's box
    filter when shrinking and bilinear when enlarging, which is what INTER_AREA does)."""
    scale = min(box[0] / img.width, box[1] / img.height)
    size = (max(1, int(img.width * scale)), max(1, int(img.height * scale)))
    if size == img.size:
        return img
    resample = Image.Resampling.BOX if scale < 1.0 else Image.Resampling.BILINEAR
    return img.resize(size, resample)


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


# MMAD's wording for its two prompt additions (domain knowledge; the Expert Agent's marked image,
# InternVL script, bbox notation). adlab's own prompt uses them too.
KNOWLEDGE_LEAD = ("Following is the domain knowledge which contains some type of defect and the "
                  "normal object characteristics: \n ")
MARKED_NOTE = ("Following is the reference image where some suspicious areas are marked by red "
               "bounding boxes. Please note that even if the query image does not have any "
               "defects, the red boxes still highlight some areas. Therefore, you still need to "
               "make a judgement by yourself. ")


def knowledge_text(knowledge: str) -> str:
    return KNOWLEDGE_LEAD + knowledge


def intro_parts(templates: Sequence[ImagePart], query: ImagePart, ad_text: Optional[str],
                batch: bool, knowledge: Optional[str] = None,
                marked: Optional[ImagePart] = None) -> list[Part]:
    parts: list[Part] = [INSTRUCTION, BATCH_FORMAT if batch else SINGLE_FORMAT]
    if knowledge:
        parts.append(knowledge_text(knowledge))
    if templates:
        parts.append(f"The following {len(templates)} image(s) show normal samples; use them as "
                     f"templates to compare the query image with.")
        parts.extend(templates)
    parts.append("The following image is the query image.")
    parts.append(query)
    if marked is not None:
        parts.extend([MARKED_NOTE.strip(), marked])
    if ad_text:
        parts.append(ad_text)
    return parts


def build_request(templates: Sequence[ImagePart], query: ImagePart, questions: Sequence[Question],
                  ad_text: Optional[str], batch: bool, knowledge: Optional[str] = None,
                  marked: Optional[ImagePart] = None) -> list[Message]:
    """One user message: intro, images, then one question or the numbered question list."""
    parts = intro_parts(templates, query, ad_text, batch, knowledge, marked)
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
