"""Read evaluation inputs from disk: an ``.npz`` of arrays, or anomaly maps in the official
MVTec AD evaluation layout beside an MVTec-layout dataset.

An uncompressed ``.npz`` (``np.savez``) is memory-mapped instead of read: its pixels are paged
in straight from the page cache while the metrics scan them, which saves copying the maps into
fresh memory (the largest single cost of a whole ``adlab metrics`` process). Compressed files
(``np.savez_compressed``) are read normally.
"""
from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adlab.core.image_files import mask_size_problem, unreadable
from adlab.errors import AdlabError, NotFoundError

NPZ_REQUIRED = ("anomaly_maps", "masks")
NPZ_OPTIONAL = ("scores", "labels", "categories")
TIFF_SUFFIXES = (".tiff", ".tif", ".TIFF", ".TIF")
IMAGE_SUFFIXES = (".png", ".PNG", ".jpg", ".JPG", ".jpeg", ".bmp")


@dataclass
class NpzInputs:
    anomaly_maps: np.ndarray
    masks: np.ndarray
    scores: np.ndarray | None = None
    labels: np.ndarray | None = None
    categories: np.ndarray | None = None


def _local_header_size(handle, header_offset: int) -> int:
    handle.seek(header_offset)
    local = handle.read(30)
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return 30 + name_len + extra_len


def _map_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """Memory-map one stored (uncompressed) .npy member, or read it if that is impossible."""
    from numpy.lib import format as npy

    with archive.open(info) as member:
        version = npy.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(member)
        else:
            shape, fortran, dtype = npy.read_array_header_2_0(member)
        header_len = member.tell()
    if dtype.hasobject:
        raise AdlabError(
            f"{path}: array {info.filename!r} holds Python objects; save plain numeric arrays.")
    if info.compress_type != zipfile.ZIP_STORED or int(np.prod(shape)) == 0:
        with archive.open(info) as member:
            return npy.read_array(member, allow_pickle=False)
    with open(path, "rb") as handle:
        start = info.header_offset + _local_header_size(handle, info.header_offset) + header_len
    return np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape,
                     order="F" if fortran else "C")


def load_npz(path: str | Path) -> NpzInputs:
    """Read ``anomaly_maps``, ``masks`` and the optional ``scores``, ``labels``, ``categories``."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist; pass an .npz written with np.savez.")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise AdlabError(f"{path} is not an .npz file (np.savez output): {exc}.") from exc
    with archive:
        members = {Path(n).stem: archive.getinfo(n) for n in archive.namelist()
                   if n.endswith(".npy")}
        missing = [k for k in NPZ_REQUIRED if k not in members]
        if missing:
            raise AdlabError(
                f"{path} has no array {missing[0]!r} (it has {', '.join(sorted(members)) or 'none'});"
                " save anomaly_maps (N,H,W) and masks (N,H,W) with np.savez.")
        arrays = {k: _map_member(path, archive, members[k])
                  for k in (*NPZ_REQUIRED, *NPZ_OPTIONAL) if k in members}
    maps, masks = arrays["anomaly_maps"], arrays["masks"]
    if maps.ndim != 3 or masks.ndim != 3 or len(masks) != len(maps):
        raise AdlabError(
            f"{path}: anomaly_maps has shape {maps.shape} and masks {masks.shape}; both must be "
            "(N, H, W) with the same N.")
    for key in ("scores", "labels", "categories"):
        if key in arrays and arrays[key].shape != (len(maps),):
            raise AdlabError(
                f"{path}: {key} has shape {arrays[key].shape}, expected ({len(maps)},) "
                "(one entry per map).")
    return NpzInputs(**arrays)


def read_anomaly_map(path: Path) -> np.ndarray:
    """A 2-D float map from a TIFF (tifffile if installed, else Pillow)."""
    try:
        try:
            import tifffile

            data = tifffile.imread(path)
        except ImportError:
            from PIL import Image

            with Image.open(path) as image:
                data = np.asarray(image)
    except Exception as exc:  # noqa: BLE001 - any decoder failure: this file is unreadable
        raise AdlabError(unreadable(path, "anomaly map", exc)) from None
    data = np.squeeze(np.asarray(data))
    if data.ndim != 2:
        raise AdlabError(f"{path} holds an array of shape {data.shape}; anomaly maps must be 2-D.")
    return data


def read_mask(path: Path, image: Path) -> np.ndarray:
    """The ground-truth mask of ``image``; one of another size is refused, not stretched."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            mask = np.asarray(opened)
    except Exception as exc:  # noqa: BLE001 - any decoder failure: this file is unreadable
        raise AdlabError(unreadable(path, "mask", exc)) from None
    problem = mask_size_problem(path, mask.shape[:2], image, image_size(image))
    if problem:
        raise AdlabError(problem)
    return mask.max(axis=2) if mask.ndim == 3 else mask


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, from its header only."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception as exc:  # noqa: BLE001 - as in read_mask
        raise AdlabError(unreadable(path, "image", exc)) from None
    return height, width


