"""mmad.json reading, the seed's stratified sampling, questions and templates."""
from __future__ import annotations

import json

import pytest

from adlab.errors import ConfigError, NotFoundError
from adlab.pipelines.mmad.data import (folder_of, load_mmad, questions_of, select_images,
                                       stratified_sample, templates_of)
from mmad_builders import make_mmad


def _big_tree(tmp_path):
    layout = {"GoodsAD": {"box": {"good": 7, "bad": 5}, "can": {"good": 4, "bad": 6}},
              "MVTec-LOCO": {"pins": {"good": 5, "logical": 3, "structural": 4}}}
    return make_mmad(tmp_path / "MMAD", layout)


def test_stratified_sampling_per_folder_seeded_and_ordered(tmp_path):
    path, _ = _big_tree(tmp_path)
    data = load_mmad(path)
    images = list(data)
    sample = stratified_sample(images, 3, seed=42)
    per_folder: dict = {}
    for image in sample:
        per_folder[folder_of(image)] = per_folder.get(folder_of(image), 0) + 1
    assert len(per_folder) == 7 and set(per_folder.values()) == {3}
    assert sample == [i for i in images if i in set(sample)]  # mmad.json order kept
    assert stratified_sample(images, 3, seed=42) == sample  # same seed, same sample
    assert any(stratified_sample(images, 3, seed=s) != sample for s in range(1, 6))
    assert stratified_sample(images, None, seed=1) == images


def test_select_images_summary_line_and_max_images(tmp_path):
    path, _ = _big_tree(tmp_path)
    data = load_mmad(path)
    subset = select_images(data, per_folder=3, seed=42, max_images=None)
    assert subset.summary_lines() == [
        "Stratified sampling: 3 per folder, 7 folders",
        "  Total: 34 -> Sampled: 21 (normal=9, anomaly=12)"]
    limited = select_images(data, per_folder=3, seed=42, max_images=5)
    assert limited.images == subset.images[:5]
    assert limited.sha256 != subset.sha256
    assert select_images(data, per_folder=3, seed=42, max_images=None).sha256 == subset.sha256


def test_questions_templates_and_bad_files(tmp_path):
    path, truth = make_mmad(tmp_path / "MMAD")
    data = load_mmad(path)
    image = next(iter(data))
    qs = questions_of(image, data[image])
    assert [q.index for q in qs] == list(range(len(qs)))
    assert all(truth[q.text] == q.answer for q in qs)
    assert templates_of(data[image], 2, similar=True) == data[image]["similar_templates"][:2]
    assert templates_of(data[image], 0, similar=False) == []
    broken = dict(data)
    broken[image] = {**data[image], "conversation": [{"Question": "x", "Options": {"A": "a"},
                                                      "Answer": "C", "type": "t"}]}
    with pytest.raises(ConfigError, match="answer must be one of the option letters"):
        questions_of(image, broken[image])
    with pytest.raises(NotFoundError, match="does not exist"):
        load_mmad(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"a.png": {"no": "conversation"}}))
    with pytest.raises(ConfigError, match="no `conversation` list"):
        load_mmad(bad)
