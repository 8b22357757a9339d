"""Builders for a small generated MMAD benchmark (mmad.json + images) used by the tests."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))


TYPES = ["Anomaly Detection", "Defect Classification", "Defect Localization", "Object Structure",
         "Object Details"]


def _image(path: Path, seed: int, defect: bool, size: tuple[int, int] = (64, 48)) -> None:
    rng = random.Random(seed)
    img = Image.new("RGB", size, (90 + rng.randint(0, 20), 90, 100))
    draw = ImageDraw.Draw(img)
    draw.ellipse((12, 8, 52, 40), fill=(160, 150, 140))
    if defect:
        x, y = rng.randint(14, 40), rng.randint(10, 30)
        draw.rectangle((x, y, x + 6, y + 4), fill=(20, 20, 20))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def make_mmad(root: Path, layout: dict[str, dict[str, dict[str, int]]] | None = None,
              n_templates: int = 4, seed: int = 0) -> tuple[Path, dict[str, str]]:
    """An MMAD-shaped tree: ``layout[dataset][category][split] = n images`` under
    ``<dataset>/<category>/test/<split>/``, templates under ``.../train/good/``. Returns
    (mmad.json path, {question text: correct letter})."""
    layout = layout or {"DS-A": {"bottle": {"good": 3, "crack": 3}},
                        "DS-B": {"can": {"good": 2, "dent": 2}}}
    rng = random.Random(seed)
    data: dict[str, dict] = {}
    truth: dict[str, str] = {}
    n = 0
    for dataset, cats in layout.items():
        for category, splits in cats.items():
            templates = [f"{dataset}/{category}/train/good/{i:03d}.png" for i in range(n_templates)]
            for t_i, t in enumerate(templates):
                _image(root / t, 1000 + t_i, False)
            for split, count in splits.items():
                for i in range(count):
                    image = f"{dataset}/{category}/test/{split}/{i:03d}.png"
                    _image(root / image, n, split != "good")
                    conversation = []
                    for qtype in TYPES[: 2 + (n % 3)]:
                        n += 1
                        text = f"Q{n}: ({qtype}) what about {image}?"
                        options = {"A": "Yes.", "B": "No."} if qtype == "Anomaly Detection" else \
                            {k: f"choice {k}" for k in "ABCD"}
                        answer = ("A" if split != "good" else "B") if qtype == "Anomaly Detection" \
                            else rng.choice(list(options))
                        truth[text] = answer
                        conversation.append({"Question": text, "Options": options, "Answer": answer,
                                             "type": qtype, "annotation": True})
                    data[image] = {"image_path": image, "mask_path": None,
                                   "similar_templates": templates[::-1], "random_templates": templates,
                                   "conversation": conversation}
    path = root / "mmad.json"
    path.write_text(json.dumps(data, indent=1))
    return path, truth


