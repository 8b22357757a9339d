"""Config files: validation errors name file, field and value; expansion; overrides."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adlab.config.loader import build_run_specs, load_run_specs
from adlab.errors import ConfigError


def write(tmp: Path, text: str, name: str = "study.yaml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_unknown_field_names_file_field_and_exits_1(tmp_path, cli):
    cfg = write(tmp_path, "pipeline: diag\nsteps: 2\nstepz: 3\n")
    proc = cli("queue", str(cfg))
    assert proc.returncode == 1
    assert "study.yaml" in proc.stderr and "`stepz`" in proc.stderr and "unknown field" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_bad_type_names_value(tmp_path, cli):
    cfg = write(tmp_path, "pipeline: diag\nsteps: many\n")
    proc = cli("queue", str(cfg))
    assert proc.returncode == 1
    assert "`steps`" in proc.stderr and "'many'" in proc.stderr


def test_missing_file_and_bad_yaml(tmp_path, cli):
    proc = cli("queue", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 1 and "nope.yaml does not exist" in proc.stderr
    bad = write(tmp_path, "pipeline: diag\nsteps: [1, 2\n", "bad.yaml")
    proc = cli("queue", str(bad))
    assert proc.returncode == 1 and "invalid YAML at line" in proc.stderr and "bad.yaml" in proc.stderr


def test_unknown_pipeline_lists_known(tmp_path):
    with pytest.raises(Exception) as err:
        build_run_specs({"pipeline": "nosuch"})
    assert "unknown pipeline 'nosuch'" in str(err.value) and "diag" in str(err.value)


def test_usage_error_exits_2(cli):
    proc = cli("queue", "--no-such-flag")
    assert proc.returncode == 2


def test_env_expansion_and_yaml12_floats(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPS", "4")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    cfg = write(tmp_path, "pipeline: diag\nsteps: ${STEPS}\nvalue: 2e-4\nlabel: run-${UNSET_VAR:-x}\n")
    [spec] = load_run_specs(cfg)
    assert spec.params.steps == 4 and spec.params.value == pytest.approx(0.0002)
    assert spec.params.label == "run-x"
    cfg2 = write(tmp_path, "pipeline: diag\nlabel: ${UNSET_VAR}\n", "b.yaml")
    with pytest.raises(ConfigError, match=r"UNSET_VAR.*not set"):
        load_run_specs(cfg2)


def test_grid_times_conditions(tmp_path):
    cfg = write(tmp_path, """
pipeline: diag
study: s1
steps: 1
conditions:
  - name: fast
    config: {step_seconds: 0.0}
  - name: slow
    description: slower
    config: {step_seconds: 0.5, steps: 2}
grid:
  value: [0.1, 0.2]
  seed: [0, 1, 2]
""")
    specs = load_run_specs(cfg)
    assert len(specs) == 2 * 2 * 3
    names = [s.name for s in specs]
    assert len(set(names)) == len(names)
    assert "fast_value0.1_seed0" in names and "slow_value0.2_seed2" in names
    slow = [s for s in specs if s.name.startswith("slow")]
    assert all(s.params.steps == 2 and s.params.step_seconds == 0.5 for s in slow)
    assert all(s.study == "s1" for s in specs)
    # seeds share a group; different values do not
    by_group = {}
    for s in specs:
        by_group.setdefault(s.group_hash, set()).add(s.seed)
    assert len(by_group) == 4 and all(v == {0, 1, 2} for v in by_group.values())


def test_seed_json_conditions_format(tmp_path):
    cfg = write(tmp_path, json.dumps({
        "pipeline": "diag",
        "experiment_conditions": [
            {"name": "a", "description": "x", "config": {"steps": 3}},
            {"name": "b", "description": "y", "config": {"steps": 4}},
        ]}), "conds.json")
    specs = load_run_specs(cfg)
    assert [(s.name, s.params.steps) for s in specs] == [("a", 3), ("b", 4)]


def test_overrides_win_and_shortcuts_map_to_paths(tmp_path):
    cfg = write(tmp_path, "pipeline: diag\nsteps: 1\n")
    [spec] = load_run_specs(cfg, sets=[("steps", 7), ("value", 0.25)])
    assert spec.params.steps == 7 and spec.params.value == 0.25
    with pytest.raises(ConfigError, match=r"`eval`"):  # diag has no eval section
        load_run_specs(cfg, shortcut_values={"few_shot": 2})


def test_set_option_parses_yaml_values():
    from adlab.config.overrides import parse_set_option

    assert parse_set_option("a.b=3") == ("a.b", 3)
    assert parse_set_option("lr=3e-4") == ("lr", 3e-4)
    assert parse_set_option("flag=true") == ("flag", True)
    assert parse_set_option("xs=[1, 2]") == ("xs", [1, 2])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_option("novalue")


def test_values_compare_by_meaning():
    from adlab.core.values import canonical_json, coerce_stringified, stable_hash

    # Text from a source that stringifies (MLflow params) means the number or boolean it spells;
    # a string from a typed source stays a string (issue 14: "1.10" is not "1.1").
    assert canonical_json({"lr": 2e-4}) == canonical_json({"lr": coerce_stringified("0.0002")})
    assert stable_hash({"x": 1}) == stable_hash({"x": 1.0})
    assert stable_hash({"f": True}) == stable_hash({"f": coerce_stringified("True")})
    assert stable_hash({"x": 1}) != stable_hash({"x": 2})
    assert stable_hash({"v": "1.10"}) != stable_hash({"v": "1.1"})


def test_numeric_spellings_share_config_hash(tmp_path):
    a = load_run_specs(write(tmp_path, "pipeline: diag\nvalue: 2e-4\n", "a.yaml"))[0]
    b = load_run_specs(write(tmp_path, "pipeline: diag\nvalue: 0.0002\n", "b.yaml"))[0]
    assert a.config_hash == b.config_hash and a.group_hash == b.group_hash
