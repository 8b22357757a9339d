"""Client behaviour a real endpoint shows (checked on a loopback server): the server's error body
in the message, the URL in connection errors, retries logged, replies cut at max_tokens flagged,
answers per second over answered questions, endpoints validated when the config is read."""
from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from adlab.pipelines.local import LocalRunContext
from adlab.pipelines.mmad.clients.base import RequestFailed
from adlab.pipelines.mmad.params import MmadParams
from adlab.pipelines.mmad.run import run
from mmad_loopback import LoopbackServer, Script
from test_mmad_clients import QUESTION, _client, _messages


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "key-for-tests-only")


def test_server_error_body_and_url_are_in_the_message():
    script = Script(answers={QUESTION: "B"}, always_fail={QUESTION: 400},
                    error_text="max_tokens is too large for this model (limit 64)")
    with LoopbackServer(script) as server:
        client = _client(server, "vllm:tiny", "/v1")
        with pytest.raises(RequestFailed) as failed:
            client.complete(_messages())
        client.close()
    message = str(failed.value)
    assert "HTTP 400" in message and "limit 64" in message and server.url in message


def test_connection_error_names_the_url():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    params = MmadParams.model_validate({"llm": "vllm:tiny", "api": {
        "base_url": f"http://127.0.0.1:{port}/v1", "max_retries": 1, "backoff_s": 0.01}})
    from adlab.pipelines.mmad.clients import make_client
    from adlab.pipelines.mmad.registry import resolve_llm

    retries: list[str] = []
    client = make_client(resolve_llm(params.llm, base_url=params.api.base_url), params, "cpu",
                         on_retry=retries.append)
    with pytest.raises(RequestFailed) as failed:
        client.complete(_messages())
    client.close()
    assert f"127.0.0.1:{port}/v1" in str(failed.value) and "after 2 attempt" in str(failed.value)
    assert len(retries) == 1 and "retry 1 of 1" in retries[0] and str(port) in retries[0]


def test_truncated_replies_retries_and_answer_rate_reach_the_run(mmad_tree, tmp_path):
    root, truth = mmad_tree
    first = list(truth)[0]
    script = Script(answers=truth, finish_reason="length", failures={first: [500]})
    with LoopbackServer(script) as server:
        params = MmadParams.model_validate({
            "llm": "gpt-4o", "data_root": str(root),
            "api": {"base_url": server.url + "/v1", "backoff_s": 0.01, "max_retries": 2,
                    "concurrency": 1}})
        ctx = LocalRunContext(params=params, output_dir=tmp_path / "out")
        run(ctx)
    assert ctx.metric_value("truncated") == len(truth)
    stored = ctx.state.items("answer:").values()
    assert {r["finish_reason"] for r in stored} == {"length"}
    messages = [m for _, m in ctx.logs]
    assert any("retried" in m and "HTTP 500" in m for m in messages)
    assert any("cut at eval.max_tokens" in m for m in messages)
    assert ctx.metric_value("answers_per_s") > 0
    assert ctx.metric_value("accuracy_official") == pytest.approx(ctx.metric_value("accuracy"))


@pytest.mark.parametrize("config, message", [
    ({"llm": "http://127.0.0.1:8000/v1"}, "is a URL; put the endpoint in api.base_url"),
    ({"llm": "m", "api": {"base_url": "localhost:8000/v1"}}, "not an http(s) URL"),
    ({"llm": "openai-compatible:m"}, "no endpoint is given; set api.base_url"),
    ({"llm": "m", "api": {"provider": "openai-compatible"}}, "set api.base_url"),
])
def test_endpoints_are_checked_when_the_config_is_read(config, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MmadParams.model_validate(config)


def test_openai_compatible_servers_stream_and_abandoned_streams_are_closed():
    script = Script(answers={QUESTION: "B"}, finish_reason="length")
    with LoopbackServer(script) as server:
        client = _client(server, "vllm:tiny", "/v1")
        got = client.complete(_messages())
        assert (got.text, got.finish_reason) == ("Answer: B.", "length")
        assert got.tokens_in > 0 and got.tokens_out > 0 and server.streamed == 1
        client.close()
        plain = _client(server, "vllm:tiny", "/v1", stream=False)
        assert plain.complete(_messages()).text == "Answer: B." and server.streamed == 1
        plain.close()
        script.delay_s = 2.0  # longer than the timeout: the client gives up, the server sees it
        slow = _client(server, "vllm:tiny", "/v1", timeout_s=0.3, max_retries=0)
        with pytest.raises(RequestFailed, match="Timeout"):
            slow.complete(_messages())
        slow.close()
        import time

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not server.requests("aborted"):
            time.sleep(0.05)
        assert len(server.requests("aborted")) == 1
    assert _client_stream_default("gpt-4o") is False and _client_stream_default("vllm:m") is True


def _client_stream_default(llm: str) -> bool:
    from adlab.pipelines.mmad.clients import make_client
    from adlab.pipelines.mmad.registry import resolve_llm

    params = MmadParams.model_validate({"llm": llm, "api": {"base_url": "http://127.0.0.1:9/v1"}})
    client = make_client(resolve_llm(params.llm, base_url=params.api.base_url), params, "cpu")
    client.close()
    return client.stream


def test_timeouts_shrink_the_requests_in_flight(mmad_tree, tmp_path):
    root, truth = mmad_tree
    script = Script(answers=truth, delay_s=0.6)
    with LoopbackServer(script) as server:
        params = MmadParams.model_validate({
            "llm": "vllm:tiny", "data_root": str(root), "eval": {"max_images": 4,
                                                                  "error_budget": 1.0},
            "api": {"base_url": server.url + "/v1", "backoff_s": 0.01, "max_retries": 1,
                    "timeout_s": 0.2, "concurrency": 8}})
        ctx = LocalRunContext(params=params, output_dir=tmp_path / "out")
        run(ctx)
        import time

        deadline = time.monotonic() + 5  # the server notices the last abandoned request late
        while time.monotonic() < deadline and len(server.log) < 24:
            time.sleep(0.05)
        time.sleep(0.7)
        sent = len(server.log)
    messages = [m for _, m in ctx.logs]
    # eight timeouts at once: 8 -> 4 -> 2 -> 1 in flight, said in the wave's log line
    assert any("retried" in m and "requests in flight cut to 1" in m for m in messages)
    assert ctx.metric_value("errors") == ctx.metric_value("questions")
    assert ctx.metric_value("questions") == 12
    assert sent == 24  # first try and one retry each, no more
    late = sorted(r.t for r in server.log)[16:]  # after the first wave: one at a time
    assert all(b - a >= 0.15 for a, b in zip(late, late[1:]))
