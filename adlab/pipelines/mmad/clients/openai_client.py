"""OpenAI chat completions through the official ``openai`` SDK; also any OpenAI-compatible
server (vLLM, Ollama, LM Studio, ``transformers serve``) by base URL.

With ``stream`` the reply is read as server-sent events: servers such as ``transformers serve``
stop generating when a streamed request's connection closes (after a timeout, say), whereas a
plain request they abandoned keeps the GPU busy while its retry queues behind it."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from adlab.pipelines.mmad.clients.base import (
    Completion, RetryPolicy, call_with_retries, classify_status, is_transport_error,
    retry_after_of,
)
from adlab.pipelines.mmad.prompting import ImagePart, Message


def to_openai(messages: Sequence[Message], detail: str) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        if m.role in ("assistant", "system"):
            out.append({"role": m.role, "content": m.text})
            continue
        content: list[dict[str, Any]] = []
        for part in m.parts:
            if isinstance(part, ImagePart):
                content.append({"type": "image_url", "image_url": {
                    "url": f"data:{part.mime};base64,{part.base64()}", "detail": detail}})
            else:
                content.append({"type": "text", "text": part})
        out.append({"role": m.role, "content": content})
    return out


def _body_text(exc: Any) -> str:
    """The server's own words: the JSON error message, else the raw body (SDK messages such as
    ``Error code: 400`` alone say nothing about the problem)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)
    try:
        text = exc.response.text
    except Exception:  # noqa: BLE001 - a streamed or closed response has no text
        text = ""
    return text.strip() or str(exc)


def classify(exc: BaseException, url: str = "") -> tuple[str, Optional[float], str]:
    import openai

    where = f" from {url}" if url else ""
    if isinstance(exc, openai.APIStatusError):
        return classify_status(exc.status_code, retry_after_of(exc.response.headers),
                               f"HTTP {exc.status_code}{where}: {_body_text(exc)[:300]}")
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)) or is_transport_error(exc):
        cause = exc.__cause__ or exc.__context__
        detail = f"{str(exc)[:200]}" + (f" ({type(cause).__name__}: {str(cause)[:200]})"
                                        if cause is not None else "")
        return classify_status(None, None, f"{type(exc).__name__} connecting to "
                               f"{url or 'the endpoint'}: {detail}", transport=True)
    return classify_status(None, None, f"{type(exc).__name__}: {str(exc)[:200]}")


class OpenAIClient:
    batch_size = 1

    def __init__(self, *, name: str, model_id: str, api_key: str, base_url: Optional[str],
                 timeout_s: float, policy: RetryPolicy, concurrency: int,
                 max_tokens: Optional[int], temperature: Optional[float], detail: str = "low",
                 provider: str = "openai",
                 stream: bool = False, extra_body: Optional[dict[str, Any]] = None) -> None:
        import openai

        self.name, self.model_id, self.concurrency = name, model_id, concurrency
        self.provider = provider
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s,
                                     max_retries=0)
        self._key = api_key
        self._policy, self._max_tokens, self._temperature = policy, max_tokens, temperature
        self.throttle = policy.throttle  # the engine keeps at most throttle.limit in flight
        self._detail = detail
        self.stream = stream
        self._extra_body = extra_body
        self.url = str(self._client.base_url).rstrip("/")

    def _sampling(self, max_tokens: Optional[int] = None) -> dict[str, Any]:
        """``max_tokens``/``temperature`` when set; unset ones are left to the API's defaults
        (MMAD's GPT-4o script sends no temperature). ``max_tokens``: this request's own."""
        out: dict[str, Any] = {}
        limit = max_tokens if max_tokens is not None else self._max_tokens
        if limit is not None:
            out["max_tokens"] = limit
        if self._temperature is not None:
            out["temperature"] = self._temperature
        if self._extra_body:
            out["extra_body"] = self._extra_body
        return out

    def _send(self, messages: Sequence[Message], max_tokens: Optional[int] = None) -> Completion:
        if self.stream:
            return self._send_streamed(messages, max_tokens)
        resp = self._client.chat.completions.create(
            model=self.model_id, messages=to_openai(messages, self._detail),
            **self._sampling(max_tokens))
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content or "") if choice is not None else ""
        usage = resp.usage
        return Completion(text=text, tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
                          tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
                          finish_reason=getattr(choice, "finish_reason", None))

    def _send_streamed(self, messages: Sequence[Message],
                       max_tokens: Optional[int] = None) -> Completion:
        pieces: list[str] = []
        finish: Optional[str] = None
        tokens_in = tokens_out = 0
        with self._client.chat.completions.create(
                model=self.model_id, messages=to_openai(messages, self._detail),
                **self._sampling(max_tokens), stream=True,
                stream_options={"include_usage": True}) as events:
            for chunk in events:
                for choice in chunk.choices or ():
                    if choice.delta is not None and choice.delta.content:
                        pieces.append(choice.delta.content)
                    finish = choice.finish_reason or finish
                if chunk.usage is not None:
                    tokens_in = int(chunk.usage.prompt_tokens or 0)
                    tokens_out = int(chunk.usage.completion_tokens or 0)
        return Completion(text="".join(pieces), tokens_in=tokens_in, tokens_out=tokens_out,
                          finish_reason=finish)

    def complete(self, messages: Sequence[Message],
                 max_tokens: Optional[int] = None) -> Completion:
        return call_with_retries(lambda: self._send(messages, max_tokens),
                                 lambda exc: classify(exc, self.url), self._policy,
                                 secrets=[self._key], provider=self.provider)

    def complete_batch(self, batch: Sequence[Sequence[Message]]) -> list[Completion]:
        return [self.complete(m) for m in batch]

    def close(self) -> None:
        self._client.close()
