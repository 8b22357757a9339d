"""Write a small synthetic dataset in the MVTec LOCO AD layout (for sPRO runs without the real data).

Same textures and defects as :mod:`adlab.data.synth.generator`, arranged as LOCO ships them::

    <out>/<category>/train/good, validation/good, test/{good,logical_anomalies,structural_anomalies}
    <out>/<category>/ground_truth/<type>/<stem>/000.png, 001.png ...   (pixel value = defect id)
    <out>/<category>/defects_config.json                                (saturation rules)

Structural anomalies are the generator's defects (one region, absolute saturation); logical
anomalies are recoloured areas that are wrong as a whole, relative saturation (half of the
area suffices), sometimes two of them in one image, so every rule of the sPRO table is used.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from adlab.data.synth.defects import add_defect
from adlab.data.synth.generator import SPECS, _check_counts, _pick_categories, _save_png
from adlab.errors import AdlabError

LOGICAL, STRUCTURAL = "logical_anomalies", "structural_anomalies"
LOGICAL_VALUE, STRUCTURAL_VALUE = 50, 100
DEFECTS_CONFIG = [
    {"defect_name": "wrong_colour", "pixel_value": LOGICAL_VALUE, "saturation_threshold": 0.5,
     "relative_saturation": True},
    {"defect_name": "surface_defect", "pixel_value": STRUCTURAL_VALUE,
     "saturation_threshold": 64, "relative_saturation": False},
]


def _rng(seed: int, category: str, split: str, index: int) -> np.random.Generator:
    key = [int(seed) & 0xFFFFFFFF, zlib.crc32(category.encode()), zlib.crc32(split.encode()), index]
    return np.random.default_rng(np.random.SeedSequence(key))


def _normal(category: str, seed: int, split: str, index: int, size: int) -> np.ndarray:
    return SPECS[category].material(_rng(seed, category, split, index), size).image


def _write_defects(folder: Path, masks: list[np.ndarray], value: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for j, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * value, mode="L").save(folder / f"{j:03d}.png")


def _logical(category: str, seed: int, index: int, size: int) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = _rng(seed, category, LOGICAL, index)
    surface = SPECS[category].material(rng, size)
    image = surface.image.copy()
    masks = []
    for _ in range(1 + index % 2):
        h, w = (int(v) for v in rng.integers(size // 8, size // 3, size=2))
        y, x = int(rng.integers(0, size - h)), int(rng.integers(0, size - w))
        mask = np.zeros((size, size), bool)
        mask[y:y + h, x:x + w] = True
        image[mask] = image[mask][:, ::-1] * 0.6 + 60.0  # channels swapped and dimmed
        masks.append(mask)
    return image, masks


def generate_synthetic_loco(out: Path, *, categories: int | list[str] = 1, seed: int = 0,
                            image_size: int = 96, n_train: int = 10, n_val: int = 4,
                            n_test_good: int = 4, n_logical: int = 3,
                            n_structural: int = 3) -> list[str]:
    """Write the LOCO-layout dataset under ``out``; returns the category names."""
    out = Path(out)
    names = _pick_categories(categories)
    _check_counts(image_size, n_train, n_test_good, n_logical + n_structural)
    if out.exists() and any(out.iterdir()):
        raise AdlabError(f"{out} is not empty; choose an empty folder for the LOCO-layout data")
    for name in names:
        base = out / name
        for split, count, folder in (("train", n_train, "train/good"),
                                     ("validation", n_val, "validation/good"),
                                     ("test_good", n_test_good, "test/good")):
            (base / folder).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                _save_png(_normal(name, seed, split, i, image_size), base / folder / f"{i:03d}.png")
        for kind in (LOGICAL, STRUCTURAL):
            (base / "test" / kind).mkdir(parents=True, exist_ok=True)
        for i in range(n_logical):
            image, masks = _logical(name, seed, i, image_size)
            _save_png(image, base / "test" / LOGICAL / f"{i:03d}.png")
            _write_defects(base / "ground_truth" / LOGICAL / f"{i:03d}", masks, LOGICAL_VALUE)
        spec = SPECS[name]
        for i in range(n_structural):
            rng = _rng(seed, name, STRUCTURAL, i)
            image, mask = add_defect(rng, spec.material(rng, image_size),
                                     spec.defect_types[i % len(spec.defect_types)])
            _save_png(image, base / "test" / STRUCTURAL / f"{i:03d}.png")
            _write_defects(base / "ground_truth" / STRUCTURAL / f"{i:03d}", [mask], STRUCTURAL_VALUE)
        (base / "defects_config.json").write_text(json.dumps(DEFECTS_CONFIG, indent=2))
    return names

