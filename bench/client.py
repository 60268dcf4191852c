"""A minimal keep-alive HTTP/1.1 client over a raw socket, for latency at concurrency 1.

Client overhead is part of every number it measures, so it does as little as possible: one
pre-built request, `recv` into a buffer, `Content-Length` or chunked framing, nothing else.
"""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Callable

CHAT_BODY = json.dumps({
    "model": "bench-model",
    "messages": [{"role": "user", "content": "Hello, how are you?"}],
    "max_tokens": 16,
}, separators=(",", ":"))
STREAM_BODY = json.dumps({
    "model": "bench-model",
    "messages": [{"role": "user", "content": "Hello, how are you?"}],
    "max_tokens": 16,
    "stream": True,
}, separators=(",", ":"))

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


BENCH_KEY = "sk-bench"  # the bearer token every request carries unless a run passes its own key


class ProtocolError(Exception):
    """The server closed the connection or sent something this client cannot frame."""


def post_request(port: int, path: str, body: str, key: str = BENCH_KEY,
                 headers: dict[str, str] | None = None) -> bytes:
    """A POST with `Authorization: Bearer <key>`, or with `headers` instead of it when given (e.g.
    Anthropic's `x-api-key` and `anthropic-version`)."""
    data = body.encode()
    auth = ("".join(f"{name}: {value}\r\n" for name, value in headers.items()) if headers is not None
            else f"Authorization: Bearer {key}\r\n")
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\n{auth}"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def chat_body(model: str = "bench-model", content: str = "Hello, how are you?", stream: bool = False) -> str:
    """The bench's chat body with another model or message (CHAT_BODY is the default one)."""
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": content}],
                               "max_tokens": 16}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


@dataclass
class Response:
    status: int
    body: bytes
    first_token_ns: int | None = None  # perf_counter_ns when the first content token arrived
    head: bytes = b""  # status line and headers, as received

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        match = re.search(rb"\r\n" + re.escape(name.encode()) + rb":[ \t]*([^\r]*)", self.head, re.IGNORECASE)
        return match.group(1).decode("latin-1").strip() if match else None


