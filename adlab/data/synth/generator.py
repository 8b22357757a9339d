"""Write a synthetic MVTec-AD-style dataset: textured materials with small, exactly masked defects.

Every image is drawn from its own random stream keyed by (seed, category, split, index), so the
same seed gives byte-identical files and changing one count leaves the other images unchanged.
"""
from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from adlab.data.synth import textures
from adlab.data.synth.defects import add_defect
from adlab.errors import AdlabError, ConfigError

PROVENANCE_FILE = "adlab_synth.json"
FORMAT_VERSION = 1
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 2048


@dataclass(frozen=True)
class CategorySpec:
    name: str
    material: textures.MaterialFn
    defect_types: tuple[str, ...]


_SPECS: tuple[CategorySpec, ...] = (
    CategorySpec("woven", textures.woven, ("color", "cut", "hole")),
    CategorySpec("washer", textures.washer, ("contamination", "missing", "scratch")),
    CategorySpec("wood", textures.wood, ("color", "hole", "scratch")),
    CategorySpec("brushed_metal", textures.brushed_metal, ("contamination", "crack", "scratch")),
    CategorySpec("tiles", textures.tiles, ("color", "crack", "missing")),
    CategorySpec("leather", textures.leather, ("color", "contamination", "cut")),
)
SPECS: dict[str, CategorySpec] = {s.name: s for s in _SPECS}
SYNTH_CATEGORIES: tuple[str, ...] = tuple(s.name for s in _SPECS)

_SPLIT_CODES = {"train": 0, "test_good": 1, "test_defect": 2}


@dataclass(frozen=True)
class SynthSummary:
    root: Path
    categories: list[str]
    n_train: int
    n_test_good: int
    n_test_defect: int
    defect_types: dict[str, list[str]]


def _rng(seed: int, category: str, split: str, index: int) -> np.random.Generator:
    key = [int(seed) & 0xFFFFFFFF, zlib.crc32(category.encode()), _SPLIT_CODES[split], index]
    return np.random.default_rng(np.random.SeedSequence(key))


def _pick_categories(categories: int | Sequence[str]) -> list[str]:
    if isinstance(categories, int) and not isinstance(categories, bool):
        if not 1 <= categories <= len(SYNTH_CATEGORIES):
            raise ConfigError(
                f"categories={categories} must be between 1 and {len(SYNTH_CATEGORIES)} "
                f"(available: {', '.join(SYNTH_CATEGORIES)})"
            )
        return list(SYNTH_CATEGORIES[:categories])
    names = [categories] if isinstance(categories, str) else list(categories)
    picked: list[str] = []
    for name in names:
        if name not in SPECS:
            raise ConfigError(f"unknown synthetic category '{name}'; available: {', '.join(SYNTH_CATEGORIES)}")
        if name not in picked:
            picked.append(name)
    if not picked:
        raise ConfigError(f"no synthetic category named; available: {', '.join(SYNTH_CATEGORIES)}")
    return picked


def _check_counts(image_size: int, n_train: int, n_test_good: int, n_test_defect: int) -> None:
    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise ConfigError(f"image_size={image_size} must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels")
    if n_train < 1:
        raise ConfigError(f"n_train={n_train} must be at least 1 (models need normal training images)")
    if n_test_good < 0 or n_test_defect < 0:
        raise ConfigError(f"n_test_good={n_test_good} and n_test_defect={n_test_defect} must not be negative")
    if n_test_good + n_test_defect < 1:
        raise ConfigError("n_test_good + n_test_defect must be at least 1 (the test split cannot be empty)")


def _save_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8)).save(path, format="PNG")


def render_normal(category: str, seed: int, split: str, index: int, image_size: int) -> np.ndarray:
    """One defect-free image (uint8 RGB) exactly as the generator writes it."""
    surface = SPECS[category].material(_rng(seed, category, split, index), image_size)
    return np.clip(np.rint(surface.image), 0, 255).astype(np.uint8)


