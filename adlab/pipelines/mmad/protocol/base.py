"""What a query protocol is: for one image, the requests to send and how each reply is read.

A protocol (``adlab``, or ``official`` = one MMAD query script per model family) turns an
image's prepared inputs (:class:`Inputs`) and its questions into :class:`Ask` objects: the
messages of one request, the questions its reply answers and the reading of that reply. It
also says how images are prepared (:class:`ImagePolicy`), which generation parameters go with
the requests (:class:`Generation`) and, for local models, extra chat-template and processor
arguments (:class:`LocalOptions`). The engine only ever sees this interface.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

from PIL import Image

from adlab.metrics.mmad_parsing import Parsed
from adlab.pipelines.mmad.data import Question
from adlab.pipelines.mmad.prompting import (ImagePart, Message, encode_jpeg, encode_png, fit_box,
                                            load_image, mime_by_extension, open_rgb)


@dataclass(frozen=True)
class Generation:
    """Sampling parameters; None = not sent (the API's or the checkpoint's own default)."""

    max_tokens: Optional[int]
    temperature: Optional[float]


@dataclass(frozen=True)
class LocalOptions:
    """Local (transformers) extras: chat-template arguments and processor loading arguments."""

    chat_template: dict[str, Any] = field(default_factory=dict)
    processor: dict[str, Any] = field(default_factory=dict)
    max_new_tokens: int = 200  # when Generation.max_tokens is None (generate needs a number)


@dataclass(frozen=True)
class ImagePolicy:
    """How an image file becomes an :class:`ImagePart`.

    ``shrink``: fit ``box`` without enlarging, JPEG q90 (adlab). ``fit``: fit ``box`` enlarging
    small images, JPEG at ``quality``, local models see the decoded JPEG (MMAD's API and LLaVA
    scripts). ``original``: the file's own bytes and pixels (Qwen2.5-VL, MiniCPM: the
    processor resizes). ``square``: resized to ``box`` ignoring the aspect ratio, bicubic, sent
    as PNG (InternVL's single 448 tile). ``mime``: ``jpeg`` or ``extension`` (the label MMAD's
    GPT-4o/Gemini scripts send, by file extension, with ``mime_default`` for other extensions).
    """

    kind: str
    box: tuple[int, int] = (512, 512)
    quality: int = 95
    mime: str = "jpeg"
    mime_default: str = "image/jpeg"
    # local models: a pre-resize applied to "original" images (Qwen's qwen_vl_utils rounding)
    local_resize: Optional[Callable[[Image.Image], Image.Image]] = None

    def load(self, path: Path) -> ImagePart:
        if self.kind == "shrink":
            return load_image(path, self.box)
        data = path.read_bytes() if self.kind == "original" and path.is_file() else None
        return self.prepare(open_rgb(path), str(path), data)

    def prepare(self, img: Image.Image, source: str, data: Optional[bytes] = None) -> ImagePart:
        """``img`` (RGB) as this policy sends it; ``data``: the original file's bytes, if any."""
        label = "image/jpeg" if self.mime == "jpeg" else mime_by_extension(source, self.mime_default)
        if self.kind == "shrink":
            scale = min(self.box[0] / img.width, self.box[1] / img.height, 1.0)
            if scale < 1.0:
                img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))),
                                 Image.Resampling.LANCZOS)
            return ImagePart(img, source)
        if self.kind == "fit":
            data = encode_jpeg(fit_box(img, self.box), self.quality)
            with Image.open(io.BytesIO(data)) as decoded:
                seen = decoded.convert("RGB")
            return ImagePart(seen, source, self.quality, label, data)
        if self.kind == "square":
            square = img.resize(self.box, Image.Resampling.BICUBIC)
            return ImagePart(square, source, self.quality, "image/png", encode_png(square))
        if self.kind == "original":
            seen = self.local_resize(img) if self.local_resize is not None else img
            if data is None:
                return ImagePart(seen, source, self.quality, "image/png", encode_png(img))
            return ImagePart(seen, source, self.quality, mime_by_extension(source, "image/png"),
                             data)
        raise ValueError(f"unknown image policy {self.kind!r}")


