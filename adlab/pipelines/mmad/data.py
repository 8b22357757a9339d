"""The MMAD benchmark file and the image subset an evaluation uses.

``mmad.json`` maps an image path (relative to the MMAD root, first component = dataset) to
``{"mask_path", "similar_templates", "random_templates", "conversation": [{"Question",
"Options": {"A": ..}, "Answer", "type", "annotation"}, ...]}``. Sampling is the seed's: group
the images by folder (dataset/category/split, split = the image's parent folder such as
``good`` or a defect name), draw ``sample_per_folder`` from each with ``sample_seed``, keep the
file's order, then cut to ``max_images``. The AD run and the LLM run call the same function, so
both see exactly the same images.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Optional

from adlab.errors import ConfigError, NotFoundError

CHOICES = "ABCDE"
NORMAL_FLAG = "good"


@dataclass(frozen=True)
class Question:
    image: str
    index: int
    text: str
    options: dict[str, str]
    answer: str
    type: str

    @property
    def key(self) -> str:
        return f"{self.image}:{self.index}"


@dataclass(frozen=True)
class Subset:
    """The sampled images (in mmad.json order) and how they were drawn."""

    images: list[str]
    total: int
    folders: int
    per_folder: Optional[int]
    sha256: str

    @property
    def normal(self) -> int:
        return sum(is_normal(p) for p in self.images)

    @property
    def anomaly(self) -> int:
        return len(self.images) - self.normal

    def summary_lines(self) -> list[str]:
        """The seed's two lines (``Total: 5000 -> Sampled: 180 (normal=90, anomaly=90)``)."""
        head = (f"Stratified sampling: {self.per_folder} per folder, {self.folders} folders"
                if self.per_folder else f"No stratified sampling: {self.folders} folders")
        return [head, f"  Total: {self.total} -> Sampled: {len(self.images)} "
                      f"(normal={self.normal}, anomaly={self.anomaly})"]


def is_normal(image: str) -> bool:
    return NORMAL_FLAG in image


def resolve_root(data_root: Optional[str]) -> Path:
    """The MMAD folder: ``data_root``, else $ADLAB_DATA_ROOT (or its MMAD sub-folder)."""
    if data_root:
        return Path(data_root).expanduser()
    env = os.environ.get("ADLAB_DATA_ROOT")
    if not env:
        raise ConfigError("data_root is not set and $ADLAB_DATA_ROOT is empty; set data_root "
                          "(or --data-root) to the MMAD folder holding mmad.json")
    base = Path(env).expanduser()
    return base if (base / "mmad.json").is_file() or not (base / "MMAD").is_dir() else base / "MMAD"


def resolve_json(data_root: Optional[str], mmad_json: Optional[str]) -> Path:
    if mmad_json:
        path = Path(mmad_json).expanduser()
        if not path.is_absolute() and data_root:
            candidate = Path(data_root).expanduser() / path
            path = candidate if candidate.is_file() else path
        return path
    return resolve_root(data_root) / "mmad.json"


def load_mmad(path: Path) -> dict[str, dict[str, Any]]:
    """Read and check mmad.json (a mapping image path -> record with a conversation list)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"MMAD file {path} does not exist; set data_root (--data-root) to the "
                            f"MMAD folder or mmad_json to the file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno} column "
                          f"{exc.colno})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path} {NOT_MMAD}")
    for image, record in data.items():
        problem = record_problem(image, record)
        if problem:
            raise ConfigError(f"{path}: {problem}")
    return data


NOT_MMAD = "must be a JSON object mapping image paths to MMAD records"


def record_problem(image: str, record: Any) -> str | None:
    """Why one mmad.json entry is not an MMAD record (None when it is one)."""
    if not isinstance(record, dict) or not isinstance(record.get("conversation"), list):
        return f"entry {image!r} has no `conversation` list, so this is not MMAD's mmad.json"
    return None


def first_entries(path: Path, count: int, *, chunk: int = 1 << 16,
                  limit: int = 8 << 20) -> list[tuple[str, Any]]:
    """The first ``count`` (image, record) pairs of mmad.json, read from the head of the file
    only (the whole file is tens of megabytes): raises ConfigError when the top level is not a
    JSON object or the file ends (is broken) before ``count`` entries; stops quietly after
    ``limit`` characters (the full read, at run time, judges the rest)."""
    decoder = json.JSONDecoder()
    with Path(path).open(encoding="utf-8") as fh:
        text = ""
        while True:
            more = fh.read(chunk)
            text += more
            done = not more or len(text) >= limit
            try:
                return _head(text, count, decoder, path)
            except (json.JSONDecodeError, IndexError) as exc:
                if not done:
                    chunk *= 2
                    continue
                if more:  # the limit, not the end: nothing wrong has been seen
                    return []
                if isinstance(exc, json.JSONDecodeError):
                    raise ConfigError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno} "
                                      f"column {exc.colno})") from None
                raise ConfigError(f"{path} is not valid JSON (it ends inside its first "
                                  f"entries)") from None


def _head(text: str, count: int, decoder: json.JSONDecoder, path: Path) -> list[tuple[str, Any]]:
    """Parse the first ``count`` entries of the JSON object ``text`` starts (IndexError or
    JSONDecodeError when ``text`` ends first)."""
    def skip(i: int) -> int:
        while text[i] in " \t\r\n":
            i += 1
        return i

    i = skip(0)
    if text[i] != "{":
        raise ConfigError(f"{path} {NOT_MMAD}; its top level is "
                          f"{'a list' if text[i] == '[' else 'not an object'}")
    i = skip(i + 1)
    entries: list[tuple[str, Any]] = []
    if text[i] == "}":
        raise ConfigError(f"{path} {NOT_MMAD}; it is an empty object")
    while len(entries) < count:
        key, i = decoder.raw_decode(text, i)
        i = skip(i)
        if not isinstance(key, str) or text[i] != ":":
            raise json.JSONDecodeError("expected a string key and ':'", text, i)
        value, i = decoder.raw_decode(text, skip(i + 1))
        entries.append((key, value))
        i = skip(i)
        if text[i] == "}":
            break
        if text[i] != ",":
            raise json.JSONDecodeError("expected ',' or '}'", text, i)
        i = skip(i + 1)
    return entries


def data_paths(data_root: str | None, mmad_json: str | None) -> tuple[Path, Path]:
    """(MMAD image root, mmad.json path): the image root is data_root (else $ADLAB_DATA_ROOT
    or its MMAD sub-folder), or mmad.json's folder when only mmad_json is given."""
    json_path = resolve_json(data_root, mmad_json)
    root = resolve_root(data_root) if data_root or not mmad_json else json_path.parent
    return root, json_path


