"""Params shaped like the seed's experiment.yaml, the model registry, secrets refused,
run names, partitions and the AD dependency decided at queue time."""
from __future__ import annotations

import json

import pytest
import yaml

from adlab.config.loader import build_run_specs
from adlab.errors import ConfigError
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.registry import MODEL_REGISTRY, resolve_llm

SEED_NAMES = {"gpt-4o": "openai", "gpt-4o-mini": "openai", "claude": "anthropic",
              "claude-haiku": "anthropic", "gemini": "gemini", "gemini-pro": "gemini",
              "qwen": "hf", "qwen-2b": "hf", "qwen3-vl-8b": "hf", "internvl": "hf", "llava": "hf",
              "llava-onevision": "hf"}


def test_registry_has_the_seed_names_and_resolves_other_forms():
    assert {n: e.provider for n, e in MODEL_REGISTRY.items()} == SEED_NAMES
    assert resolve_llm("Qwen/Qwen2.5-VL-2B-Instruct").provider == "hf"
    assert resolve_llm("/models/my-vlm").model_id == "/models/my-vlm"
    vllm = resolve_llm("vllm:Qwen/Qwen2.5-VL-7B-Instruct")
    assert (vllm.provider, vllm.model_id, vllm.base_url) == (
        "openai-compatible", "Qwen/Qwen2.5-VL-7B-Instruct", "http://localhost:8000/v1")
    assert resolve_llm("ollama:llava").base_url == "http://localhost:11434/v1"
    served = resolve_llm("qwen", base_url="http://127.0.0.1:9/v1")
    assert (served.provider, served.model_id) == ("openai-compatible", "Qwen/Qwen2.5-VL-7B-Instruct")
    assert resolve_llm("claude", base_url="http://127.0.0.1:9").provider == "anthropic"


def test_llava_defaults_to_one_question_per_request_unless_set():
    assert MmadParams.model_validate({"llm": "llava"}).eval.batch_mode is False
    assert MmadParams.model_validate({"llm": "llava-onevision"}).eval.batch_mode is False
    assert MmadParams.model_validate({"llm": "llava", "protocol": "adlab", "eval": {"batch_mode": True}}).eval.batch_mode is True
    assert MmadParams.model_validate({"llm": "gpt-4o"}).eval.batch_mode is False


