"""VLM clients: OpenAI, Anthropic, Gemini and OpenAI-compatible endpoints through their official
SDKs, and local Hugging Face models. :func:`make_client` picks one for a resolved model entry."""
from __future__ import annotations

import os
from typing import Callable, Optional, Any

from adlab.errors import PipelineError
from adlab.pipelines.mmad.clients.base import (Completion, RequestFailed, RetryPolicy, Throttle,
                                               VisionClient)
from adlab.pipelines.mmad.registry import ModelEntry

__all__ = ["Completion", "RequestFailed", "RetryPolicy", "VisionClient", "api_key_for", "make_client"]

# An OpenAI-compatible local server usually ignores the key but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"


def api_key_for(entry: ModelEntry, key_env: str | None) -> str:
    """The API key from the environment (never from params); one clear error when missing."""
    names = (key_env,) if key_env else entry.key_env
    for name in names:
        value = os.environ.get(name or "")
        if value:
            return value
    if entry.provider == "openai-compatible":
        return PLACEHOLDER_KEY
    raise PipelineError(f"llm {entry.name!r} ({entry.provider}) needs an API key in the environment "
                        f"variable {' or '.join(n for n in names if n)}; export it in the worker's "
                        f"environment (keys are never read from configs)")


def make_client(entry: ModelEntry, params: Any, device: str,
                on_retry: Optional[Callable[[str], None]] = None) -> VisionClient:
    """``params`` is MmadParams; model id, endpoint and limits come from ``params.api``/``local``,
    generation settings from the run's protocol (None: not sent, the API's default);
    ``on_retry`` hears about every retry (from request threads: it must be thread-safe)."""
    from adlab.pipelines.mmad.protocol import protocol_for

    api, ev = params.api, params.eval
    model_id = api.model_id or entry.model_id
    protocol = protocol_for(params, entry)
    gen = protocol.generation(ev.max_tokens, ev.temperature)
    if entry.provider == "hf":
        from adlab.pipelines.mmad.clients.hf_local import HFClient

        return HFClient(name=entry.name, model_id=model_id, device=device,
                        batch_size=params.local.batch_size, dtype=params.local.dtype,
                        max_tokens=gen.max_tokens or protocol.local.max_new_tokens,
                        temperature=gen.temperature,
                        trust_remote_code=params.local.trust_remote_code,
                        attn_implementation=params.local.attn_implementation,
                        chat_template_kwargs=protocol.local.chat_template,
                        processor_kwargs=protocol.local.processor)
    policy = RetryPolicy(max_retries=api.max_retries, backoff_s=api.backoff_s,
                         max_backoff_s=api.max_backoff_s, on_retry=on_retry,
                         throttle=Throttle(api.concurrency))
    common = dict(name=entry.name, model_id=model_id, api_key=api_key_for(entry, api.api_key_env),
                  base_url=entry.base_url, timeout_s=api.timeout_s, policy=policy,
                  concurrency=api.concurrency, max_tokens=gen.max_tokens,
                  temperature=gen.temperature)
    if entry.provider in ("openai", "openai-compatible"):
        from adlab.pipelines.mmad.clients.openai_client import OpenAIClient

        if entry.provider == "openai-compatible" and not entry.base_url:
            raise PipelineError(f"llm {entry.name!r} is served by an OpenAI-compatible endpoint; set "
                                f"api.base_url (e.g. http://localhost:8000/v1 for vLLM)")
        stream = api.stream if api.stream is not None else entry.provider == "openai-compatible"
        # a served local model renders the chat template itself: pass the protocol's arguments
        # (Qwen's add_vision_id) the way vLLM and transformers serve take them
        extra = ({"chat_template_kwargs": dict(protocol.local.chat_template)}
                 if entry.provider == "openai-compatible" and protocol.local.chat_template else None)
        return OpenAIClient(**common, detail=api.image_detail, provider=entry.provider,
                            stream=stream, extra_body=extra)
    if entry.provider == "anthropic":
        from adlab.pipelines.mmad.clients.anthropic_client import AnthropicClient

        return AnthropicClient(**common)
    if entry.provider == "gemini":
        from adlab.pipelines.mmad.clients.gemini_client import GeminiClient

        return GeminiClient(**common)
    raise PipelineError(f"llm {entry.name!r}: unknown provider {entry.provider!r}")
