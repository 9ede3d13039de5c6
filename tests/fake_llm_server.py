"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol.

Replies come from a script, in order; each entry is one of

* ``"text"`` or ``Reply(content="text")`` — a 200 chat completion with that message content;
* ``Reply(status=500)`` — an error response with that status (OpenAI error body);
* ``Reply(sleep=2.0, content=...)`` — wait before answering (to make the client time out);
* ``Reply(raw=b"...", status=200)`` — exactly those bytes as a text/plain body (not a completion).

``reject_json_schema=True`` answers 400 to any request whose ``response_format`` is of type
``json_schema`` without consuming a script entry (like servers without structured output).
Every request body is recorded in ``requests`` (parsed JSON), rejected ones included.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    sleep: float = 0.0
    prompt_tokens: int = 0  # 0: a word count of the prompt
    completion_tokens: int = 0  # 0: a word count of the content
    raw: bytes | None = None  # send exactly these bytes as the body (text/plain), with ``status``


def _words(text: str) -> int:
    return max(1, len(text.split()))


class FakeLLMServer:
    def __init__(self, script: list[str | Reply] | None = None, *, reject_json_schema: bool = False) -> None:
        self.script: list[Reply] = [Reply(content=s) if isinstance(s, str) else s for s in script or []]
        self.reject_json_schema = reject_json_schema
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # ----- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, *replies: str | Reply) -> None:
        with self._lock:
            self.script += [Reply(content=r) if isinstance(r, str) else r for r in replies]

    # ----- helpers for assertions ------------------------------------------------------------
    def user_texts(self, i: int) -> list[str]:
        """Contents of the user messages of recorded request ``i``."""
        return [m["content"] for m in self.requests[i]["messages"] if m["role"] == "user"]

    # ----- protocol --------------------------------------------------------------------------
    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            fmt = body.get("response_format") or {}
            if self.reject_json_schema and fmt.get("type") == "json_schema":
                return Reply(status=400, content="response_format json_schema is not supported")
            if not self.script:
                return Reply(status=503, content="fake LLM server: no scripted reply left")
            return self.script.pop(0)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                fake.paths.append(self.path)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                reply = fake._next(body)
                if reply.sleep:
                    time.sleep(reply.sleep)
                if reply.raw is not None:
                    try:
                        self.send_response(reply.status)
                        self.send_header("Content-Type", "text/plain; charset=utf-8")
                        self.send_header("Content-Length", str(len(reply.raw)))
                        self.end_headers()
                        self.wfile.write(reply.raw)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                if reply.status != 200:
                    kind = "invalid_request_error" if reply.status < 500 else "server_error"
                    self._send(reply.status, {"error": {"message": reply.content or "error", "type": kind}})
                    return
                prompt = reply.prompt_tokens or sum(_words(str(m.get("content", ""))) for m in body["messages"])
                completion = reply.completion_tokens or _words(reply.content)
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-fake-{len(fake.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt,
                            "completion_tokens": completion,
                            "total_tokens": prompt + completion,
                        },
                    },
                )

        return Handler


def proposals_reply(*items: tuple[str, str, str | None]) -> str:
    """A proposer reply's JSON: one ``{"arch", "reason", "parent"}`` object per (arch, reason, parent)."""
    return json.dumps({"proposals": [{"arch": a, "reason": r, "parent": p} for a, r, p in items]})
