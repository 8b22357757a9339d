"""The pipelines' own YAML inputs (a thresholds file, ``ad.config``, a seed's ``config.yaml``
for ``import-model``) read through the same guard as study files (issue 15, part 10):
duplicate keys, alias bombs, recursive anchors and non-UTF-8 bytes are one sentence naming the
file, never a silent last-key-wins, minutes of expansion or a traceback."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from adlab.cli import main
from adlab.core.yaml_safety import YamlInputError, read_yaml_file
from adlab.errors import ConfigError
from adlab.pipelines.components.predictions import Thresholds

DUPLICATE = "global: 2.5\ncategories: {}\nglobal: 3.0\n"


def alias_bomb(top: str = "checkpoints") -> str:
    """9^9 = 387 million strings once expanded, from ten short lines."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join('*' + prev for _ in range(9))}]")
    return "\n".join(lines) + f"\n{top}: *i\n"


def one_error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI in this process; it must exit 1 with one ``error:`` line on stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    assert exc.value.code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "unexpected" not in err and "Traceback" not in err and not out.strip()
    return lines[0]


def test_thresholds_file_refuses_duplicate_keys_alias_bombs_and_other_encodings(tmp_path: Path):
    path = tmp_path / "thresholds.yaml"
    path.write_text(DUPLICATE, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        Thresholds.from_yaml(path)
    assert str(exc.value) == (f"thresholds file {path}, line 3: key 'global' appears twice in one "
                              "mapping (first at line 1); keep one of them")
    path.write_text(alias_bomb("categories"), encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"its YAML aliases expand to more than 100,000 values"):
        Thresholds.from_yaml(path)
    assert time.perf_counter() - started < 2.0
    path.write_bytes(b"global: 2.5\nsource: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 0xe9 at byte offset 23, line 2\)"):
        Thresholds.from_yaml(path)
    path.write_text("- 1\n- 2\n", encoding="utf-8")  # a list, not the mapping it must be
    with pytest.raises(ConfigError, match="expected `global: <number>`"):
        Thresholds.from_yaml(path)


def test_thresholds_file_reads_yaml_12_numbers(tmp_path: Path):
    path = tmp_path / "thresholds.yaml"
    path.write_text("global: 2e-1\ncategories: {MVTec/bottle: 1e0}\n", encoding="utf-8")
    t = Thresholds.from_yaml(path)
    assert t.image("MVTec/bottle") == 1.0 and t.image("other/x") == 0.2


def test_mmad_ad_config_is_guarded_when_queued(tmp_path: Path, capsys):
    ad_config = tmp_path / "ad.yaml"
    study = tmp_path / "s.yaml"
    study.write_text(f"pipeline: mmad\nllm: qwen\nad_model: patchcore\nad:\n  config: {ad_config}\n",
                     encoding="utf-8")
    ad_config.write_text("checkpoints: /a\nthresholds: t.yaml\ncheckpoints: /b\n", encoding="utf-8")
    msg = one_error_line(capsys, "queue", str(study), "--dry-run")
    assert msg == (f"error: ad.config: {ad_config}, line 3: key 'checkpoints' appears twice in one "
                   "mapping (first at line 1); keep one of them")
    ad_config.write_text(alias_bomb(), encoding="utf-8")
    msg = one_error_line(capsys, "queue", str(study), "--dry-run")
    assert msg.startswith(f"error: ad.config: {ad_config}: its YAML aliases expand to more than")
    ad_config.write_text("fit: &f\n  again: *f\n", encoding="utf-8")
    msg = one_error_line(capsys, "queue", str(study), "--dry-run")
    assert f"ad.config: {ad_config}, line 1: anchor &f is used inside itself" in msg


def test_import_model_seed_config_is_guarded(tmp_path: Path, capsys):
    checkpoints = tmp_path / "checkpoints"
    (checkpoints / "MVTec" / "bottle").mkdir(parents=True)
    (checkpoints / "MVTec" / "bottle" / "model.pt").write_bytes(b"not read before the config")
    config = tmp_path / "config.yaml"
    config.write_text("data:\n  datasets: {MVTec: [bottle]}\n  datasets: {MVTec: [cable]}\n",
                      encoding="utf-8")
    msg = one_error_line(capsys, "import-model", str(checkpoints), "--config", str(config))
    assert msg == (f"error: config {config}, line 3: key 'datasets' appears twice in one "
                   "mapping (first at line 2); keep one of them")
    config.write_text(alias_bomb("data"), encoding="utf-8")
    msg = one_error_line(capsys, "import-model", str(checkpoints), "--config", str(config))
    assert "its YAML aliases expand to more than 100,000 values (an alias bomb?)" in msg
    assert str(config) in msg


def test_the_core_reader_raises_its_own_one_sentence_error_by_default(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(YamlInputError) as exc:
        read_yaml_file(path, "test file")
    assert isinstance(exc.value, ValueError) and "\n" not in str(exc.value)
    assert str(exc.value).startswith(f"test file {path}: invalid YAML at line 2, column 1:")
    with pytest.raises(YamlInputError, match=f"test file {tmp_path / 'missing.yaml'} cannot be read"):
        read_yaml_file(tmp_path / "missing.yaml", "test file")
    path.write_text("[" * 50_000 + "]" * 50_000, encoding="utf-8")
    with pytest.raises(YamlInputError, match="the YAML nests too deeply to read"):
        read_yaml_file(path, "test file")
    path.write_text("", encoding="utf-8")
    assert read_yaml_file(path) is None
