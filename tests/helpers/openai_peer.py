"""A scripted OpenAI-compatible server on 127.0.0.1 that can misbehave on purpose.

The remote engine is tested against llama.cpp's real server for the happy path; this one gives the
faults a real server only shows by accident: 401, 429 with retry-after, 500, a stream cut
mid-reply, a stall, an endpoint without /responses. It speaks real HTTP with real SSE framing,
so the official `openai` client parses it as it parses any server.

Each POST takes the next `Reply` from `peer.plan` (or `peer.default` when the plan is empty) and
records what arrived in `peer.requests`.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    # SSE data objects (dicts, sent as `data: {...}`, and for Responses with `event: <type>`)
    events: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] | None = None  # a plain JSON body (errors)
    headers: dict[str, str] = field(default_factory=dict)
    done_marker: bool = True  # end with `data: [DONE]`
    cut_after: int | None = None  # drop the connection (unterminated chunked body) after N events
    stall_after: int | None = None  # stop sending after N events until `peer.release` is set


def chat_chunks(reasoning: list[str], answer: list[str], *, finish: str = "stop",
                usage: dict[str, Any] | None = None, reasoning_field: str = "reasoning_content",
                tool_calls: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Chat Completions chunks as vLLM / llama.cpp stream them."""
    def chunk(delta: dict[str, Any], fin: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": fin}]}

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({reasoning_field: r}) for r in reasoning]
    out += [chunk({"content": a}) for a in answer]
    for i, tc in enumerate(tool_calls or ()):
        args = tc["arguments"]
        out.append(chunk({"tool_calls": [{"index": i, "id": tc["id"], "type": "function",
                                          "function": {"name": tc["name"], "arguments": ""}}]}))
        half = len(args) // 2
        for piece in (args[:half], args[half:]):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    out.append(chunk({}, finish))
    if usage is not None:
        out.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                    "model": "m", "choices": [], "usage": usage})
    return out


def responses_events(reasoning: list[str], answer: list[str], *,
                     call: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Responses events in the order of OpenAI's gpt-oss reference server."""
    resp = {"id": "resp_1", "object": "response", "created_at": 1, "model": "m", "output": [],
            "status": "in_progress", "parallel_tool_calls": True, "tool_choice": "auto",
            "tools": []}
    out: list[dict[str, Any]] = [{"type": "response.created", "sequence_number": 0, "response": resp}]
    rs = {"type": "reasoning", "id": "rs_1", "summary": [], "content": []}
    out.append({"type": "response.output_item.added", "output_index": 0, "item": rs,
                "sequence_number": 1})
    out += [{"type": "response.reasoning_text.delta", "item_id": "rs_1", "output_index": 0,
             "content_index": 0, "delta": r, "sequence_number": 2} for r in reasoning]
    out += [{"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1,
             "content_index": 0, "delta": a, "logprobs": [], "sequence_number": 3} for a in answer]
    if call:
        item = {"type": "function_call", "id": "fc_1", "call_id": call["call_id"],
                "name": call["name"], "arguments": call["arguments"], "status": "completed"}
        out.append({"type": "response.output_item.done", "output_index": 2, "item": item,
                    "sequence_number": 4})
    done = dict(resp, status="completed", usage={
        "input_tokens": 12, "output_tokens": len(reasoning) + len(answer),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": len(reasoning)},
        "total_tokens": 12 + len(reasoning) + len(answer)})
    out.append({"type": "response.completed", "response": done, "sequence_number": 5})
    return out


class OpenAIPeer:
    def __init__(self, models: tuple[str, ...] = ("m",), responses_api: bool = False,
                 models_status: int = 200, tls: ssl.SSLContext | None = None,
                 api_key: str | None = None) -> None:
        self.models = models
        self.api_key = api_key  # when set, any other bearer key gets OpenAI's 401
        self.responses_api = responses_api
        self.models_status = models_status
        self.plan: deque[Reply] = deque()
        self.default = Reply(events=chat_chunks(["Think"], ["Hello", " there"]))
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []  # POSTs
        self.gets: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                if peer.api_key is None or self.headers.get("Authorization") == (
                        f"Bearer {peer.api_key}"):
                    return False
                self._json(401, {"error": {"message": "Incorrect API key provided.",
                                           "type": "invalid_request_error", "param": None,
                                           "code": "invalid_api_key"}})
                return True

            def do_GET(self) -> None:
                peer.gets.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if self._refused():
                    return
                if self.path.rstrip("/") == "/v1/models":
                    if peer.models_status != 200:
                        self._json(peer.models_status, {"detail": "Not Found"})
                        return
                    self._json(200, {"object": "list", "data": [
                        {"id": m, "object": "model", "created": 1, "owned_by": "me"}
                        for m in peer.models]})
                else:
                    self._json(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                peer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if self._refused():
                    return
                if self.path == "/v1/responses" and not peer.responses_api:
                    self._json(404, {"detail": "Not Found"})
                    return
                reply = peer.plan.popleft() if peer.plan else peer.default
                if reply.body is not None or reply.status != 200:
                    self._json(reply.status, reply.body or {}, reply.headers)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                responses = self.path == "/v1/responses"
                for i, ev in enumerate(reply.events):
                    if reply.cut_after is not None and i == reply.cut_after:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # no terminating chunk: a cut stream
                        return
                    if reply.stall_after is not None and i == reply.stall_after:
                        peer.release.wait(30)
                        return
                    head = f"event: {ev['type']}\n" if responses else ""
                    self._chunk(f"{head}data: {json.dumps(ev)}\n\n")
                if reply.done_marker and not responses:
                    self._chunk("data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _chunk(self, text: str) -> None:
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # https: every accepted connection does the handshake first
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
