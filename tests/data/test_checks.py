"""Dataset problems are found when the run is queued, not ~15 s into a worker; a mask of another
size than its image, or a file that cannot be decoded, fails the run naming the file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adlab.data import load_category, load_mask
from adlab.data.checks import check_dataset, locate_root
from adlab.data.synth import generate_synthetic
from adlab.errors import DataError, NotFoundError


@pytest.fixture
def synth(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "synthetic"
    generate_synthetic(root, categories=["woven", "washer"], seed=0, image_size=32, n_train=2,
                       n_test_good=1, n_test_defect=2)
    return root


def _masks(root: Path, category: str = "woven") -> list[Path]:
    return sorted((root / category / "ground_truth").rglob("*_mask.png"))


def _shrink(mask: Path, size: tuple[int, int] = (16, 20)) -> None:
    Image.open(mask).resize(size).save(mask)


def test_a_good_tree_passes_with_no_warning(synth: Path) -> None:
    assert check_dataset("synthetic", synth, None) == []
    assert check_dataset("synthetic", str(synth), ["woven"]) == []


def test_a_missing_root_beside_an_existing_folder_is_an_error(synth: Path) -> None:
    typo = synth.parent / "synthetc"
    with pytest.raises(DataError) as err:
        check_dataset("synthetic", typo, None)
    text = str(err.value)
    assert str(typo) in text and f"parent folder {synth.parent} does; fix data.root" in text


def test_a_root_not_on_this_machine_is_a_warning(tmp_path: Path) -> None:
    remote = tmp_path / "not-mounted-here" / "scratch" / "MVTecAD"
    [warning] = check_dataset("mvtec_ad", remote, ["bottle"])
    assert str(remote) in warning and "not on this machine" in warning


def test_the_data_root_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synth: Path) -> None:
    monkeypatch.delenv("ADLAB_DATA_ROOT", raising=False)
    [warning] = check_dataset("synthetic", None, None)
    assert "ADLAB_DATA_ROOT is not set here" in warning
    monkeypatch.setenv("ADLAB_DATA_ROOT", str(tmp_path / "elsewhere"))
    assert "not on this machine" in check_dataset("synthetic", None, None)[0]
    monkeypatch.setenv("ADLAB_DATA_ROOT", str(synth.parent))
    assert locate_root(None, "synthetic") == synth and check_dataset("synthetic", None, None) == []
    monkeypatch.setenv("ADLAB_DATA_ROOT", str(tmp_path))  # exists, but holds no synthetic/
    with pytest.raises(NotFoundError, match="has no folder for dataset 'synthetic'"):
        check_dataset("synthetic", None, None)


def test_a_file_as_root_and_an_unknown_dataset(tmp_path: Path) -> None:
    file = tmp_path / "data.txt"
    file.write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        check_dataset("synthetic", file, None)
    with pytest.raises(NotFoundError, match="unknown dataset 'mvtec'"):
        check_dataset("mvtec", tmp_path / "nowhere" / "x", None)


def test_layout_problems_name_the_path(synth: Path) -> None:
    with pytest.raises(NotFoundError, match="has no category 'screw'; categories found: washer, woven"):
        check_dataset("synthetic", synth, ["screw"])
    (synth / "empty").mkdir()
    with pytest.raises(NotFoundError, match=f"the folder {synth / 'empty'} of category 'empty' holds no"):
        check_dataset("synthetic", synth, ["empty"])
    for image in (synth / "woven" / "train" / "good").iterdir():
        image.unlink()
    with pytest.raises(NotFoundError, match="category 'woven' has no images in .*train/good"):
        check_dataset("synthetic", synth, None)
    (synth / "woven" / "train" / "good").rmdir()
    with pytest.raises(NotFoundError, match="category 'woven' has no train/good folder"):
        check_dataset("synthetic", synth, ["woven"])
    assert check_dataset("synthetic", synth, ["washer"]) == []  # only what the run reads


def test_a_mask_of_another_size_is_refused_at_queue_time_and_in_the_run(synth: Path) -> None:
    masks = _masks(synth)
    for mask in masks:
        _shrink(mask)
    with pytest.raises(DataError) as err:
        check_dataset("synthetic", synth, None)
    text = str(err.value)
    assert f"mask {masks[0]} is 16x20 pixels but its image" in text and "is 32x32" in text
    assert f"1 more mask(s) of category 'woven' too: {masks[1]}" in text
    sample = next(s for s in load_category("synthetic", synth, "woven").test if s.mask_paths)
    with pytest.raises(DataError, match="resize the mask to 32x32"):
        load_mask(sample, (64, 64))  # the run: refused, not stretched to the model's size


def test_an_unreadable_mask_or_image_is_a_data_error_naming_the_file(synth: Path) -> None:
    mask = _masks(synth)[0]
    mask.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, then nothing
    with pytest.raises(DataError, match=f"cannot read mask {mask} "):
        check_dataset("synthetic", synth, None)
    sample = next(s for s in load_category("synthetic", synth, "woven").test if mask in s.mask_paths)
    with pytest.raises(DataError, match=f"cannot read mask {mask} .*replace or remove the file"):
        load_mask(sample)
    bomb = synth / "woven" / "test" / "good" / "000.png"
    Image.frombytes("1", (20000, 20000), b"\x00" * (20000 * 20000 // 8)).save(bomb)
    from adlab.data import load_image

    with pytest.raises(DataError, match=f"cannot read image {bomb} \\(DecompressionBombError"):
        load_image(bomb)


def _study(tmp_path: Path, root: Path | str, categories: str = "all") -> Path:
    cfg = tmp_path / "study.yaml"
    cfg.write_text(json.dumps({"pipeline": "anomalib", "model": "padim", "data": {
        "dataset": "synthetic", "root": str(root), "categories": categories,
        "split_runs": "joint"}}))
    return cfg


def test_adlab_queue_checks_the_data_and_can_be_told_not_to(cli, tmp_path: Path, synth: Path) -> None:
    ok = cli("queue", str(_study(tmp_path, synth)), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["data_warnings"] == [] and len(json.loads(ok.stdout)["created"]) == 1

    for mask in _masks(synth):
        _shrink(mask)
    bad = cli("queue", str(_study(tmp_path, synth, "woven")))
    assert bad.returncode == 1
    [line] = bad.stderr.strip().splitlines()
    assert "is 16x20 pixels but its image" in line and "--no-data-check" in line

    typo = cli("queue", str(_study(tmp_path, synth.parent / "synthetc")), "--dry-run")
    assert typo.returncode == 1 and "does not exist, though its parent folder" in typo.stderr
    assert "(`adlab queue --no-data-check` skips this check)" in typo.stderr
    skipped = cli("queue", str(_study(tmp_path, synth.parent / "synthetc")), "--no-data-check",
                  "--dry-run")
    assert skipped.returncode == 0, skipped.stderr

    remote = cli("queue", str(_study(tmp_path, "/nonexistent-mount/synthetic")), "--json")
    assert remote.returncode == 0, remote.stderr
    assert "warning: data root /nonexistent-mount/synthetic" in remote.stderr
    assert "not on this machine" in json.loads(remote.stdout)["data_warnings"][0]


def test_adlab_metrics_on_the_official_layout_refuses_a_bad_mask(cli, tmp_path: Path, synth: Path):
    """The metrics reader applies the same two rules: an undecodable mask is one sentence
    naming it (it was `unexpected UnidentifiedImageError`), one of another size is refused (it
    was stretched onto the maps without a word)."""
    for image in (synth / "woven" / "test").rglob("*.png"):
        out = tmp_path / "maps" / image.relative_to(synth).with_suffix(".tiff")
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(0).random((32, 32), np.float32)).save(out)
    args = ("metrics", "--maps-dir", str(tmp_path / "maps"), "--dataset-root", str(synth))
    ok = cli(*args)
    assert ok.returncode == 0, ok.stderr
    mask = _masks(synth)[0]
    _shrink(mask)
    small = cli(*args)
    assert small.returncode == 1 and f"error: mask {mask} is 16x20 pixels but its image" in small.stderr
    mask.write_bytes(b"not a png")
    broken = cli(*args)
    assert broken.returncode == 1 and "unexpected" not in broken.stderr
    assert f"error: cannot read mask {mask} (UnidentifiedImageError" in broken.stderr


@pytest.mark.heavy
@pytest.mark.slow
def test_a_run_whose_mask_has_another_size_fails_naming_it_and_the_worker_goes_on(engine, tmp_path):
    """Queued past the check (--no-data-check, or data broken after queueing): the run fails
    with the reader's sentence (an undecodable mask takes the same DataError path), not a
    stretched mask nor an `unexpected` exception, and the next run succeeds."""
    from adlab.config.loader import build_run_specs
    from adlab.db.queries import get_run
    from adlab.queue import enqueue
    from lab_helpers import start_worker

    good, broken = tmp_path / "good" / "synthetic", tmp_path / "broken" / "synthetic"
    for root in (good, broken):
        generate_synthetic(root, categories=["woven"], seed=0, image_size=32, n_train=4,
                           n_test_good=2, n_test_defect=2)
    mask = _masks(broken)[0]
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(mask)  # another size
    ids = []
    for root in (broken, good):
        raw = {"pipeline": "anomalib", "model": "padim", "image_size": 32,
               "model_params": {"backbone": "resnet18", "layers": ["layer1", "layer2"],
                                "pre_trained": False},
               "data": {"dataset": "synthetic", "root": str(root), "categories": "woven"},
               "train": {"batch_size": 4}, "inference": {"batch_size": 4}, "visuals": {"count": 0}}
        ids += enqueue(engine, build_run_specs(raw)).created
    w = start_worker("--until-empty")
    assert w.wait(timeout=900) == 0, w.stderr.read()
    failed, succeeded = (get_run(engine, run_id=i) for i in ids)
    assert failed.status == "failed" and f"mask {mask} is 8x8 pixels" in failed.error, failed.error
    assert "unexpected" not in failed.error and "Error:" not in failed.error
    assert succeeded.status == "succeeded", succeeded.error
