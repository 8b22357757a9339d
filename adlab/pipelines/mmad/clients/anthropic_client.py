"""Anthropic messages API through the official ``anthropic`` SDK."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from adlab.pipelines.mmad.clients.base import (
    Completion, RetryPolicy, call_with_retries, classify_status, is_transport_error,
    retry_after_of,
)
from adlab.pipelines.mmad.prompting import ImagePart, Message


def to_anthropic(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation turns (a system message goes in the request's ``system`` field)."""
    out = []
    for m in messages:
        if m.role == "system":
            continue
        content: list[dict[str, Any]] = []
        for part in m.parts:
            if isinstance(part, ImagePart):
                content.append({"type": "image", "source": {
                    "type": "base64", "media_type": part.mime, "data": part.base64()}})
            else:
                content.append({"type": "text", "text": part})
        out.append({"role": m.role, "content": content})
    return out


def classify(exc: BaseException) -> tuple[str, Optional[float], str]:
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        return classify_status(exc.status_code, retry_after_of(exc.response.headers),
                               f"HTTP {exc.status_code}: {str(exc)[:200]}")
    if isinstance(exc, (anthropic.APITimeoutError, anthropic.APIConnectionError)) or is_transport_error(exc):
        return classify_status(None, None, f"{type(exc).__name__}: {str(exc)[:200]}", transport=True)
    return classify_status(None, None, f"{type(exc).__name__}: {str(exc)[:200]}")


class AnthropicClient:
    batch_size = 1
    provider = "anthropic"

    def __init__(self, *, name: str, model_id: str, api_key: str, base_url: Optional[str],
                 timeout_s: float, policy: RetryPolicy, concurrency: int,
                 max_tokens: Optional[int], temperature: Optional[float]) -> None:
        import anthropic

        self.name, self.model_id, self.concurrency = name, model_id, concurrency
        self._client = anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout_s,
                                           max_retries=0)
        self._key = api_key
        self._policy, self._max_tokens, self._temperature = policy, max_tokens, temperature
        self.throttle = policy.throttle  # the engine keeps at most throttle.limit in flight

    def _send(self, messages: Sequence[Message], max_tokens: Optional[int] = None) -> Completion:
        # This SDK generation takes no temperature (the current models fix sampling themselves).
        system = "\n".join(m.text for m in messages if m.role == "system")
        extra: dict[str, Any] = {"system": system} if system else {}
        # the messages API requires max_tokens: MMAD's API scripts' 200 when none is set
        resp = self._client.messages.create(model=self.model_id, messages=to_anthropic(messages),
                                            max_tokens=max_tokens or self._max_tokens or 200,
                                            **extra)
        text = "".join(getattr(b, "text", "") for b in resp.content if getattr(b, "type", "") == "text")
        usage = resp.usage
        return Completion(text=text, tokens_in=int(getattr(usage, "input_tokens", 0) or 0),
                          tokens_out=int(getattr(usage, "output_tokens", 0) or 0))

    def complete(self, messages: Sequence[Message],
                 max_tokens: Optional[int] = None) -> Completion:
        return call_with_retries(lambda: self._send(messages, max_tokens), classify, self._policy,
                                 secrets=[self._key], provider="Anthropic")

    def complete_batch(self, batch: Sequence[Sequence[Message]]) -> list[Completion]:
        return [self.complete(m) for m in batch]

    def close(self) -> None:
        self._client.close()
