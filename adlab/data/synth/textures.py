"""Procedural "materials": each draws one defect-free image with natural per-image variation.

A material returns the RGB image (float32, 0..255) and the surface where defects may appear
(the whole image for textures; the part itself for the object category), plus the pieces of
geometry some defects need (tile cells, the washer's centre and radii).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from adlab.data.synth.noise import erode, fractal_noise, value_noise


@dataclass
class Surface:
    image: np.ndarray  # (S, S, 3) float32 in [0, 255]
    support: np.ndarray  # (S, S) bool: where a defect may lie
    geometry: dict = field(default_factory=dict)
    background: tuple[float, float, float] = (20.0, 20.0, 20.0)  # what shows through a missing piece


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates (read-only, shared between images of one size)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def _colour(rng: np.random.Generator, base: tuple[float, float, float], jitter: float = 3.0) -> np.ndarray:
    return np.asarray(base, dtype=np.float32) + rng.normal(0.0, jitter, 3).astype(np.float32)


def _lighting(rng: np.random.Generator, size: int, strength: float = 0.06) -> np.ndarray:
    """A gentle linear illumination gradient with a random direction and overall gain."""
    yy, xx = _grid(size)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / size - 0.5
    return (rng.uniform(0.96, 1.04) + strength * ramp).astype(np.float32)


def _finish(rgb: np.ndarray, light: np.ndarray) -> np.ndarray:
    return np.clip(rgb * light[..., None], 0.0, 255.0).astype(np.float32)


def woven(rng: np.random.Generator, size: int) -> Surface:
    """Plain weave: threads alternately over and under, with fibre noise (carpet-like)."""
    yy, xx = _grid(size)
    period = size / 16.0 * rng.uniform(0.95, 1.05)
    theta = rng.uniform(-0.05, 0.05)
    u = (xx * np.cos(theta) + yy * np.sin(theta)) / period + rng.uniform(0, 2)
    v = (-xx * np.sin(theta) + yy * np.cos(theta)) / period + rng.uniform(0, 2)
    over = (np.floor(u) + np.floor(v)) % 2 == 0
    warp = np.sin(np.pi * (u % 1.0))
    weft = np.sin(np.pi * (v % 1.0))
    height = np.where(over, warp, weft) * np.where(over, 1.0, 0.9)
    fibres = value_noise(rng, size, max(size // 3, 2)) - 0.5
    shade = 0.55 + 0.4 * height + 0.25 * fibres
    rgb = _colour(rng, (150.0, 118.0, 86.0))[None, None, :] * shade[..., None]
    return Surface(_finish(rgb, _lighting(rng, size)), np.ones((size, size), bool), background=(30.0, 26.0, 22.0))


def wood(rng: np.random.Generator, size: int) -> Surface:
    """Wood grain: wavy growth rings along x with fine fibres."""
    yy, _ = _grid(size)
    warp = value_noise(rng, size, 3, 2)
    rings = np.sin(2.0 * np.pi * (yy / size * rng.uniform(5.0, 7.0) + 1.6 * warp + rng.uniform(0, 1)))
    grain = (0.5 + 0.5 * rings) ** 2
    fibres = value_noise(rng, size, max(size // 2, 2), 3) - 0.5
    light_c = _colour(rng, (206.0, 158.0, 108.0))
    dark_c = _colour(rng, (150.0, 98.0, 58.0))
    mix = np.clip(grain + 0.35 * fibres, 0.0, 1.0)[..., None]
    rgb = light_c * (1.0 - mix) + dark_c * mix
    return Surface(_finish(rgb, _lighting(rng, size)), np.ones((size, size), bool), background=(45.0, 30.0, 20.0))


def brushed_metal(rng: np.random.Generator, size: int) -> Surface:
    """Brushed metal: long horizontal streaks over a smooth sheen."""
    streaks = value_noise(rng, size, max(size // 2, 2), 4) - 0.5
    sheen = value_noise(rng, size, 2) - 0.5
    grain = rng.normal(0.0, 2.5, (size, size)).astype(np.float32)
    level = rng.uniform(135.0, 150.0) + 26.0 * streaks + 25.0 * sheen + grain
    rgb = level[..., None] * np.asarray([0.98, 1.0, 1.05], dtype=np.float32)
    return Surface(_finish(rgb, _lighting(rng, size, 0.1)), np.ones((size, size), bool), background=(25.0, 25.0, 28.0))


def tiles(rng: np.random.Generator, size: int) -> Surface:
    """Square tiles with grout lines; each tile a slightly different shade."""
    yy, xx = _grid(size)
    period = size / 4.0 * rng.uniform(0.97, 1.03)
    grout = max(2.0, size / 48.0)
    ox, oy = rng.uniform(0, period, 2)
    u, v = (xx + ox) / period, (yy + oy) / period
    in_grout = ((u % 1.0) * period < grout) | ((v % 1.0) * period < grout)
    n_tiles = int(size / period) + 3
    shades = rng.normal(0.0, 0.035, (n_tiles, n_tiles)).astype(np.float32)
    tile_shade = shades[np.floor(v).astype(int) % n_tiles, np.floor(u).astype(int) % n_tiles]
    speckle = value_noise(rng, size, max(size // 4, 2)) - 0.5
    tile_rgb = _colour(rng, (204.0, 198.0, 186.0), 2.0) * (1.0 + tile_shade + 0.05 * speckle)[..., None]
    grout_rgb = _colour(rng, (118.0, 112.0, 104.0), 2.0) * (1.0 + 0.08 * speckle)[..., None]
    rgb = np.where(in_grout[..., None], grout_rgb, tile_rgb)
    tile_area = erode(~in_grout, 1)
    return Surface(_finish(rgb, _lighting(rng, size)), np.ones((size, size), bool),
                   geometry={"tile_area": tile_area, "period": period, "offset": (ox, oy), "grout": grout},
                   background=(70.0, 66.0, 60.0))


def leather(rng: np.random.Generator, size: int) -> Surface:
    """Leather: embossed cellular bumps with fine grain."""
    bumps = fractal_noise(rng, size, max(size // 16, 2), octaves=3)
    gy, gx = np.gradient(bumps)
    shade = (gx + gy) * size / 8.0
    grain = rng.normal(0.0, 3.0, (size, size)).astype(np.float32)
    level = 0.82 + 0.3 * bumps + 0.12 * shade
    rgb = _colour(rng, (118.0, 74.0, 46.0))[None, None, :] * level[..., None] + grain[..., None]
    return Surface(_finish(rgb, _lighting(rng, size)), np.ones((size, size), bool), background=(18.0, 14.0, 12.0))


def washer(rng: np.random.Generator, size: int) -> Surface:
    """An object on a background: a machined metal washer, slightly shifted per image."""
    yy, xx = _grid(size)
    cy, cx = size / 2.0 + rng.uniform(-0.03, 0.03, 2) * size
    r_out = size * 0.36 * rng.uniform(0.98, 1.02)
    r_in = size * 0.15 * rng.uniform(0.98, 1.02)
    dy, dx = yy - cy, xx - cx
    radius = np.hypot(dy, dx)
    angle = np.arctan2(dy, dx)
    part = (radius <= r_out) & (radius >= r_in)
    light = rng.uniform(0.0, 2.0 * np.pi)
    rel = (radius - r_in) / (r_out - r_in)
    machining = np.sin(2.0 * np.pi * radius / max(size / 40.0, 1.5))
    level = 160.0 + 35.0 * np.cos(angle - light) * rel + 6.0 * machining + rng.normal(0.0, 2.0, (size, size))
    metal = level[..., None].astype(np.float32) * np.asarray([1.0, 0.99, 0.96], dtype=np.float32)
    bg_noise = value_noise(rng, size, 4) - 0.5
    background = _colour(rng, (58.0, 62.0, 68.0), 3.0)
    back = background[None, None, :] * (1.0 + 0.1 * bg_noise)[..., None]
    rgb = np.where(part[..., None], metal, back)
    return Surface(_finish(rgb, _lighting(rng, size)), erode(part, 1),
                   geometry={"center": (cy, cx), "r_in": r_in, "r_out": r_out, "part": part},
                   background=tuple(float(c) for c in background))


MaterialFn = Callable[[np.random.Generator, int], Surface]
