"""``adlab models``: the VLM names the ``mmad`` pipeline knows (the seed's ``--list-models``).

Besides these names, ``llm:`` takes any Hugging Face model id or local folder, and any
OpenAI-compatible endpoint (``vllm:<model>``, ``ollama:<model>``, ``lmstudio:<model>``, or any
name with ``api.base_url``).
"""
from __future__ import annotations

import typer

from adlab.cli._common import JsonOption, emit_json, info, out_console


def models_command(as_json: bool = JsonOption) -> None:
    """List the registered VLMs: API models and local Hugging Face models."""
    from adlab.pipelines.mmad.registry import COMPATIBLE_PREFIXES, list_models

    entries = list_models()
    if as_json:
        emit_json({
            "models": [{"name": e.name, "kind": e.kind, "provider": e.provider, "model_id": e.model_id,
                        "description": e.description, "defaults": e.defaults,
                        "key_env": list(e.key_env)} for e in entries],
            "openai_compatible_prefixes": COMPATIBLE_PREFIXES,
            "also": "any Hugging Face model id or local folder; any OpenAI-compatible endpoint "
                    "via api.base_url",
        })
        return
    from rich.table import Table

    for kind, title in (("api", "API models"), ("local", "Local models (Hugging Face)")):
        table = Table("name", "provider", "model id", "defaults", "key from", title=title,
                      title_justify="left")
        for e in entries:
            if e.kind == kind:
                defaults = ", ".join(f"{k}={v}" for k, v in e.defaults.items())
                table.add_row(e.name, e.provider, e.model_id, defaults, " or ".join(e.key_env))
        out_console.print(table)
    out_console.print("Also: any Hugging Face model id or local folder (llm: Qwen/Qwen2.5-VL-2B-Instruct), "
                      "and OpenAI-compatible servers: " + ", ".join(
                          f"{p}:<model>" for p in COMPATIBLE_PREFIXES) + " or api.base_url.",
                      markup=False)
    info(f"{len(entries)} registered model(s)")


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