@dataclass
class Inputs:
    """What every request about one image shares."""

    templates: list[ImagePart]
    query: ImagePart
    ad_text: Optional[str] = None  # the AD findings as text
    marked: Optional[ImagePart] = None  # the query image with the AD findings drawn on it
    knowledge: Optional[str] = None  # MMAD's domain knowledge of the category
    defects: list[ImagePart] = field(default_factory=list)  # defect shots (InternVL's --defect_shot)


Reader = Callable[[Optional[str]], list[Parsed]]


@dataclass
class Ask:
    """One request: its messages, the questions its reply answers (``targets``, in order) and
    the reading of the reply (one :class:`Parsed` per target). ``listed`` is every question the
    request shows (GPT-4o's cumulative requests list earlier questions too)."""

    messages: list[Message]
    targets: list[Question]
    read: Reader
    listed: list[Question] = field(default_factory=list)
    # the answer key of each target as presented (LLaVA's shuffled options), else the original
    presented: dict[int, Question] = field(default_factory=dict)
    # a reply the script does not accept (GPT-4o's error keywords): sent again, at most
    # ``sends`` times in all; still refused, the question gets no answer
    refused: Optional[Callable[[str], bool]] = None
    sends: int = 1
    # the request's own answer length (MMAD's chain-of-thought request), else the run's
    max_tokens: Optional[int] = None

    @property
    def shared(self) -> bool:
        return len(self.targets) > 1


@dataclass(frozen=True)
class OfficialOptions:
    """The official scripts' prompt options a run sets (``eval.cot``, ``eval.text_only``,
    ``eval.record_history``, ``eval.defect_shot``; MMAD's ``--CoT``, ``--text_only``,
    ``--record_history``, ``--defect_shot``)."""

    cot: bool = False
    text_only: bool = False
    record_history: bool = False
    defect_shot: int = 0


@dataclass(frozen=True)
class Turn:
    """An earlier request of an image's chain and its reply: ``question`` as it was shown
    (None: the chain-of-thought request)."""

    question: Optional[Question]
    reply: str


@dataclass
class Chain:
    """An image's requests asked in order, each built from the replies before it (MMAD's
    ``--CoT``: one chain-of-thought request first; ``--record_history``: earlier questions and
    their replies). ``ask(turns, q)`` is question ``q``'s request given the turns kept so far;
    with ``keep_answers`` each question's reply becomes a turn too. ``todo``: the indices to ask
    (the others are replayed from their stored replies)."""

    questions: list[Question]
    todo: set[int]
    ask: Callable[[list[Turn], Question], Ask]
    cot: Optional[Ask] = None
    keep_answers: bool = False


class QueryProtocol(Protocol):
    """One protocol family (see the module docstring)."""

    name: str
    parse_family: str  # the reading rule (adlab.metrics.mmad_parsing.OFFICIAL_RULES key)
    images: ImagePolicy
    local: LocalOptions

    def generation(self, max_tokens: Optional[int], temperature: Optional[float]) -> Generation:
        """The requests' parameters given the run's explicit ``eval`` values (None = default)."""
        ...

    def asks(self, inputs: Inputs, questions: Sequence[Question], todo: set[int]) -> list[Ask]:
        """The requests for the questions of one image whose index is in ``todo``."""
        ...


def finalize(protocol: QueryProtocol, records: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records a protocol rewrites once all answers are in (Gemini drops an image whose second
    reply it cannot split); most protocols rewrite none. An optional ``finalize`` method."""
    hook = getattr(protocol, "finalize", None)
    return hook(records) if callable(hook) else {}


def with_options(q: Question, order: Sequence[str]) -> Question:
    """``q`` with its options presented in ``order`` (original letters) relabelled A, B, ...;
    the answer key follows its option (MMAD's LLaVA/Cambrian scripts shuffle so)."""
    letters = [chr(65 + i) for i in range(len(order))]
    options = {new: q.options[old] for new, old in zip(letters, order)}
    answer = letters[list(order).index(q.answer)] if q.answer in order else q.answer
    return replace(q, options=options, answer=answer)


def chain_of(protocol: QueryProtocol, inputs: Inputs, questions: Sequence[Question],
             todo: set[int]) -> Optional[Chain]:
    """The image's requests as a :class:`Chain` when the run's options make them depend on
    earlier replies (an optional ``chain`` method); None: independent :class:`Ask` requests."""
    hook = getattr(protocol, "chain", None)
    return hook(inputs, questions, todo) if callable(hook) else None
