"""Reading images and ground-truth masks as numpy arrays, the same way for every layout.

Sizes are ``(height, width)`` like the arrays returned, not PIL's ``(width, height)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from adlab.data.types import Sample
from adlab.errors import NotFoundError, PipelineError


def _open(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise NotFoundError(f"image file {path} does not exist; check the dataset root") from None
    except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
        raise PipelineError(f"cannot read image {path} ({exc}); replace or remove the file") from None
    return img


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float images (e.g. HDMAP-style scans) scaled to 8 bit instead of clipped."""
    if img.mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.uint16)
        return Image.fromarray((arr >> 8).astype(np.uint8), mode="L")
    if img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    return img


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image file, read from its header only."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except FileNotFoundError:
        raise NotFoundError(f"image file {path} does not exist; check the dataset root") from None
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read image {path} ({exc}); replace or remove the file") from None
    return height, width


def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size must be (height, width) with positive values, got {size!r}")
    return height, width


def load_image(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB; bilinear resize to ``size`` = (height, width) when given."""
    size = _check_size(size)
    img = _to_8bit(_open(Path(path))).convert("RGB")
    if size is not None and (img.height, img.width) != size:
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _mask_values(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    img = _open(path)
    arr = np.asarray(_to_8bit(img))
    if arr.ndim == 3:  # RGB(A) masks (VisA sometimes): a pixel is set when any colour channel is
        arr = arr[..., :3].max(axis=2)
    arr = arr.astype(np.uint8, copy=False)
    if size is not None and arr.shape != size:
        arr = np.asarray(Image.fromarray(arr).resize((size[1], size[0]), Image.NEAREST))
    return arr


def load_mask_values(sample: Sample, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Each mask file of ``sample`` as raw (H, W) uint8 values (MVTec LOCO encodes the defect id
    in the pixel value, which sPRO needs); nearest resize keeps those values."""
    size = _check_size(size)
    return [_mask_values(p, size) for p in sample.mask_paths]


def load_mask(sample: Sample, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W) uint8 0/1: the union of the sample's masks, any non-zero pixel counts as defect.

    Normal images (and anomalous images whose layout allows missing masks: LOCO, folder) give
    zeros of the image size or of ``size``. Resizing is nearest-neighbour, so masks stay binary.
    """
    size = _check_size(size)
    if not sample.mask_paths:
        shape = size if size is not None else image_size(sample.image_path)
        return np.zeros(shape, dtype=np.uint8)
    target = size if size is not None else None
    union: np.ndarray | None = None
    for path in sample.mask_paths:
        values = _mask_values(path, target)
        if union is None:
            union = values > 0
            target = union.shape  # later masks are brought to the first one's size
        else:
            union |= values > 0
    assert union is not None
    return union.astype(np.uint8)
