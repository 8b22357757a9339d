"""Small, realistic defects drawn on a material: a region shape plus a way to paint it.

The mask is drawn first and the image changes only inside it, and every mask pixel changes by
at least MIN_CHANGE grey levels, so the ground truth covers exactly the defect pixels. Sizes
scale with the image and are redrawn until a region covers 0.1 %-3 % of the image.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from adlab.data.synth.noise import dilate, value_noise
from adlab.data.synth.textures import Surface

MIN_AREA_FRACTION = 0.001
MAX_AREA_FRACTION = 0.03
MIN_CHANGE = 8.0
SECOND_REGION_PROBABILITY = 0.35
_MAX_TRIES = 40

ShapeFn = Callable[[np.random.Generator, Surface, int, float], np.ndarray]
PaintFn = Callable[[np.random.Generator, Surface, np.ndarray], np.ndarray]


# ---------------------------------------------------------------- shapes (boolean masks)
def _canvas(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("L", (size, size), 0)
    return img, ImageDraw.Draw(img)


def _as_mask(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.uint8) > 0


def _anchor(rng: np.random.Generator, surface: Surface, size: int) -> tuple[float, float]:
    """A random (y, x) on the surface, away from the image border."""
    margin = max(int(size * 0.08), 2)
    inner = np.zeros_like(surface.support)
    inner[margin:size - margin, margin:size - margin] = True
    candidates = np.flatnonzero(surface.support & inner)
    if candidates.size == 0:
        candidates = np.flatnonzero(surface.support)
    index = int(rng.choice(candidates))
    return float(index // size), float(index % size)


def _line_width(rng: np.random.Generator, size: int, low: float, high: float) -> int:
    return max(1, int(round(size / 128.0 * rng.uniform(low, high))))


def curve(rng: np.random.Generator, surface: Surface, size: int, scale: float) -> np.ndarray:
    """A scratch: a thin quadratic Bezier curve."""
    y0, x0 = _anchor(rng, surface, size)
    length = size * rng.uniform(0.12, 0.28) * scale
    phi = rng.uniform(0.0, 2.0 * np.pi)
    y2, x2 = y0 + length * np.sin(phi), x0 + length * np.cos(phi)
    bend = length * rng.uniform(-0.3, 0.3)
    y1, x1 = (y0 + y2) / 2 + bend * np.cos(phi), (x0 + x2) / 2 - bend * np.sin(phi)
    t = np.linspace(0.0, 1.0, 32)[:, None]
    pts = (1 - t) ** 2 * [x0, y0] + 2 * (1 - t) * t * [x1, y1] + t**2 * [x2, y2]
    img, draw = _canvas(size)
    draw.line([tuple(p) for p in pts], fill=255, width=_line_width(rng, size, 1.0, 2.2), joint="curve")
    return _as_mask(img)


def _blob_polygon(rng: np.random.Generator, cy: float, cx: float, radius: float) -> list[tuple[float, float]]:
    theta = np.linspace(0.0, 2.0 * np.pi, 28, endpoint=False)
    wobble = sum(rng.uniform(0.03, 0.1) * np.sin(k * theta + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
    stretch, rot = rng.uniform(0.7, 1.3), rng.uniform(0.0, np.pi)
    r = radius * (1.0 + wobble)
    ex, ey = r * np.cos(theta) * stretch, r * np.sin(theta) / stretch
    xs = cx + ex * np.cos(rot) - ey * np.sin(rot)
    ys = cy + ex * np.sin(rot) + ey * np.cos(rot)
    return list(zip(xs.tolist(), ys.tolist()))


def blob(rng: np.random.Generator, surface: Surface, size: int, scale: float) -> np.ndarray:
    """A hole or spot: a compact irregular blob."""
    cy, cx = _anchor(rng, surface, size)
    img, draw = _canvas(size)
    draw.polygon(_blob_polygon(rng, cy, cx, size * rng.uniform(0.02, 0.045) * scale), fill=255)
    return _as_mask(img)


def stain(rng: np.random.Generator, surface: Surface, size: int, scale: float) -> np.ndarray:
    """A colour stain or contamination: a few overlapping blobs."""
    cy, cx = _anchor(rng, surface, size)
    radius = size * rng.uniform(0.025, 0.045) * scale
    img, draw = _canvas(size)
    draw.polygon(_blob_polygon(rng, cy, cx, radius), fill=255)
    for _ in range(int(rng.integers(1, 4))):
        oy, ox = rng.uniform(-0.8, 0.8, 2) * radius
        draw.polygon(_blob_polygon(rng, cy + oy, cx + ox, radius * rng.uniform(0.5, 0.8)), fill=255)
    return _as_mask(img)


def crack(rng: np.random.Generator, surface: Surface, size: int, scale: float) -> np.ndarray:
    """A crack: a jagged polyline with one or two branches."""
    y, x = _anchor(rng, surface, size)
    heading = rng.uniform(0.0, 2.0 * np.pi)
    step = size * 0.035 * scale
    trunk = [(x, y)]
    for _ in range(int(rng.integers(5, 9))):
        heading += rng.normal(0.0, 0.45)
        x, y = x + step * rng.uniform(0.6, 1.3) * np.cos(heading), y + step * rng.uniform(0.6, 1.3) * np.sin(heading)
        trunk.append((x, y))
    img, draw = _canvas(size)
    width = _line_width(rng, size, 1.0, 1.6)
    draw.line(trunk, fill=255, width=width)
    for _ in range(int(rng.integers(1, 3))):
        bx, by = trunk[int(rng.integers(1, len(trunk) - 1))]
        branch_heading = heading + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.2)
        branch = [(bx, by)]
        for _ in range(int(rng.integers(2, 4))):
            branch_heading += rng.normal(0.0, 0.4)
            bx, by = bx + step * 0.7 * np.cos(branch_heading), by + step * 0.7 * np.sin(branch_heading)
            branch.append((bx, by))
        draw.line(branch, fill=255, width=width)
    return _as_mask(img)


def slit(rng: np.random.Generator, surface: Surface, size: int, scale: float) -> np.ndarray:
    """A cut: a thin lens-shaped opening through the material."""
    cy, cx = _anchor(rng, surface, size)
    length = size * rng.uniform(0.1, 0.2) * scale
    width = max(size * rng.uniform(0.015, 0.03) * scale, 1.5)
    phi = rng.uniform(0.0, np.pi)
    along, across = np.array([np.cos(phi), np.sin(phi)]), np.array([-np.sin(phi), np.cos(phi)])
    centre = np.array([cx, cy])
    ts = np.linspace(-1.0, 1.0, 9)
    upper = [centre + along * t * length / 2 + across * (1 - t * t) * width / 2 for t in ts]
    lower = [centre + along * t * length / 2 - across * (1 - t * t) * width / 2 for t in ts[::-1]]
    img, draw = _canvas(size)
    draw.polygon([tuple(p) for p in upper + lower], fill=255)
    return _as_mask(img)


def _wedge(rng: np.random.Generator, surface: Surface, size: int, scale: float) -> np.ndarray:
    """A piece broken off the washer's outer rim."""
    geo = surface.geometry
    cy, cx = geo["center"]
    r_in, r_out = geo["r_in"], geo["r_out"]
    start = rng.uniform(0.0, 2.0 * np.pi)
    half = rng.uniform(0.1, 0.22) * scale
    depth = (r_out - r_in) * rng.uniform(0.25, 0.45)
    angles = np.linspace(start - half, start + half, 16)
    outer = [(cx + (r_out + 3) * np.cos(a), cy + (r_out + 3) * np.sin(a)) for a in angles]
    inner_r = r_out - depth * (1.0 + 0.2 * np.sin(np.linspace(0, np.pi, 16)) * rng.uniform(-1, 1))
    inner = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(angles[::-1], inner_r[::-1])]
    img, draw = _canvas(size)
    draw.polygon(outer + inner, fill=255)
    return _as_mask(img) & geo["part"]


