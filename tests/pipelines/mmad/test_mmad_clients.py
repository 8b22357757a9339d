"""The three official SDKs against a real loopback server: retries with backoff on 429/500,
give-up as a question error, authentication failures stop the run, keys only from the
environment and never echoed."""
from __future__ import annotations

import pytest
from PIL import Image

from adlab.errors import PipelineError
from adlab.pipelines.mmad.clients import api_key_for, make_client
from adlab.pipelines.mmad.clients.base import RequestFailed, RetryPolicy
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.prompting import ImagePart, Message
from adlab.pipelines.mmad.registry import resolve_llm
from mmad_loopback import LoopbackServer, Script

KEY = "sk-test-0123456789abcdefXYZ"
QUESTION = "Is there a scratch on the cap?"
PROVIDERS = [("gpt-4o", "OPENAI_API_KEY", "/v1"), ("claude", "ANTHROPIC_API_KEY", ""),
             ("gemini", "GEMINI_API_KEY", "")]


def _messages() -> list[Message]:
    image = ImagePart(Image.new("RGB", (40, 30), (10, 20, 30)), "mem")
    return [Message("user", ["inspect", image, f"Question: {QUESTION}\nA. Yes\nB. No"])]


def _client(server: LoopbackServer, llm: str, suffix: str, **api):
    params = MmadParams.model_validate({"llm": llm, "api": {"base_url": server.url + suffix,
                                                             "backoff_s": 0.01, **api}})
    entry = resolve_llm(params.llm, provider=params.api.provider, base_url=params.api.base_url)
    return make_client(entry, params, "cpu")


@pytest.mark.parametrize("llm,env,suffix", PROVIDERS)
def test_retries_rate_limits_and_server_errors_then_answers(llm, env, suffix, monkeypatch):
    monkeypatch.setenv(env, KEY)
    script = Script(answers={QUESTION: "B"}, failures={QUESTION: [429, 500, 503]})
    with LoopbackServer(script) as server:
        client = _client(server, llm, suffix)
        got = client.complete(_messages())
        client.close()
    assert got.text == "Answer: B." and got.attempts == 4
    assert got.tokens_in > 0 and got.tokens_out > 0 and got.latency_s > 0
    assert [r.status for r in server.log] == [429, 500, 503, 200]
    assert server.log[-1].images == 1


@pytest.mark.parametrize("llm,env,suffix", PROVIDERS)
def test_gives_up_after_max_retries_and_stops_on_auth_errors(llm, env, suffix, monkeypatch):
    monkeypatch.setenv(env, KEY)
    script = Script(answers={QUESTION: "B"}, always_fail={QUESTION: 500})
    with LoopbackServer(script) as server:
        client = _client(server, llm, suffix, max_retries=2)
        with pytest.raises(RequestFailed, match="after 3 attempt") as failed:
            client.complete(_messages())
        assert failed.value.attempts == 3 and len(server.log) == 3
        script.always_fail[QUESTION] = 401
        with pytest.raises(PipelineError, match="rejected the request") as auth:
            client.complete(_messages())
        assert KEY not in str(auth.value)
        script.always_fail[QUESTION] = 400
        with pytest.raises(RequestFailed) as bad:
            client.complete(_messages())
        assert bad.value.attempts == 1  # a client error is not retried
        client.close()


def test_retry_after_header_is_honoured():
    waits = []
    policy = RetryPolicy(max_retries=3, backoff_s=5.0, max_backoff_s=1.5, sleep=waits.append)
    assert policy.delay(1, 0.25) == 0.25 and policy.delay(1, 100.0) == 1.5
    assert 2.5 <= RetryPolicy(backoff_s=5.0, max_backoff_s=60).delay(1, None) <= 7.5


def test_keys_come_from_the_environment_only(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MY_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PipelineError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        api_key_for(resolve_llm("gemini"), None)
    monkeypatch.setenv("GOOGLE_API_KEY", "g-key-123")
    assert api_key_for(resolve_llm("gemini"), None) == "g-key-123"
    monkeypatch.setenv("MY_KEY", "custom")
    assert api_key_for(resolve_llm("vllm:m"), "MY_KEY") == "custom"
    assert api_key_for(resolve_llm("vllm:m"), None) == "not-needed"  # local servers need none
