"""What every VLM client offers, and the retry loop shared by the API clients.

Retries are adlab's own (the SDKs' built-in retries are switched off) so every provider behaves
the same: exponential backoff with jitter on rate limits (429), server errors (5xx), timeouts and
connection failures, honouring a ``Retry-After`` header; authentication failures stop the run at
once; any other error is that question's error and the run goes on.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

from adlab.errors import PipelineError
from adlab.pipelines.mmad.prompting import Message

RETRY, FATAL, FAIL = "retry", "fatal", "fail"


@dataclass
class Completion:
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    attempts: int = 1
    finish_reason: Optional[str] = None  # "length": cut at max_tokens (counted, flagged)


class RequestFailed(Exception):
    """A request that failed for good (after retries, or not retryable); the run goes on."""

    def __init__(self, message: str, attempts: int = 1, latency_s: float = 0.0):
        super().__init__(message)
        self.attempts, self.latency_s = attempts, latency_s


class VisionClient(Protocol):
    name: str
    model_id: str
    concurrency: int  # requests that may be in flight at once (threads)
    batch_size: int  # prompts per complete_batch call (local models)

    def complete(self, messages: Sequence[Message],
                 max_tokens: Optional[int] = None) -> Completion:
        """One request; ``max_tokens`` (when set) replaces the run's answer length for it."""
        ...

    def complete_batch(self, batch: Sequence[Sequence[Message]]) -> list[Completion]: ...

    def close(self) -> None: ...


class Throttle:
    """Requests allowed in flight; halved (down to 1) each time a request times out, so a slow
    server is not flooded with retries of generations it is still computing."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._lock = threading.Lock()

    def shrink(self) -> Optional[int]:
        """Halve the limit; the new limit, or None when it was already 1."""
        with self._lock:
            if self.limit <= 1:
                return None
            self.limit = max(1, self.limit // 2)
            return self.limit


@dataclass
class RetryPolicy:
    max_retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    # told about every retry before its wait (a log line: what failed, which attempt, how long)
    on_retry: Optional[Callable[[str], None]] = field(default=None, repr=False)
    throttle: Optional[Throttle] = field(default=None, repr=False)  # shrunk on timeouts

    def delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_s)
        base = self.backoff_s * (2 ** (attempt - 1))
        return min(base * (0.5 + random.random()), self.max_backoff_s)


Classifier = Callable[[BaseException], tuple[str, Optional[float], str]]


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def call_with_retries(send: Callable[[], Completion], classify: Classifier, policy: RetryPolicy,
                      *, secrets: Sequence[str] = (), provider: str = "") -> Completion:
    """``send()`` until it succeeds, retrying what ``classify`` calls transient.

    Returns the completion with ``attempts`` and ``latency_s`` (first send to answer, waits
    included); raises :class:`RequestFailed` or, for authentication errors, PipelineError.
    """
    start = time.perf_counter()
    attempt = 0
    while True:
        attempt += 1
        try:
            result = send()
        except Exception as exc:  # noqa: BLE001 - classified below
            kind, retry_after, why = classify(exc)
            why = redact(why, secrets)
            if kind == FATAL:
                raise PipelineError(f"{provider} rejected the request ({why}); check the API key "
                                    f"environment variable and the model name") from None
            if kind == RETRY and attempt <= policy.max_retries:
                wait = policy.delay(attempt, retry_after)
                shrunk = (policy.throttle.shrink()
                          if policy.throttle is not None and "Timeout" in why else None)
                if policy.on_retry is not None:
                    policy.on_retry(f"{provider or 'request'}: {why}; retry {attempt} of "
                                    f"{policy.max_retries} in {wait:.1f}s"
                                    + (f"; requests in flight cut to {shrunk}" if shrunk else ""))
                policy.sleep(wait)
                continue
            suffix = f" after {attempt} attempt(s)" if kind == RETRY else ""
            raise RequestFailed(f"{why}{suffix}", attempts=attempt,
                                latency_s=time.perf_counter() - start) from None
        result.attempts = attempt
        result.latency_s = time.perf_counter() - start
        return result


def classify_status(status: Optional[int], retry_after: Optional[float], why: str,
                    transport: bool = False) -> tuple[str, Optional[float], str]:
    """HTTP status (None = no response) -> retry / fatal / fail."""
    if status is None:
        return (RETRY if transport else FAIL), None, why
    if status in (401, 403):
        return FATAL, None, why
    if status in (408, 409, 425, 429) or status >= 500:
        return RETRY, retry_after, why
    return FAIL, None, why


def retry_after_of(headers: object) -> Optional[float]:
    try:
        value = headers.get("retry-after") if headers is not None else None  # type: ignore[attr-defined]
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def is_transport_error(exc: BaseException) -> bool:
    """Timeouts and connection failures of any HTTP stack (httpx, httpx2, aiohttp, requests)."""
    names = [c.__name__ for c in type(exc).__mro__]
    return any(("Timeout" in n or "Connect" in n or "RemoteProtocol" in n or "NetworkError" in n
                or "ReadError" in n) for n in names) or isinstance(exc, (TimeoutError, ConnectionError))