def _chip(rng: np.random.Generator, surface: Surface, size: int, scale: float) -> np.ndarray:
    """A chipped tile corner."""
    geo = surface.geometry
    period, (ox, oy), grout = geo["period"], geo["offset"], geo["grout"]
    ks = [k for k in range(-1, int(size / period) + 2) if size * 0.1 < k * period - ox + grout < size * 0.9]
    js = [j for j in range(-1, int(size / period) + 2) if size * 0.1 < j * period - oy + grout < size * 0.9]
    if not ks or not js:
        return np.zeros((size, size), bool)
    sx, sy = rng.choice([-1.0, 1.0], 2)
    x0 = float(rng.choice(ks)) * period - ox + (grout if sx > 0 else 0.0)
    y0 = float(rng.choice(js)) * period - oy + (grout if sy > 0 else 0.0)
    a, b = size * rng.uniform(0.05, 0.1, 2) * scale
    img, draw = _canvas(size)
    draw.polygon([(x0 - sx * 2, y0 - sy * 2), (x0 + sx * a, y0 - sy * 2), (x0 - sx * 2, y0 + sy * b)], fill=255)
    return _as_mask(img) & geo["tile_area"]


def missing(rng: np.random.Generator, surface: Surface, size: int, scale: float) -> np.ndarray:
    """A missing piece: off the rim of an object, off the corner of a tile, else a cut."""
    if "part" in surface.geometry:
        return _wedge(rng, surface, size, scale)
    if "tile_area" in surface.geometry:
        return _chip(rng, surface, size, scale)
    return slit(rng, surface, size, scale)


