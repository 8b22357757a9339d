"""A real HTTP server on loopback that speaks the three chat protocols the SDKs use (OpenAI
chat completions, Anthropic messages, Gemini generateContent) and answers MMAD questions from
a script: the letter per question text, optional latency, scripted 429/500 failures, and a
log of every request (which questions it carried and whether it was answered or the client
went away first). Used by the mmad tests and by benchmarks/bench_mmad_api.py.
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional


@dataclass
class Script:
    answers: dict[str, str] = field(default_factory=dict)  # question text -> letter
    delay_s: float = 0.0
    failures: dict[str, list[int]] = field(default_factory=dict)  # question text -> statuses to send first
    always_fail: dict[str, int] = field(default_factory=dict)  # question text -> status, forever
    replies: dict[str, str] = field(default_factory=dict)  # question text -> verbatim reply
    retry_after: Optional[float] = None  # Retry-After header on 429s
    finish_reason: str = "stop"  # OpenAI replies' finish_reason ("length": cut at max_tokens)
    error_text: Optional[str] = None  # plain-text error body instead of the JSON one
    # answer only the last question the text names (prompts that list earlier questions and
    # replies before the new one: MMAD's --record_history for LLaVA and MiniCPM)
    last_question: bool = False


@dataclass
class Request:
    api: str
    questions: list[str]
    status: int
    outcome: str  # answered | aborted | error
    t: float
    images: int = 0


class LoopbackServer:
    def __init__(self, script: Optional[Script] = None) -> None:
        self.script = script or Script()
        self.log: list[Request] = []
        self.bodies: list[tuple[str, dict]] = []  # every request's path and JSON body, in order
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.streamed = 0  # replies sent as server-sent events
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- bookkeeping -------------------------------------------------------------------------
    def answered_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.log:
            if r.outcome == "answered":
                for q in r.questions:
                    counts[q] = counts.get(q, 0) + 1
        return counts

    def requests(self, outcome: Optional[str] = None) -> list[Request]:
        with self._lock:
            return [r for r in self.log if outcome is None or r.outcome == outcome]

    # -- protocol ----------------------------------------------------------------------------
    def _find_questions(self, text: str) -> list[str]:
        found = [(text.find(q), q) for q in self.script.answers if q in text]
        ordered = [q for _, q in sorted(found)]
        return ordered[-1:] if self.script.last_question else ordered

    def reply_for(self, text: str) -> str:
        """The reply a request whose (last user message) text is ``text`` gets."""
        questions = self._find_questions(text)
        return self._reply_text(questions) if questions else "I see no question."

    def _reply_text(self, questions: list[str]) -> str:
        if len(questions) == 1:
            q = questions[0]
            return self.script.replies.get(q, f"Answer: {self.script.answers[q]}.")
        return "\n".join(f"{i + 1}. Answer: {self.script.answers[q]}." for i, q in enumerate(questions))

    def _status_for(self, questions: list[str]) -> int:
        with self._lock:
            for q in questions:
                if q in self.script.always_fail:
                    return self.script.always_fail[q]
            for q in questions:
                plan = self.script.failures.get(q)
                if plan:
                    return plan.pop(0)
        return 200

    @staticmethod
    def _client_gone(handler: BaseHTTPRequestHandler) -> bool:
        sock: socket.socket = handler.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._serve(h)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length) or b"{}")
        path = h.path
        with self._lock:
            self.bodies.append((path, body))
        if path.endswith("/chat/completions"):
            api, text, images = "openai", *self._openai_text(body)
        elif path.endswith("/messages"):
            api, text, images = "anthropic", *self._anthropic_text(body)
        elif ":generateContent" in path:
            api, text, images = "gemini", *self._gemini_text(body)
        else:
            self._send(h, 404, {"error": {"message": f"no route {path}"}})
            return
        questions = self._find_questions(text)
        t = time.time()
        end = time.monotonic() + self.script.delay_s
        while time.monotonic() < end:
            if self._client_gone(h):
                with self._lock:
                    self.log.append(Request(api, questions, 0, "aborted", t, images))
                h.close_connection = True
                return
            time.sleep(min(0.01, max(0.0, end - time.monotonic())))
        status = self._status_for(questions) if questions else 200
        if status != 200:
            with self._lock:
                self.log.append(Request(api, questions, status, "error", t, images))
            headers = {}
            if status == 429 and self.script.retry_after is not None:
                headers["Retry-After"] = str(self.script.retry_after)
            if self.script.error_text is not None:
                self._send_text(h, status, self.script.error_text)
            else:
                self._send(h, status, self._error_body(api, status), headers)
            return
        reply = self.reply_for(text)
        n_in, n_out = max(1, len(text) // 4) + 85 * images, max(1, len(reply) // 4)
        payload = {"openai": self._openai_reply, "anthropic": self._anthropic_reply,
                   "gemini": self._gemini_reply}[api](reply, n_in, n_out, body)
        if api == "openai":
            payload["choices"][0]["finish_reason"] = self.script.finish_reason
            if body.get("stream"):
                self._stream_openai(h, payload, api, questions, t, images)
                return
        if self._client_gone(h):
            with self._lock:
                self.log.append(Request(api, questions, 0, "aborted", t, images))
            return
        with self._lock:
            self.log.append(Request(api, questions, 200, "answered", t, images))
        self._send(h, 200, payload)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: dict, headers: Optional[dict] = None) -> None:
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _stream_openai(self, h: BaseHTTPRequestHandler, payload: dict, api: str,
                       questions: list[str], t: float, images: int) -> None:
        """The reply as server-sent events, a few characters per event (``stream: true``)."""
        text = payload["choices"][0]["message"]["content"]
        base = {"id": payload["id"], "object": "chat.completion.chunk",
                "created": payload["created"], "model": payload["model"]}
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text[i:i + 4]},
                                        "finish_reason": None}]} for i in range(0, len(text), 4)]
        events.append({**base, "choices": [{"index": 0, "delta": {},
                                            "finish_reason": payload["choices"][0]["finish_reason"]}]})
        events.append({**base, "choices": [], "usage": payload["usage"]})
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            for event in events:
                h.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                h.wfile.flush()
            h.wfile.write(b"data: [DONE]\n\n")
            h.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            with self._lock:
                self.log.append(Request(api, questions, 0, "aborted", t, images))
            return
        with self._lock:
            self.log.append(Request(api, questions, 200, "answered", t, images))
        self.streamed += 1

    @staticmethod
    def _send_text(h: BaseHTTPRequestHandler, status: int, text: str) -> None:
        data = text.encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # last user message text only: in chat-history mode earlier turns hold earlier questions
    @staticmethod
    def _openai_text(body: dict) -> tuple[str, int]:
        user = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]
        content = user["content"]
        if isinstance(content, str):
            return content, 0
        text = "\n".join(c.get("text", "") for c in content if c.get("type") == "text")
        return text, sum(c.get("type") == "image_url" for c in content)

    @staticmethod
    def _anthropic_text(body: dict) -> tuple[str, int]:
        user = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]
        content = user["content"]
        if isinstance(content, str):
            return content, 0
        text = "\n".join(c.get("text", "") for c in content if c.get("type") == "text")
        return text, sum(c.get("type") == "image" for c in content)

    @staticmethod
    def _gemini_text(body: dict) -> tuple[str, int]:
        user = [c for c in body.get("contents", []) if c.get("role", "user") == "user"][-1]
        parts = user.get("parts", [])
        text = "\n".join(p.get("text", "") for p in parts if "text" in p)
        return text, sum(("inlineData" in p or "inline_data" in p) for p in parts)

    @staticmethod
    def _error_body(api: str, status: int) -> dict:
        kind = {429: "rate_limit_error", 500: "api_error", 401: "authentication_error"}.get(status, "error")
        if api == "anthropic":
            return {"type": "error", "error": {"type": kind, "message": f"scripted {status}"}}
        if api == "gemini":
            return {"error": {"code": status, "message": f"scripted {status}", "status": kind.upper()}}
        return {"error": {"message": f"scripted {status}", "type": kind, "code": None}}

    @staticmethod
    def _openai_reply(text: str, n_in: int, n_out: int, body: dict) -> dict:
        return {"id": "chatcmpl-loopback", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "x"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": n_in, "completion_tokens": n_out,
                          "total_tokens": n_in + n_out}}

    @staticmethod
    def _anthropic_reply(text: str, n_in: int, n_out: int, body: dict) -> dict:
        return {"id": "msg_loopback", "type": "message", "role": "assistant",
                "model": body.get("model", "x"), "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": n_in, "output_tokens": n_out}}

    @staticmethod
    def _gemini_reply(text: str, n_in: int, n_out: int, body: dict) -> dict:
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": n_in, "candidatesTokenCount": n_out,
                                  "totalTokenCount": n_in + n_out}}

