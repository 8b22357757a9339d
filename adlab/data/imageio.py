"""Reading images and ground-truth masks as numpy arrays, the same way for every layout.

Sizes are ``(height, width)`` like the arrays returned, not PIL's ``(width, height)``.
A file that cannot be decoded is a :class:`DataError` naming it, and a mask must have its
image's size (:func:`~adlab.core.image_files.mask_size_problem`, which the queue-time check
and the metrics reader apply too): a mask of another size is refused, never stretched.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from adlab.core.image_files import mask_size_problem, unreadable
from adlab.data.types import Sample
from adlab.errors import DataError, NotFoundError


def _unreadable(path: Path, what: str, exc: Exception) -> DataError:
    return DataError(unreadable(path, what, exc))


def _open(path: Path, what: str = "image") -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise NotFoundError(f"{what} file {path} does not exist; check the dataset root") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, DecompressionBombError...
        raise _unreadable(path, what, exc) from None
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


def image_size(path: Path, what: str = "image") -> tuple[int, int]:
    """``(height, width)`` of an image file, read from its header only."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except FileNotFoundError:
        raise NotFoundError(f"{what} file {path} does not exist; check the dataset root") from None
    except Exception as exc:  # noqa: BLE001 - as in _open
        raise _unreadable(path, what, exc) from None
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


def load_image_float(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1], resized to ``size`` in float, never rounded to 8 bit.

    Why: models train on float images resized by anomalib's pre-processor (torchvision
    ``Resize(antialias=True)``); a test image rounded to uint8 after its resize scores 0.4-1 %
    differently. Each channel is resized as a 32-bit PIL image with the antialiased bilinear
    (triangle) filter, the algorithm torchvision ported from PIL: they agree to ~1e-7.
    """
    size = _check_size(size)
    rgb = np.asarray(_to_8bit(_open(Path(path))).convert("RGB"), dtype=np.float32) / 255.0
    if size is None or rgb.shape[:2] == size:
        return rgb
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., c]))
                           .resize((size[1], size[0]), Image.BILINEAR)) for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.float32, copy=False)


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each of ``dst`` output rows (or columns): torch's ``mode="nearest"``.

    ``min(floor(i * (src / dst)), src - 1)`` in float32, as ``F.interpolate`` computes it (and so
    torchvision's mask resize, with which anomalib brings masks to the model's resolution).
    PIL's NEAREST samples pixel centres instead and picks other rows: one rule, this one.
    """
    if src == dst:
        return np.arange(dst)
    scale = np.float32(src) / np.float32(dst)
    idx = np.floor(np.arange(dst, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(idx, src - 1)


def resize_nearest(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 2-D array brought to ``size`` = (height, width) by :func:`nearest_indices` (values kept)."""
    if values.shape[:2] == tuple(size):
        return values
    rows = nearest_indices(values.shape[0], int(size[0]))
    cols = nearest_indices(values.shape[1], int(size[1]))
    return values[rows[:, None], cols[None, :]]


def _mask_values(path: Path, size: tuple[int, int] | None, image: Path) -> np.ndarray:
    img = _open(path, "mask")
    problem = mask_size_problem(path, (img.height, img.width), image, image_size(image))
    if problem:
        raise DataError(problem)
    arr = np.asarray(_to_8bit(img))
    if arr.ndim == 3:  # RGB(A) masks (VisA sometimes): a pixel is set when any colour channel is
        arr = arr[..., :3].max(axis=2)
    arr = arr.astype(np.uint8, copy=False)
    if size is not None and arr.shape != size:
        arr = resize_nearest(arr, size)
    return arr


def load_mask_values(sample: Sample, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Each mask file of ``sample`` as raw (H, W) uint8 values (MVTec LOCO encodes the defect id
    in the pixel value, which sPRO needs); nearest resize (:func:`resize_nearest`) keeps them."""
    size = _check_size(size)
    return [_mask_values(p, size, sample.image_path) for p in sample.mask_paths]


def load_mask(sample: Sample, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W) uint8 0/1: the union of the sample's masks, any non-zero pixel counts as defect.

    Normal images (and anomalous images whose layout allows missing masks: LOCO, folder) give
    zeros of the image size or of ``size``. Resizing is torch's nearest (:func:`resize_nearest`),
    so masks stay binary.
    """
    size = _check_size(size)
    if not sample.mask_paths:
        shape = size if size is not None else image_size(sample.image_path)
        return np.zeros(shape, dtype=np.uint8)
    target = size if size is not None else None
    union: np.ndarray | None = None
    for path in sample.mask_paths:
        values = _mask_values(path, target, sample.image_path)
        if union is None:
            union = values > 0
            target = union.shape  # later masks are brought to the first one's size
        else:
            union |= values > 0
    assert union is not None
    return union.astype(np.uint8)
