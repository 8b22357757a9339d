"""A DTD-like folder of adlab's procedural textures, for models that paste texture anomalies.

DRAEM draws its synthetic anomalies from a folder of texture images (DTD in its paper), and
EfficientAD's penalty loss reads an ImageFolder of natural images; neither can be downloaded
offline. The folder holds ``<material>/<index>.png`` (DTD's ``images/<class>/`` layout, which
is also an ImageFolder). It is written once per (seed, count, size) into a cache folder and
reused; writing goes to a temporary sibling that is renamed, so concurrent runs never see a
half-written folder.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np

from adlab.data.synth import textures

# Materials that fill the whole image (the washer is an object on a background).
TEXTURE_MATERIALS: dict[str, textures.MaterialFn] = {
    "woven": textures.woven, "wood": textures.wood, "brushed_metal": textures.brushed_metal,
    "tiles": textures.tiles, "leather": textures.leather,
}
FOLDER_VERSION = 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/adlab`` (``~/.cache/adlab`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "adlab"


def texture_folder(*, per_material: int = 8, size: int = 128, seed: int = 0,
                   cache_dir: Path | None = None) -> Path:
    """The folder of ``per_material`` images of each texture material, creating it if needed."""
    from PIL import Image

    if per_material < 1 or size < 16:
        raise ValueError(f"texture_folder needs per_material >= 1 and size >= 16, got {per_material}, {size}")
    root = (cache_dir or default_cache_dir()) / "textures"
    out = root / f"v{FOLDER_VERSION}-seed{seed}-n{per_material}-{size}px"
    if out.is_dir():
        return out
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=root))
    try:
        for name, material in TEXTURE_MATERIALS.items():
            (staging / name).mkdir()
            for index in range(per_material):
                rng = np.random.default_rng([seed, zlib.crc32(name.encode()), index])
                image = np.clip(np.rint(material(rng, size).image), 0, 255).astype(np.uint8)
                Image.fromarray(image).save(staging / name / f"{index:03d}.png", format="PNG")
        try:
            staging.rename(out)
        except OSError:  # another process finished the same folder first
            if not out.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