def render_defect(category: str, seed: int, index: int, image_size: int) -> tuple[np.ndarray, np.ndarray, str, np.ndarray]:
    """Defective test image ``index``: (image uint8, mask bool, defect type, the same image
    without the defect uint8) exactly as the generator writes it."""
    spec = SPECS[category]
    defect = spec.defect_types[index % len(spec.defect_types)]
    rng = _rng(seed, category, "test_defect", index)
    surface = spec.material(rng, image_size)
    image, mask = add_defect(rng, surface, defect)
    clean = np.clip(np.rint(surface.image), 0, 255).astype(np.uint8)
    return image.astype(np.uint8), mask, defect, clean


def _prepare(out: Path, categories: list[str], overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise AdlabError(f"{out} exists and is not a folder; choose another output path")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise AdlabError(f"{out} is not empty; choose an empty folder or pass --overwrite")
        for name in categories:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        (out / PROVENANCE_FILE).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def generate_synthetic(out: Path, *, categories: int | Sequence[str] = 2, seed: int = 0, image_size: int = 128,
                       n_train: int = 20, n_test_good: int = 8, n_test_defect: int = 12,
                       overwrite: bool = False) -> SynthSummary:
    """Write ``out/<category>/{train/good, test/good, test/<defect>, ground_truth/<defect>}`` and
    ``out/adlab_synth.json`` (the parameters, so the data records its provenance).

    ``categories`` is a count (the first N of SYNTH_CATEGORIES) or names. Defective test images
    cycle through the category's defect types; masks are 0/255 PNGs named ``<stem>_mask.png``.
    With ``overwrite`` only the named categories and the provenance file are replaced.
    """
    out = Path(out)
    names = _pick_categories(categories)
    _check_counts(image_size, n_train, n_test_good, n_test_defect)
    _prepare(out, names, overwrite)
    for name in names:
        spec = SPECS[name]
        base = out / name
        for folder in ["train/good", "test/good",
                       *(f"{kind}/{d}" for d in spec.defect_types for kind in ("test", "ground_truth"))]:
            (base / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n_train):
            _save_png(render_normal(name, seed, "train", i, image_size), base / "train" / "good" / f"{i:03d}.png")
        for i in range(n_test_good):
            _save_png(render_normal(name, seed, "test_good", i, image_size), base / "test" / "good" / f"{i:03d}.png")
        for i in range(n_test_defect):
            image, mask, defect, _ = render_defect(name, seed, i, image_size)
            stem = f"{i // len(spec.defect_types):03d}"
            _save_png(image, base / "test" / defect / f"{stem}.png")
            Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(
                base / "ground_truth" / defect / f"{stem}_mask.png", format="PNG")
        if n_test_defect < len(spec.defect_types):  # no empty defect folders
            for d in spec.defect_types[n_test_defect:]:
                (base / "test" / d).rmdir()
                (base / "ground_truth" / d).rmdir()
    defect_types = {n: list(SPECS[n].defect_types[: max(min(n_test_defect, len(SPECS[n].defect_types)), 0)])
                    for n in names}
    summary = SynthSummary(out, names, n_train, n_test_good, n_test_defect, defect_types)
    provenance = {
        "generator": "adlab.data.synth",
        "format_version": FORMAT_VERSION,
        "layout": "mvtec_ad",
        "seed": int(seed),
        "image_size": int(image_size),
        "categories": names,
        "n_train": n_train,
        "n_test_good": n_test_good,
        "n_test_defect": n_test_defect,
        "defect_types": defect_types,
        "command": _command_line(names, seed, image_size, n_train, n_test_good, n_test_defect),
    }
    (out / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def _command_line(names: list[str], seed: int, size: int, n_train: int, n_good: int, n_defect: int) -> str:
    cats = " ".join(f"--category {n}" for n in names)
    return (f"adlab data synth OUT {cats} --seed {seed} --image-size {size} --train {n_train} "
            f"--test-good {n_good} --test-defect {n_defect}")