def _find_map(maps_dir: Path, category: str, defect: str, stem: str) -> Path:
    base = maps_dir / category / "test" / defect / stem
    for suffix in TIFF_SUFFIXES:
        candidate = base.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    raise NotFoundError(
        f"no anomaly map {base}.tiff for test image {category}/test/{defect}/{stem}; write one "
        "TIFF per test image in the official layout <category>/test/<defect>/<name>.tiff.")


def list_categories(maps_dir: Path) -> list[str]:
    return sorted(d.name for d in maps_dir.iterdir() if (d / "test").is_dir())


def load_category(maps_dir: Path, dataset_root: Path, category: str
                  ) -> tuple[list[np.ndarray], list[np.ndarray], None, np.ndarray]:
    """(maps, masks, None, labels) of one category; labels come from the folder names.

    Good images get an all-zero mask of the test image's size, so their maps are resized to
    the image size like every other map (the ground truth's resolution).
    """
    test_dir = dataset_root / category / "test"
    if not test_dir.is_dir():
        raise NotFoundError(
            f"{test_dir} does not exist; --dataset-root must hold <category>/test/<defect>/ "
            "folders (MVTec AD layout).")
    maps, masks, labels = [], [], []
    for defect_dir in sorted(d for d in test_dir.iterdir() if d.is_dir()):
        defect = defect_dir.name
        for image_path in sorted(p for p in defect_dir.iterdir() if p.suffix in IMAGE_SUFFIXES):
            stem = image_path.stem
            maps.append(read_anomaly_map(_find_map(maps_dir, category, defect, stem)))
            if defect == "good":
                masks.append(np.zeros(image_size(image_path), dtype=bool))
                labels.append(False)
                continue
            mask_path = dataset_root / category / "ground_truth" / defect / f"{stem}_mask.png"
            if not mask_path.is_file():
                raise NotFoundError(
                    f"ground-truth mask {mask_path} is missing for {image_path}; the dataset "
                    "must follow the MVTec AD layout.")
            masks.append(read_mask(mask_path, image_path))
            labels.append(True)
    if not maps:
        raise NotFoundError(f"{test_dir} holds no test images.")
    return maps, masks, None, np.array(labels)


def load_official_layout(maps_dir: str | Path, dataset_root: str | Path,
                         categories: list[str] | None = None) -> dict[str, tuple]:
    """Per-category inputs for :func:`adlab.metrics.evaluate_per_category`."""
    maps_dir, dataset_root = Path(maps_dir), Path(dataset_root)
    for folder, flag in ((maps_dir, "--maps-dir"), (dataset_root, "--dataset-root")):
        if not folder.is_dir():
            raise NotFoundError(f"{flag} {folder} is not a directory.")
    names = categories or list_categories(maps_dir)
    if not names:
        raise NotFoundError(
            f"{maps_dir} has no <category>/test/ folders; anomaly maps must be stored as "
            "<category>/test/<defect>/<name>.tiff.")
    return {name: load_category(maps_dir, dataset_root, name) for name in names}