def folder_of(image: str) -> tuple[str, str, str]:
    """(dataset, category, split) of ``DS/category/.../split/file.png``."""
    parts = PurePosixPath(image.replace("\\", "/")).parts
    if len(parts) < 3:
        return (parts[0] if parts else "", "", parts[-2] if len(parts) > 1 else "")
    return parts[0], parts[1], parts[-2]


def stratified_sample(images: list[str], per_folder: Optional[int], seed: int) -> list[str]:
    """``per_folder`` images from every dataset/category/split folder (all if fewer), drawn with
    ``seed`` folder by folder in sorted folder order; the result keeps the input order."""
    if per_folder is None:
        return list(images)
    folders: dict[tuple[str, str, str], list[str]] = {}
    for image in images:
        folders.setdefault(folder_of(image), []).append(image)
    rng = random.Random(seed)
    chosen: set[str] = set()
    for key in sorted(folders):
        members = sorted(folders[key])
        chosen.update(members if len(members) <= per_folder else rng.sample(members, per_folder))
    return [image for image in images if image in chosen]


def subset_hash(data: Mapping[str, Any], images: list[str]) -> str:
    """sha256 over the sampled images and their records: same hash = same questions and templates."""
    h = hashlib.sha256()
    for image in images:
        h.update(json.dumps([image, data[image]], sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def select_images(data: Mapping[str, Any], *, per_folder: Optional[int], seed: int,
                  max_images: Optional[int]) -> Subset:
    images = list(data)
    sampled = stratified_sample(images, per_folder, seed)
    if max_images is not None:
        sampled = sampled[:max_images]
    return Subset(images=sampled, total=len(images), folders=len({folder_of(i) for i in images}),
                  per_folder=per_folder, sha256=subset_hash(data, sampled))


def questions_of(image: str, record: Mapping[str, Any]) -> list[Question]:
    """The image's questions with options A-E; a malformed one is a ConfigError naming it."""
    out = []
    for i, qa in enumerate(record.get("conversation") or []):
        options = qa.get("Options") or {}
        answer = str(qa.get("Answer", "")).strip()
        if not isinstance(options, dict) or not options or answer not in options:
            raise ConfigError(f"mmad.json: {image} question {i} has options {list(options)} and "
                              f"answer {answer!r}; the answer must be one of the option letters")
        out.append(Question(image=image, index=i, text=str(qa.get("Question", "")).strip(),
                            options={str(k): str(v) for k, v in options.items()},
                            answer=answer, type=str(qa.get("type", "unknown"))))
    return out


def templates_of(record: Mapping[str, Any], few_shot: int, similar: bool) -> list[str]:
    key = "similar_templates" if similar else "random_templates"
    return list(record.get(key) or [])[:few_shot]


def sampled_file(data: Mapping[str, Any], images: list[str], path: Path) -> Path:
    """The seed's ``_sampled_mmad.json``: mmad.json restricted to the sampled images."""
    path.write_text(json.dumps({image: data[image] for image in images}, indent=1, ensure_ascii=False))
    return path