# ---------------------------------------------------------------- painters (new pixel values)
def _texture_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    return (value_noise(rng, size, max(size // 8, 2)) - 0.5)[..., None]


def paint_scratch(rng: np.random.Generator, surface: Surface, mask: np.ndarray) -> np.ndarray:
    img = surface.image
    if float(img[mask].mean()) > 120.0 or rng.random() < 0.5:
        return img + (255.0 - img) * rng.uniform(0.5, 0.7)  # bright: bare material
    return img * rng.uniform(0.35, 0.55)  # dark groove


def paint_hole(rng: np.random.Generator, surface: Surface, mask: np.ndarray) -> np.ndarray:
    noise = _texture_noise(rng, surface.image.shape[0])
    return np.asarray(surface.background, np.float32) * (0.7 + 0.6 * noise) + 4.0


def paint_crack(rng: np.random.Generator, surface: Surface, mask: np.ndarray) -> np.ndarray:
    return surface.image * rng.uniform(0.25, 0.4)


_STAIN_COLOURS = ((190.0, 40.0, 40.0), (40.0, 70.0, 190.0), (40.0, 150.0, 60.0), (205.0, 175.0, 30.0))


def paint_color(rng: np.random.Generator, surface: Surface, mask: np.ndarray) -> np.ndarray:
    hue = np.asarray(_STAIN_COLOURS[int(rng.integers(len(_STAIN_COLOURS)))], np.float32)
    alpha = rng.uniform(0.5, 0.7)
    return surface.image * (1 - alpha) + hue * alpha


def paint_contamination(rng: np.random.Generator, surface: Surface, mask: np.ndarray) -> np.ndarray:
    size = surface.image.shape[0]
    speckle = 0.75 + 0.5 * _texture_noise(rng, size) + rng.normal(0.0, 0.05, (size, size, 1))
    dark_ground = float(surface.image[mask].mean()) < 110.0
    material = np.asarray((215.0, 205.0, 165.0) if dark_ground else (72.0, 54.0, 32.0), np.float32)
    return surface.image * 0.15 + material * 0.85 * speckle


def paint_cut(rng: np.random.Generator, surface: Surface, mask: np.ndarray) -> np.ndarray:
    noise = _texture_noise(rng, surface.image.shape[0])
    return np.asarray(surface.background, np.float32) * (0.8 + 0.4 * noise)


def paint_missing(rng: np.random.Generator, surface: Surface, mask: np.ndarray) -> np.ndarray:
    noise = rng.normal(0.0, 1.5, surface.image.shape[:2])[..., None]
    return np.asarray(surface.background, np.float32) + noise


@dataclass(frozen=True)
class DefectKind:
    name: str
    shape: ShapeFn
    paint: PaintFn


DEFECT_KINDS: dict[str, DefectKind] = {
    k.name: k for k in (
        DefectKind("scratch", curve, paint_scratch),
        DefectKind("hole", blob, paint_hole),
        DefectKind("crack", crack, paint_crack),
        DefectKind("color", stain, paint_color),
        DefectKind("contamination", stain, paint_contamination),
        DefectKind("cut", slit, paint_cut),
        DefectKind("missing", missing, paint_missing),
    )
}


# ---------------------------------------------------------------- placing defects
def _region(rng: np.random.Generator, kind: DefectKind, surface: Surface, size: int,
            max_fraction: float) -> np.ndarray | None:
    """One region of the right size, redrawn (and rescaled) until it fits the area limits."""
    scale, total = 1.0, float(size * size)
    for _ in range(_MAX_TRIES):
        mask = kind.shape(rng, surface, size, scale) & surface.support
        fraction = mask.sum() / total
        if MIN_AREA_FRACTION <= fraction <= max_fraction:
            return mask
        scale *= 1.25 if fraction < MIN_AREA_FRACTION else 0.8
    return None


def _apply(rng: np.random.Generator, kind: DefectKind, surface: Surface, image: np.ndarray,
           mask: np.ndarray) -> np.ndarray:
    painted = np.clip(kind.paint(rng, Surface(image, surface.support, surface.geometry, surface.background), mask),
                      0.0, 255.0)
    old, new = np.rint(image), np.rint(painted)
    weak = mask & (np.abs(new - old).max(axis=2) < MIN_CHANGE)
    if weak.any():  # guarantee a visible change on every mask pixel
        new[weak] = np.where(old[weak] > 127.0, old[weak] - 3 * MIN_CHANGE, old[weak] + 3 * MIN_CHANGE)
    return np.where(mask[..., None], new, old).astype(np.float32)


def add_defect(rng: np.random.Generator, surface: Surface, kind_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Draw one defect (sometimes two separate regions) of ``kind_name`` on ``surface``.

    Returns the image (float32, integral values) and the boolean mask of changed pixels.
    """
    kind = DEFECT_KINDS[kind_name]
    size = surface.image.shape[0]
    first = _region(rng, kind, surface, size, MAX_AREA_FRACTION)
    if first is None:
        raise RuntimeError(f"could not place a '{kind_name}' defect on a {size}px image")
    mask = first
    if rng.random() < SECOND_REGION_PROBABILITY:
        budget = MAX_AREA_FRACTION - first.sum() / float(size * size)
        keep_out = dilate(first, 3)
        for _ in range(5):
            second = _region(rng, kind, surface, size, budget) if budget > MIN_AREA_FRACTION else None
            if second is not None and not (second & keep_out).any():
                mask = first | second
                break
    image = _apply(rng, kind, surface, np.rint(surface.image), mask)
    return image, mask