class Connection:
    """One keep-alive connection to 127.0.0.1:port; reconnects when the server closed it."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = bytearray()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, raw: bytes, watch_tokens: bool | str = False) -> Response:
        """`watch_tokens`: True (or "chat"), "messages" or "responses": note when the first content
        token of that protocol's stream arrives (TokenScanner)."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer.clear()
        try:
            self.sock.sendall(raw)
            return self._read_response(watch_tokens)
        except (OSError, ProtocolError):
            self.close()
            raise

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(262144)
        if not data:
            raise ProtocolError("connection closed by server")
        self.buffer += data

    def _take_until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            self._fill()
        data = bytes(self.buffer[:end])
        del self.buffer[:end + len(marker)]
        return data

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def _read_response(self, watch_tokens: bool | str) -> Response:
        head = self._take_until(b"\r\n\r\n") + b"\r\n"
        status = int(head[9:12])
        if _CHUNKED.search(head):
            response = self._read_chunked(status, watch_tokens)
            response.head = head
        else:
            match = _CONTENT_LENGTH.search(head)
            if match is None:
                raise ProtocolError("response has neither Content-Length nor chunked framing")
            response = Response(status, self._take(int(match.group(1))), head=head)
            if watch_tokens and TokenScanner(watch_tokens).feed(response.body + b"\n"):
                response.first_token_ns = time.perf_counter_ns()  # a buffered stream: all at once
        if _CONNECTION_CLOSE.search(head):
            self.close()
        return response

    def _read_chunked(self, status: int, watch_tokens: bool | str) -> Response:
        parts: list[bytes] = []
        scanner = TokenScanner(watch_tokens) if watch_tokens else None
        first_token_ns = None
        while True:
            size = int(self._take_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self._take_until(b"\r\n")  # no trailers expected: the blank line ends the body
                return Response(status, b"".join(parts), first_token_ns)
            data = self._take(size)
            self._take(2)
            parts.append(data)
            if scanner is not None and first_token_ns is None and scanner.feed(data):
                first_token_ns = time.perf_counter_ns()


class TokenScanner:
    """Finds the first content token of a stream: for chat (`protocol` True or "chat") the first
    SSE `data:` line whose delta carries non-empty content; for "messages" (Anthropic) the first
    `content_block_delta` with non-empty text; for "responses" the first `response.output_text.delta`
    with a non-empty delta."""

    def __init__(self, protocol: bool | str = "chat") -> None:
        self.pending = b""
        self.protocol = "chat" if protocol is True else protocol
        self.marker, self.check = _TOKEN_EVENTS[self.protocol]

    def feed(self, data: bytes) -> bool:
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        for line in lines:
            if line.startswith(b"data:") and self.marker in line and self.check(line[5:]):
                return True
        return False


def has_content(payload: bytes) -> bool:
    try:
        event = json.loads(payload)
    except ValueError:
        return False
    for choice in event.get("choices") or []:
        if (choice.get("delta") or {}).get("content"):
            return True
    return False


def _event(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def has_text_delta(payload: bytes) -> bool:
    """An Anthropic `content_block_delta` carrying text."""
    event = _event(payload)
    delta = event.get("delta") or {}
    return event.get("type") == "content_block_delta" and bool(delta.get("text"))


def has_output_text_delta(payload: bytes) -> bool:
    """A Responses API `response.output_text.delta` with a non-empty delta."""
    event = _event(payload)
    return event.get("type") == "response.output_text.delta" and bool(event.get("delta"))


# protocol -> (bytes a candidate `data:` line must contain, the check of its JSON payload)
_TOKEN_EVENTS: dict[str, tuple[bytes, Callable[[bytes], bool]]] = {
    "chat": (b'"content"', has_content),
    "messages": (b"content_block_delta", has_text_delta),
    "responses": (b"response.output_text.delta", has_output_text_delta),
}


@dataclass
class Timings:
    """Sorted durations in milliseconds, and how many requests did not get a 200."""

    ms: list[float]
    errors: int
    first_error: str = ""

    def percentile(self, p: float) -> float | None:
        if not self.ms:
            return None
        index = min(len(self.ms) - 1, max(0, math.ceil(p / 100 * len(self.ms)) - 1))  # nearest rank
        return self.ms[index]


def measure_latency(port: int, path: str, count: int, warmup: int, stream: bool = False,
                    body: str | None = None) -> Timings:
    """`count` sequential requests on one keep-alive connection after `warmup` unmeasured ones.

    Non-streaming: the time to the full response. Streaming: the time to the first content token.
    `body` replaces the bench's chat body (same body every time).
    """
    raw = post_request(port, path, body or (STREAM_BODY if stream else CHAT_BODY))
    return measure_sequence(port, [raw] * (warmup + count), warmup, stream)


def measure_sequence(port: int, raws: list[bytes], warmup: int, stream: bool | str = False,
                     check: Callable[[Response], str | None] | None = None) -> Timings:
    """Sends the pre-built requests `raws` one after another on one keep-alive connection and
    times all but the first `warmup`. `check` may reject a 200 (returns why): it counts as an error.
    `stream`: time to the first content token instead of the whole response; True or "chat",
    "messages" or "responses" says which protocol's stream (TokenScanner).
    """
    conn = Connection(port)
    durations: list[float] = []
    errors = 0
    first_error = ""
    try:
        for i, raw in enumerate(raws):
            start = time.perf_counter_ns()
            try:
                response = conn.request(raw, watch_tokens=stream)
            except (OSError, ProtocolError) as err:
                errors += 1
                first_error = first_error or f"{type(err).__name__}: {err}"
                continue
            end = response.first_token_ns if stream else time.perf_counter_ns()
            if response.status != 200 or end is None:
                errors += 1
                first_error = first_error or f"HTTP {response.status}: {response.body[:300]!r}"
                continue
            if check is not None and (why := check(response)):
                errors += 1
                first_error = first_error or why
                continue
            if i >= warmup:
                durations.append((end - start) / 1e6)
    finally:
        conn.close()
    durations.sort()
    return Timings(durations, errors, first_error)


def wait_until_serving(port: int, path: str, process: subprocess.Popen[bytes], timeout: float,
                       poll: float = 0.005, key: str = BENCH_KEY, body: str = CHAT_BODY) -> Response:
    """Polls with a real chat request (`body`) until the first 200; raises if the process dies first."""
    raw = post_request(port, path, body, key)
    deadline = time.monotonic() + timeout
    last = "no connection"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode} before serving")
        try:
            conn = Connection(port, timeout=max(1.0, timeout))
            try:
                response = conn.request(raw)
            finally:
                conn.close()
            if response.status == 200:
                return response
            last = f"HTTP {response.status}: {response.body[:300]!r}"
        except (OSError, ProtocolError) as err:
            last = f"{type(err).__name__}: {err}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"no 200 on POST {path} within {timeout:.0f} s (last: {last})")
        time.sleep(poll)
