"""The synthetic generator: MVTec layout, exact masks, small defects, byte-identical per seed."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from adlab.data import load_category, load_mask
from adlab.data.synth import (
    DEFECT_KINDS,
    MAX_AREA_FRACTION,
    MIN_AREA_FRACTION,
    PROVENANCE_FILE,
    SYNTH_CATEGORIES,
    generate_synthetic,
    render_defect,
)
from adlab.errors import AdlabError, ConfigError


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_writes_mvtec_layout_with_masks_matching_images(tmp_path):
    summary = generate_synthetic(tmp_path / "syn", n_train=5, n_test_good=3, n_test_defect=7)
    assert summary.categories == list(SYNTH_CATEGORIES[:2])
    for name in summary.categories:
        base = tmp_path / "syn" / name
        assert len(list((base / "train" / "good").glob("*.png"))) == 5
        assert len(list((base / "test" / "good").glob("*.png"))) == 3
        defect_images = [p for d in summary.defect_types[name] for p in (base / "test" / d).glob("*.png")]
        assert len(defect_images) == 7 and len(summary.defect_types[name]) >= 3
        for image_path in defect_images:
            mask_path = base / "ground_truth" / image_path.parent.name / f"{image_path.stem}_mask.png"
            image, mask = Image.open(image_path), np.asarray(Image.open(mask_path))
            assert image.size == (128, 128) and image.mode == "RGB"
            assert mask.shape == (128, 128) and set(np.unique(mask)) == {0, 255}
    prov = json.loads((tmp_path / "syn" / PROVENANCE_FILE).read_text())
    assert prov["seed"] == 0 and prov["image_size"] == 128 and prov["categories"] == summary.categories
    assert prov["n_test_defect"] == 7 and prov["defect_types"] == summary.defect_types


def test_same_seed_gives_byte_identical_files_and_other_seed_differs(tmp_path):
    kwargs = dict(categories=["tiles", "washer"], n_train=3, n_test_good=2, n_test_defect=4, image_size=64)
    a = tree_digest(generate_synthetic(tmp_path / "a", seed=7, **kwargs).root)
    b = tree_digest(generate_synthetic(tmp_path / "b", seed=7, **kwargs).root)
    c = tree_digest(generate_synthetic(tmp_path / "c", seed=8, **kwargs).root)
    assert a == b
    images = [k for k in a if k.endswith(".png")]
    assert images and all(a[k] != c[k] for k in images if "train" in k)


def test_counts_do_not_change_other_images(tmp_path):
    small = generate_synthetic(tmp_path / "small", categories=["wood"], n_train=2, n_test_good=1, n_test_defect=3)
    large = generate_synthetic(tmp_path / "large", categories=["wood"], n_train=4, n_test_good=1, n_test_defect=3)
    for rel in ("wood/train/good/000.png", "wood/train/good/001.png", "wood/test/good/000.png"):
        assert (small.root / rel).read_bytes() == (large.root / rel).read_bytes()


@pytest.mark.parametrize("category", SYNTH_CATEGORIES)
def test_mask_covers_exactly_the_changed_pixels_and_defects_are_small(category):
    regions = []
    for index in range(9):
        image, mask, defect, clean = render_defect(category, 3, index, 96)
        changed = np.abs(image.astype(int) - clean.astype(int)).max(axis=2)
        assert not changed[~mask].any(), f"{category}/{defect}: pixels changed outside the mask"
        assert (changed[mask] >= 8).all(), f"{category}/{defect}: mask pixels left unchanged"
        assert MIN_AREA_FRACTION <= mask.mean() <= MAX_AREA_FRACTION
        regions.append(ndimage.label(mask, structure=np.ones((3, 3)))[1])
    assert min(regions) >= 1


def test_some_images_have_two_separate_regions():
    counts = [ndimage.label(render_defect(c, 0, i, 128)[1], structure=np.ones((3, 3)))[1]
              for c in SYNTH_CATEGORIES for i in range(6)]
    assert any(n >= 2 for n in counts) and any(n == 1 for n in counts)


def test_every_defect_kind_is_used():
    from adlab.data.synth.generator import SPECS

    used = {d for spec in SPECS.values() for d in spec.defect_types}
    assert used == set(DEFECT_KINDS)


def test_reads_back_as_synthetic_and_masks_equal_written_files(tmp_path):
    root = generate_synthetic(tmp_path / "syn", categories=["brushed_metal"], n_train=2, n_test_good=2,
                              n_test_defect=3, image_size=64).root
    for dataset in ("synthetic", "mvtec_ad", "mpdd"):
        data = load_category(dataset, root, "brushed_metal")
        assert len(data.train) == 2 and len(data.test) == 5 and data.val == []
        for sample in data.test:
            mask = load_mask(sample)
            if sample.label:
                expected = np.asarray(Image.open(sample.mask_paths[0])) > 0
                assert np.array_equal(mask, expected.astype(np.uint8)) and mask.any()
            else:
                assert not mask.any() and mask.shape == (64, 64)


def test_refuses_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / "syn"
    generate_synthetic(out, categories=1, n_train=1, n_test_good=1, n_test_defect=1, image_size=32)
    with pytest.raises(AdlabError, match="not empty"):
        generate_synthetic(out, categories=1, n_train=1, n_test_good=1, n_test_defect=1, image_size=32)
    summary = generate_synthetic(out, categories=1, n_train=2, n_test_good=1, n_test_defect=1, image_size=32,
                                 overwrite=True)
    assert len(list((out / summary.categories[0] / "train" / "good").iterdir())) == 2
    # fewer defect images than defect types: no empty defect folders are left behind
    assert sorted(p.name for p in (out / summary.categories[0] / "test").iterdir()) == \
        sorted(["good", summary.defect_types[summary.categories[0]][0]])


@pytest.mark.parametrize("kwargs, fragment", [
    ({"categories": ["nope"]}, "unknown synthetic category 'nope'"),
    ({"categories": 99}, "must be between 1 and"),
    ({"image_size": 8}, "image_size=8"),
    ({"n_train": 0}, "n_train=0"),
    ({"n_test_good": 0, "n_test_defect": 0}, "at least 1"),
])
def test_bad_parameters_are_one_clear_error(tmp_path, kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment) as err:
        generate_synthetic(tmp_path / "x", **kwargs)
    if "nope" in fragment:
        assert "woven" in str(err.value)
