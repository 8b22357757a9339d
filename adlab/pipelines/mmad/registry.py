"""Model names the ``mmad`` pipeline knows (the seed's MODEL_REGISTRY), and how a name resolves.

A name resolves, in order, to: a registry entry (``gpt-4o``, ``claude``, ``qwen``, ...); an
OpenAI-compatible server model written ``vllm:<model>``, ``ollama:<model>``, ``lmstudio:<model>``
or ``openai-compatible:<model>`` (or any name with ``api.base_url`` set); else a Hugging Face
model id or local folder loaded with transformers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

API_PROVIDERS = ("openai", "anthropic", "gemini", "openai-compatible")
KEY_ENV = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai-compatible": ("OPENAI_API_KEY",),
}
# Default local servers of the OpenAI-compatible prefixes.
COMPATIBLE_PREFIXES = {
    "vllm": "http://localhost:8000/v1",
    "ollama": "http://localhost:11434/v1",
    "lmstudio": "http://localhost:1234/v1",
    "openai-compatible": None,
}


@dataclass(frozen=True)
class ModelEntry:
    name: str
    provider: str  # openai | anthropic | gemini | openai-compatible | hf
    model_id: str
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    base_url: Optional[str] = None
    # why the id differs from the seed's (a checkpoint that does not exist, a retired model);
    # shown by `adlab models`. Any mapping is overridden per run with api.model_id.
    note: str = ""
    # the MMAD query script family reproduced under protocol official (protocol.FAMILIES key);
    # "" = from the model's name
    family: str = ""

    @property
    def kind(self) -> str:
        return "local" if self.provider == "hf" else "api"

    @property
    def key_env(self) -> tuple[str, ...]:
        return KEY_ENV.get(self.provider, ())


MODEL_REGISTRY: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("gpt-4o", "openai", "gpt-4o", "OpenAI GPT-4o", family="gpt4o"),
    ModelEntry("gpt-4o-mini", "openai", "gpt-4o-mini", "OpenAI GPT-4o mini", family="gpt4o-mini"),
    ModelEntry("claude", "anthropic", "claude-sonnet-4-20250514", "Anthropic Claude Sonnet 4",
               family="claude"),
    ModelEntry("claude-haiku", "anthropic", "claude-3-5-haiku-20241022",
               "Anthropic Claude 3.5 Haiku", family="claude"),
    ModelEntry("gemini", "gemini", "gemini-2.5-flash", "Google Gemini 2.5 Flash",
               note="the seed's gemini-1.5-flash (MMAD's paper model) is retired by Google; "
                    "set api.model_id to use another", family="gemini"),
    ModelEntry("gemini-pro", "gemini", "gemini-2.5-pro", "Google Gemini 2.5 Pro",
               note="the seed's gemini-1.5-pro (MMAD's paper model) is retired by Google; "
                    "set api.model_id to use another", family="gemini"),
    ModelEntry("qwen", "hf", "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen2.5-VL 7B", family="qwen"),
    ModelEntry("qwen-2b", "hf", "Qwen/Qwen2-VL-2B-Instruct", "Qwen2-VL 2B",
               note="the seed's Qwen/Qwen2.5-VL-2B-Instruct was never published (Qwen2.5-VL "
                    "comes in 3B, 7B, 32B, 72B); the 2B model is Qwen2-VL-2B-Instruct. For "
                    "the smallest Qwen2.5-VL set llm: Qwen/Qwen2.5-VL-3B-Instruct", family="qwen"),
    ModelEntry("qwen3-vl-8b", "hf", "Qwen/Qwen3-VL-8B-Instruct", "Qwen3-VL 8B", family="qwen"),
    # The seed named OpenGVLab/InternVL2-8B, which only loads with trust_remote_code and its own
    # chat(); the transformers-native port of the same family is InternVL3 "-hf".
    ModelEntry("internvl", "hf", "OpenGVLab/InternVL3-8B-hf", "InternVL3 8B (transformers-native)",
               family="internvl"),
    ModelEntry("llava", "hf", "llava-hf/llava-1.5-7b-hf", "LLaVA 1.5 7B",
               defaults={"batch_mode": False}, family="llava"),
    ModelEntry("llava-onevision", "hf", "llava-hf/llava-onevision-qwen2-7b-ov-hf",
               "LLaVA-OneVision Qwen2 7B", defaults={"batch_mode": False}, family="llava"),
)}


def _hf_defaults(model_id: str) -> dict[str, Any]:
    """Defaults for unregistered HF ids follow their family (llava: no batch mode)."""
    return {"batch_mode": False} if "llava" in model_id.lower() else {}


def resolve_llm(name: str, *, provider: str = "auto", base_url: Optional[str] = None) -> ModelEntry:
    """The entry for ``llm: name``; ``provider``/``base_url`` (params.api) can redirect it."""
    text = name.strip()
    if not text:
        raise ValueError("llm is empty; give a registry name (see `adlab models`), a Hugging Face "
                         "model id or a local folder")
    entry = MODEL_REGISTRY.get(text)
    prefix, sep, rest = text.partition(":")
    if entry is None and sep and prefix.lower() in COMPATIBLE_PREFIXES and rest.strip():
        entry = ModelEntry(text, "openai-compatible", rest.strip(), f"{prefix} server",
                           defaults=_hf_defaults(rest), base_url=COMPATIBLE_PREFIXES[prefix.lower()])
    if entry is None:
        if provider in ("auto", "hf") and base_url is None:
            entry = ModelEntry(text, "hf", text, "Hugging Face model", defaults=_hf_defaults(text))
        else:
            kind = "openai-compatible" if provider in ("auto", "hf") else provider
            entry = ModelEntry(text, kind, text, "endpoint model", defaults=_hf_defaults(text))
    if provider not in ("auto", entry.provider):
        # e.g. a registry name served by a compatible endpoint: keep its id, change the protocol
        entry = replace(entry, provider=provider)
    if base_url is not None and entry.provider == "hf":
        entry = replace(entry, provider="openai-compatible", base_url=base_url)
    if base_url is not None:
        entry = replace(entry, base_url=base_url)
    return entry


def list_models() -> list[ModelEntry]:
    """Registered names (API models first, then local ones), as ``adlab models`` shows them."""
    return sorted(MODEL_REGISTRY.values(), key=lambda e: (e.kind != "api", list(MODEL_REGISTRY).index(e.name)))