@pytest.mark.parametrize("field,value", [
    ("api.base_url", "https://api.example.com/v1?api_key=abcdef0123456789"),
    ("api.base_url", "https://user:hunter2secret@proxy.example.com/v1"),
    ("llm", "sk-proj-abcdefghijklmnopqrstuvwxyz012345"),
    ("api.model_id", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("api.api_key_env", "sk-abcdef"),
])
def test_params_that_look_like_secrets_are_refused(field, value):
    config = {"pipeline": "mmad"}
    section, _, leaf = field.rpartition(".")
    (config.setdefault(section, {}) if section else config)[leaf] = value
    with pytest.raises(ConfigError) as err:
        build_run_specs(config)
    assert value not in str(err.value) or field == "api.api_key_env"


def test_seed_shortcuts_name_and_partition(mmad_tree):
    root, _ = mmad_tree
    raw = {"pipeline": "mmad", "ad_model": None, "llm": "qwen", "protocol": "adlab",
           "eval": {"few_shot": 1, "similar_template": True, "sample_per_folder": 1}}
    shortcuts = {"llm": "gpt-4o", "few_shot": 3, "max_images": 4, "sample_seed": 7,
                 "batch_mode": True, "data_root": str(root), "resume": True,
                 "output_dir": "outputs/x"}
    [spec] = build_run_specs(raw, shortcut_values=shortcuts)
    p = spec.params
    assert (p.llm, p.eval.few_shot, p.eval.max_images, p.eval.sample_seed, p.eval.batch_mode,
            p.data_root, p.eval.resume, p.output_dir) == (
        "gpt-4o", 3, 4, 7, True, str(root), True, "outputs/x")
    assert spec.name == "none_gpt-4o_3shot"
    assert len(spec.flat["eval.subset"]) == 16 and spec.flat["eval.subset_size"] == 4
    # another LLM or AD model on the same evaluation: same partition and group (ranked together)
    [other] = build_run_specs(raw, shortcut_values={**shortcuts, "llm": "claude"})
    assert other.partition_hash == spec.partition_hash and other.group_hash == spec.group_hash
    # another sample is another evaluation; the same images drawn otherwise are not
    [resampled] = build_run_specs(raw, shortcut_values={**shortcuts, "sample_seed": 8})
    assert resampled.partition_hash != spec.partition_hash
    [everything] = build_run_specs(raw, shortcut_values={**shortcuts, "sample_per_folder": 50,
                                                         "max_images": None})
    [everything2] = build_run_specs(raw, shortcut_values={**shortcuts, "sample_per_folder": 60,
                                                          "sample_seed": 9, "max_images": None})
    assert everything.partition_hash == everything2.partition_hash
    [fewer] = build_run_specs(raw, shortcut_values={**shortcuts, "few_shot": 0})
    assert fewer.partition_hash != spec.partition_hash


def test_ad_model_queues_the_ad_run_on_the_same_sample(mmad_tree, tmp_path):
    root, _ = mmad_tree
    raw = {"pipeline": "mmad", "ad_model": "patchcore", "llm": "gpt-4o", "data_root": str(root),
           "eval": {"sample_per_folder": 2, "sample_seed": 5, "max_images": 6},
           "ad": {"fit": {"image_size": 64}}}
    [spec] = build_run_specs(raw)
    [need] = spec.needs
    assert need.pipeline == "mmad_ad"
    assert (need.params.ad_model, need.params.sample_per_folder, need.params.sample_seed,
            need.params.max_images, need.params.fit.image_size) == ("patchcore", 2, 5, 6, 64)
    assert need.flat["subset"] == spec.flat["eval.subset"]
    assert spec.name == "patchcore_gpt-4o_1shot"
    predictions = tmp_path / "preds.json"
    predictions.write_text("[]")
    [given] = build_run_specs({**raw, "ad": {"output": str(predictions)}})
    assert given.needs == [] and given.depends_on is None
    [by_run] = build_run_specs({**raw, "ad": {"output": "12"}})
    assert by_run.needs == [] and by_run.depends_on == 12
    with pytest.raises(ConfigError, match="does not exist"):
        build_run_specs({**raw, "ad": {"output": str(tmp_path / "missing.json")}})
    config = tmp_path / "ad.yaml"
    config.write_text(yaml.safe_dump({"checkpoints": [str(tmp_path)], "thresholds": None}))
    [from_config] = build_run_specs({**raw, "ad": {"config": str(config)}})
    assert from_config.needs[0].params.checkpoint_dirs() == [str(tmp_path)]


def test_adlab_models_lists_the_registry(cli):
    proc = cli("models", "--json", check=True)
    doc = json.loads(proc.stdout)
    assert {m["name"] for m in doc["models"]} == set(SEED_NAMES)
    llava = next(m for m in doc["models"] if m["name"] == "llava")
    assert llava["defaults"] == {"batch_mode": False} and llava["kind"] == "local"
    assert "vllm" in doc["openai_compatible_prefixes"]
    text = cli("models", check=True).stdout
    assert "gpt-4o" in text and "llava-onevision" in text


def test_registry_ids_are_published_checkpoints_with_notes_and_overridable(cli, monkeypatch):
    from adlab.pipelines.mmad.clients import make_client

    entry = resolve_llm("qwen-2b")
    assert entry.model_id == "Qwen/Qwen2-VL-2B-Instruct" and "never published" in entry.note
    assert "retired" in resolve_llm("gemini").note
    proc = cli("models", "--json")
    assert proc.returncode == 0, proc.stderr
    notes = {m["name"]: m["note"] for m in json.loads(proc.stdout)["models"]}
    assert "Qwen2-VL-2B-Instruct" in notes["qwen-2b"] and notes["gpt-4o"] == ""
    human = cli("models")
    assert "Note on qwen-2b:" in human.stdout
    monkeypatch.setenv("OPENAI_API_KEY", "key-for-tests-only")
    params = MmadParams.model_validate({"llm": "gpt-4o", "api": {
        "base_url": "http://127.0.0.1:9/v1", "model_id": "gpt-4.1"}})
    client = make_client(resolve_llm(params.llm, base_url=params.api.base_url), params, "cpu")
    assert client.model_id == "gpt-4.1"  # any mapping is overridden with api.model_id
    client.close()
