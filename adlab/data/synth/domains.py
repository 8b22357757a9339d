"""An HDMAP-like multi-domain dataset: one synthetic material per domain, no masks.

Seed 002 trains on one HDMAP domain and tests on the others; its tree is
``<root>/<domain>/train/good``, ``test/good`` and ``test/fault`` (image labels only). This
writes that tree from the synthetic generator's materials, so a domain shift is a change of
material (domain_A woven, domain_B washer, ...), and the images are byte-identical for a seed.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from adlab.data.folder import HDMAP_OPTIONS
from adlab.data.synth.generator import (SYNTH_CATEGORIES, _check_counts, _save_png, render_defect,
                                        render_normal)
from adlab.errors import ConfigError

DEFAULT_DOMAINS = ("domain_A", "domain_B", "domain_C")


def generate_domains(out: Path, *, domains: Sequence[str] = DEFAULT_DOMAINS, seed: int = 0,
                     image_size: int = 64, n_train: int = 8, n_test_good: int = 4,
                     n_test_fault: int = 4) -> dict[str, str]:
    """Write the tree; returns ``domain -> material`` (the synthetic category behind it)."""
    if not domains or len(domains) > len(SYNTH_CATEGORIES):
        raise ConfigError(f"domains: give 1 to {len(SYNTH_CATEGORIES)} names, got {list(domains)}")
    _check_counts(image_size, n_train, n_test_good, n_test_fault)
    out = Path(out)
    materials = dict(zip(domains, SYNTH_CATEGORIES))
    for domain, material in materials.items():
        base = out / domain
        folders = {name: base / HDMAP_OPTIONS[key] for name, key in
                   (("train", "normal_dir"), ("good", "normal_test_dir"), ("fault", "abnormal_dir"))}
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_train):
            _save_png(render_normal(material, seed, "train", i, image_size), folders["train"] / f"{i:03d}.png")
        for i in range(n_test_good):
            _save_png(render_normal(material, seed, "test_good", i, image_size), folders["good"] / f"{i:03d}.png")
        for i in range(n_test_fault):
            image, _, _, _ = render_defect(material, seed, i, image_size)
            _save_png(image, folders["fault"] / f"{i:03d}.png")
    return materials
