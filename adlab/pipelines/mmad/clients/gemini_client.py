"""Google Gemini through the official ``google-genai`` SDK (``generateContent``)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from adlab.pipelines.mmad.clients.base import (
    Completion, RetryPolicy, call_with_retries, classify_status, is_transport_error,
)
from adlab.pipelines.mmad.prompting import ImagePart, Message


def to_gemini(messages: Sequence[Message]) -> list[Any]:
    from google.genai import types

    contents = []
    for m in messages:
        if m.role == "system":
            continue  # sent as the config's system_instruction
        parts = [types.Part.from_bytes(data=p.payload(), mime_type=p.mime) if isinstance(p, ImagePart)
                 else types.Part.from_text(text=p) for p in m.parts]
        contents.append(types.Content(role="model" if m.role == "assistant" else "user", parts=parts))
    return contents


def classify(exc: BaseException) -> tuple[str, Optional[float], str]:
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        status = getattr(exc, "code", None)
        headers = getattr(getattr(exc, "response", None), "headers", None)
        retry_after = None
        try:
            retry_after = float(headers.get("retry-after")) if headers and headers.get("retry-after") else None
        except (TypeError, ValueError, AttributeError):
            retry_after = None
        return classify_status(int(status) if status else None, retry_after,
                               f"HTTP {status}: {str(exc)[:200]}", transport=status is None)
    if is_transport_error(exc):
        return classify_status(None, None, f"{type(exc).__name__}: {str(exc)[:200]}", transport=True)
    return classify_status(None, None, f"{type(exc).__name__}: {str(exc)[:200]}")


class GeminiClient:
    batch_size = 1
    provider = "gemini"

    def __init__(self, *, name: str, model_id: str, api_key: str, base_url: Optional[str],
                 timeout_s: float, policy: RetryPolicy, concurrency: int,
                 max_tokens: Optional[int], temperature: Optional[float]) -> None:
        from google import genai
        from google.genai import types

        self.name, self.model_id, self.concurrency = name, model_id, concurrency
        retry = types.HttpRetryOptions(attempts=1)  # adlab retries itself
        options = types.HttpOptions(base_url=base_url, timeout=int(timeout_s * 1000),
                                    retry_options=retry)
        self._client = genai.Client(api_key=api_key, http_options=options)
        self._config = types.GenerateContentConfig(max_output_tokens=max_tokens, temperature=temperature)
        self._key = api_key
        self._policy = policy
        self.throttle = policy.throttle  # the engine keeps at most throttle.limit in flight

    def _send(self, messages: Sequence[Message], max_tokens: Optional[int] = None) -> Completion:
        system = "\n".join(m.text for m in messages if m.role == "system")
        config = self._config.model_copy(update={"system_instruction": system}) if system else self._config
        if max_tokens is not None:
            config = config.model_copy(update={"max_output_tokens": max_tokens})
        resp = self._client.models.generate_content(model=self.model_id, contents=to_gemini(messages),
                                                    config=config)
        usage = resp.usage_metadata
        return Completion(text=resp.text or "",
                          tokens_in=int(getattr(usage, "prompt_token_count", 0) or 0),
                          tokens_out=int(getattr(usage, "candidates_token_count", 0) or 0))

    def complete(self, messages: Sequence[Message],
                 max_tokens: Optional[int] = None) -> Completion:
        return call_with_retries(lambda: self._send(messages, max_tokens), classify, self._policy,
                                 secrets=[self._key], provider="Gemini")

    def complete_batch(self, batch: Sequence[Sequence[Message]]) -> list[Completion]:
        return [self.complete(m) for m in batch]

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()
