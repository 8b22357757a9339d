"""An image's prompt inputs under a protocol: template and query images prepared by the
protocol's image policy, the AD findings (text, and/or the query image with the defect box
drawn, MMAD's Expert Agent) and MMAD's domain knowledge of the category."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from PIL import Image, ImageDraw

from adlab.errors import ConfigError, NotFoundError
from adlab.pipelines.mmad.data import is_normal, templates_of
from adlab.pipelines.mmad.prompting import describe_ad, open_rgb
from adlab.pipelines.mmad.protocol.base import ImagePolicy, Inputs

KNOWLEDGE_FILE = "domain_knowledge.json"


def load_knowledge(path: Path) -> dict[str, Any]:
    """MMAD's ``domain_knowledge.json``: ``{dataset: {category: {name: text, ...}}}``."""
    if not path.is_file():
        raise NotFoundError(f"domain knowledge file {path} does not exist; set "
                            f"eval.domain_knowledge_path to MMAD's {KNOWLEDGE_FILE} or set "
                            f"eval.domain_knowledge: false")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path} is not MMAD's {KNOWLEDGE_FILE} (an object of datasets, each "
                          f"an object of categories)")
    return data


def knowledge_of(data: Mapping[str, Any], image: str, path: Path) -> str:
    """The scripts' lookup: dataset (``DS-MVTec`` read as ``MVTec``) and category from the
    image path, the category's texts joined by newlines."""
    parts = image.replace("\\", "/").split("/")
    dataset, category = parts[0].replace("DS-MVTec", "MVTec"), parts[1] if len(parts) > 1 else ""
    entry = (data.get(dataset) or {}).get(category)
    if not isinstance(entry, dict):
        raise ConfigError(f"{path} has no domain knowledge for {dataset}/{category} (image "
                          f"{image}); give a file that covers the sampled categories or set "
                          f"eval.domain_knowledge: false")
    return "\n".join(str(v) for v in entry.values())


def marked_image(img: Image.Image, record: Mapping[str, Any]) -> Image.Image:
    """The query image with the AD model's defect box drawn in red, 2 pixels wide (MMAD's
    agent ``bbox`` notation); an image without a defect box is returned unmarked, as the
    script's ground-truth agent returns a normal image."""
    loc = record.get("defect_location") or {}
    box = loc.get("bbox") if loc.get("has_defect") or loc.get("bbox") else None
    out = img.copy()
    if box and len(box) == 4:
        x1, y1, x2, y2 = (float(v) for v in box)
        ImageDraw.Draw(out).rectangle((x1, y1, x2, y2), outline=(255, 0, 0), width=2)
    return out


def defect_shots(data: Mapping[str, Any], image: str, n: int, seed: int) -> list[str]:
    """``n`` defective images for InternVL's ``--defect_shot``: anomalous mmad.json images of the
    query's dataset and category (the query itself excluded), drawn with ``seed`` and the query
    image so a resumed run shows the same ones; fewer when fewer exist.

    The script means to draw from the query's ``(dataset, object, defect)`` folder, but its key
    is the one left over from its indexing loop (the last mmad.json image's), its third path
    part is the split folder (``test``, holding normal images too) and its draw is unseeded;
    adlab keeps the prompt and the image order and draws as described here instead."""
    parts = image.replace("\\", "/").split("/")
    head = parts[:2]
    pool = [k for k in data if k != image and k.replace("\\", "/").split("/")[:2] == head
            and not is_normal(k)]
    return random.Random(f"{seed}|{image}").sample(pool, min(n, len(pool)))


@dataclass
class InputsBuilder:
    """Builds :class:`Inputs` for one image of a run."""

    root: Path
    data: Mapping[str, Any]  # mmad.json
    policy: ImagePolicy
    few_shot: int
    similar: bool
    ad_records: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    findings: str = "text"  # text | image | both
    knowledge_path: Optional[Path] = None  # set: put the domain knowledge in the prompt
    defect_shot: int = 0  # defective images shown after the templates (InternVL's --defect_shot)
    seed: int = 42  # their draw
    _knowledge: Optional[dict[str, Any]] = field(default=None, repr=False)

    def __call__(self, image: str) -> Inputs:
        templates = [self.policy.load(self.root / t)
                     for t in templates_of(self.data[image], self.few_shot, self.similar)]
        inputs = Inputs(templates=templates, query=self.policy.load(self.root / image))
        if self.defect_shot:
            inputs.defects = [self.policy.load(self.root / d)
                              for d in defect_shots(self.data, image, self.defect_shot, self.seed)]
        record = self.ad_records.get(image)
        if record is not None:
            if self.findings in ("text", "both"):
                inputs.ad_text = describe_ad(record)
            if self.findings in ("image", "both"):
                source = str(self.root / image)
                inputs.marked = self.policy.prepare(marked_image(open_rgb(self.root / image), record),
                                                    source + "#marked")
        if self.knowledge_path is not None:
            if self._knowledge is None:
                self._knowledge = load_knowledge(self.knowledge_path)
            inputs.knowledge = knowledge_of(self._knowledge, image, self.knowledge_path)
        return inputs
