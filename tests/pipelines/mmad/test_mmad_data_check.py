"""The queue-time check of MMAD data reads the head of mmad.json only, and data not on this
machine is a warning (the refusals themselves are cases in tests/lifecycle/bad_inputs_cases.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from mmad_builders import make_mmad

from adlab.errors import ConfigError
from adlab.pipelines.mmad.data import first_entries
from adlab.pipelines.mmad.data_check import AdFilesCheck, MmadDataCheck


def test_the_head_is_read_without_the_rest_of_the_file(tmp_path: Path) -> None:
    path, _ = make_mmad(tmp_path / "MMAD")
    data = json.loads(path.read_text())
    text = path.read_text()
    broken = tmp_path / "tail_broken.json"
    broken.write_text(text[: len(text) - 5] + "<<not json")  # only the end is wrong
    got = first_entries(broken, 3, chunk=256)
    assert [k for k, _ in got] == list(data)[:3] and got[0][1] == data[got[0][0]]
    assert first_entries(path, 100) == list(data.items())  # fewer entries than asked: all


@pytest.mark.parametrize("text,message", [
    ("[1, 2]", "its top level is a list"),
    ("{}", "it is an empty object"),
    ('{"a": {"conversation": []}, "b": {"conv', "is not valid JSON"),
    ('{"a": {"conversation": []} "b": 1}', "is not valid JSON (expected ',' or '}'"),
])
def test_a_head_that_is_not_mmad_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mmad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        first_entries(path, 3)


def test_data_not_on_this_machine_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADLAB_DATA_ROOT", raising=False)
    [warning] = MmadDataCheck(None, None).run()
    assert "ADLAB_DATA_ROOT is not set here" in warning
    [warning] = MmadDataCheck("/nonexistent-mount/MMAD", None).run()
    assert "data_root /nonexistent-mount/MMAD is not on this machine" in warning
    monkeypatch.setenv("ADLAB_DATA_ROOT", "/nonexistent-mount")
    assert "not on this machine" in MmadDataCheck(None, None).run()[0]
    [a, b] = AdFilesCheck(("/nonexistent-mount/ckpt",), "/nonexistent-mount/t.yaml").run()
    assert "checkpoints /nonexistent-mount/ckpt is not on this machine" in a
    assert "thresholds /nonexistent-mount/t.yaml is not on this machine" in b


def test_a_good_mmad_folder_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_mmad(tmp_path / "MMAD")
    assert MmadDataCheck(str(tmp_path / "MMAD"), None, few_shot=4, similar=True).run() == []
    monkeypatch.setenv("ADLAB_DATA_ROOT", str(tmp_path))  # its MMAD sub-folder
    assert MmadDataCheck(None, None, few_shot=1).run() == []
    assert MmadDataCheck(None, str(tmp_path / "MMAD" / "mmad.json")).run() == []
