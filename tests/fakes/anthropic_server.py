"""A scripted model-API server on 127.0.0.1 for tests that drive the REAL HTTP clients.

Why a server and not a mock: the anthropic SDK (2.x) sends requests through httpx2, which respx,
pytest-httpx and requests-mock do not intercept. A real socket on loopback exercises the SDK exactly as
production does (headers, retries, error classes, JSON decoding) and keeps tests offline.

Speaks the routes our providers use:
  POST /v1/messages                 (JSON, or SSE when the request says ``"stream": true``)
  POST /v1/messages/count_tokens
  GET  /v1/models
  POST /v1/chat/completions         (and any other path: the server only replays what a test scripted)
  GET  /v1/models                   (OpenAI-compatible servers answer the same path)

Each test scripts replies as a queue of ``(status, headers, body)`` (or `Reply`), optionally per path.
Every request is recorded (method, path, headers, JSON body) so tests can assert what the client sent.
An unscripted request gets an obvious 500 with ``"no scripted reply"`` and is listed in
`unexpected`, so a test that forgot a reply fails loudly instead of hanging.

It also acts as a plain HTTP forward proxy: a request line with an absolute URL is served like any other
and marked ``proxied=True``, which lets a test check that a client honoured its proxy setting.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "RecordedRequest",
    "Reply",
    "ScriptedAPIServer",
    "anthropic_error",
    "anthropic_message",
    "openai_chat",
    "openai_error",
    "text_block",
    "tool_use_block",
]


@dataclass
class Reply:
    """One scripted HTTP reply. `body` may be a dict/list (sent as JSON), str or bytes."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw: bytes
    json: Any
    proxied: bool = False

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def _as_reply(item: Any) -> Reply:
    if isinstance(item, Reply):
        return item
    if isinstance(item, tuple):
        status, headers, body = (list(item) + [None, None, None])[:3]
        return Reply(status=int(status), headers=dict(headers or {}), body=body)
    return Reply(body=item)


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (timeout tests) makes the handler's write fail: that is expected, not noise."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class ScriptedAPIServer:
    """Threaded HTTP server on 127.0.0.1:<random port> replaying scripted replies."""

    def __init__(self) -> None:
        self._default: deque[Reply] = deque()
        self._by_path: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.unexpected: list[RecordedRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -------------------------------------------------------------------------

    def script(self, *replies: Any, path: str | None = None) -> ScriptedAPIServer:
        """Queue replies, for one path (e.g. "/v1/messages") or for any path when `path` is None."""
        with self._lock:
            queue = self._default if path is None else self._by_path.setdefault(path, deque())
            queue.extend(_as_reply(r) for r in replies)
        return self

    def pending(self) -> int:
        with self._lock:
            return len(self._default) + sum(len(q) for q in self._by_path.values())

    def _next_reply(self, path: str) -> Reply | None:
        with self._lock:
            queue = self._by_path.get(path)
            if queue:
                return queue.popleft()
            if self._default:
                return self._default.popleft()
            return None

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ScriptedAPIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return  # keep test output clean

            def _handle(self) -> None:
                server._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedAPIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        target = handler.path
        proxied = target.startswith(("http://", "https://"))
        parts = urlsplit(target)
        path = parts.path or "/"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(method=handler.command, path=path, query=parts.query,
                                   headers={k: v for k, v in handler.headers.items()}, raw=raw, json=body,
                                   proxied=proxied)
        with self._lock:
            self.requests.append(recorded)
        reply = self._next_reply(path)
        if reply is None:
            with self._lock:
                self.unexpected.append(recorded)
            reply = Reply(500, {}, {"type": "error", "error": {"type": "api_error",
                                                               "message": f"no scripted reply for {path}"}},)
        if reply.delay:
            time.sleep(reply.delay)
        stream = isinstance(body, dict) and body.get("stream") is True and reply.status == 200
        if stream and isinstance(reply.body, dict) and reply.body.get("type") == "message":
            payload = _sse_from_message(reply.body)
            content_type = "text/event-stream"
        elif isinstance(reply.body, (dict, list)):
            payload = json.dumps(reply.body).encode()
            content_type = "application/json"
        elif isinstance(reply.body, bytes):
            payload = reply.body
            content_type = "application/octet-stream"
        else:
            payload = str(reply.body or "").encode()
            content_type = "text/plain"
        handler.send_response(reply.status)
        headers = {"Content-Type": content_type, "request-id": f"req_{uuid.uuid4().hex[:16]}", **reply.headers}
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()


# ------------------------------------------------------------------------------------------
# Body builders
# ------------------------------------------------------------------------------------------


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(name: str, input: Any, id: str | None = None) -> dict[str, Any]:  # noqa: A002
    return {"type": "tool_use", "id": id or f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": input}


def anthropic_message(content: list[dict[str, Any]] | str, stop_reason: str = "end_turn", *,
                      model: str = "claude-sonnet-4-6", input_tokens: int = 10, output_tokens: int = 5,
                      cache_read: int = 0, cache_creation: int = 0, cache_creation_1h: int = 0,
                      message_id: str | None = None) -> dict[str, Any]:
    """A Messages API response body."""
    if isinstance(content, str):
        content = [text_block(content)]
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens,
                             "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_creation}
    if cache_creation_1h:
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": cache_creation - cache_creation_1h,
                                   "ephemeral_1h_input_tokens": cache_creation_1h}
    return {"id": message_id or f"msg_{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}


def anthropic_error(status: int, error_type: str, message: str,
                    headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    return status, dict(headers or {}), {"type": "error", "error": {"type": error_type, "message": message}}


def openai_chat(content: str | None = None, tool_calls: list[dict[str, Any]] | None = None,
                finish_reason: str | None = None, *, model: str = "local-model", prompt_tokens: int = 12,
                completion_tokens: int = 6, cached_tokens: int = 0) -> dict[str, Any]:
    """A chat-completions response body. `tool_calls` items: {"id", "name", "arguments" (str or dict)}."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {"id": c.get("id") or f"call_{i}", "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"] if isinstance(c["arguments"], str)
                          else json.dumps(c["arguments"])}}
            for i, c in enumerate(tool_calls)]
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}
    if cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message,
                                         "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop")}],
            "usage": usage}


def openai_error(status: int, message: str, headers: dict[str, str] | None = None,
                 error_type: str = "invalid_request_error") -> tuple[int, dict[str, str], dict[str, Any]]:
    return status, dict(headers or {}), {"error": {"message": message, "type": error_type, "code": None}}


def _sse_from_message(message: dict[str, Any]) -> bytes:
    """Turn a Messages API body into the SSE event sequence the streaming API sends."""
    events: list[tuple[str, dict[str, Any]]] = []
    start = dict(message, content=[], stop_reason=None,
                 usage=dict(message.get("usage") or {}, output_tokens=0))
    events.append(("message_start", {"type": "message_start", "message": start}))
    for index, block in enumerate(message.get("content") or []):
        if block.get("type") == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}}))
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "text_delta", "text": block.get("text", "")}}))
        elif block.get("type") == "tool_use":
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": dict(block, input={})}))
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "input_json_delta",
                                                             "partial_json": json.dumps(block.get("input"))}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": message.get("stop_reason"), "stop_sequence": None},
                                     "usage": {"output_tokens": (message.get("usage") or {}).get("output_tokens", 0)}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
