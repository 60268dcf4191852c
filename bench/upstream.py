"""A lean fake OpenAI / Anthropic upstream for benchmarking: a raw asyncio Protocol, canned bytes, keep-alive.

It answers `POST .../chat/completions` with a fixed, real-shaped `chat.completion` (or, when the
body contains `"stream": true`, a chunked SSE stream of content chunks, a usage chunk and
`[DONE]`), `POST .../messages` with an Anthropic `message` (or Anthropic's SSE sequence:
message_start, content_block_start, ping, 10 content_block_delta, content_block_stop,
message_delta with usage, message_stop), `POST .../responses` with an OpenAI Responses API
`response` (or its SSE sequence: response.created ... 10 response.output_text.delta ...
response.completed), and anything else with a 404. The paths are matched by their ending, so one
base `http://host:port/v1` serves all three: an `openai/` deployment with that `api_base` posts to
`/v1/chat/completions` and `/v1/responses`, an `anthropic/` one to `/v1/messages` (a base such as
`.../anthropic/v1` works too). It parses only what HTTP/1.1 keep-alive needs: the end of
the headers, `Content-Length`, and `Connection: close`. No pipelining, no chunked request bodies.

Faults are chosen by the model name in the body: a body containing `fail-NNN` (for example the
model `fail-500`, or `openai/fail-503-a` in a gateway config) is answered with HTTP NNN and an
OpenAI-shaped error body (Anthropic-shaped on `/messages`). The check is one substring search, so
the happy path stays as fast.

It counts what it serves in shared memory (chat, messages and responses requests, and how many of
them were faulted), read
by the bench through `Upstream.stats()` or by anyone with `GET /_stats` (JSON).

Run it on its own: `python -m bench.upstream --port 9000 [--delay-ms 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import socket
import time
from http import HTTPStatus
from multiprocessing.sharedctypes import RawArray
from typing import Any

CONTENT_WORDS = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?", " 😊"]
USAGE = {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22}
CREATED = 1732000000
MODEL = "bench-model"

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
_FAULT = re.compile(rb"fail-(\d{3})")

# Indexes into the shared counters.
CHAT_REQUESTS, FAULTED, MESSAGES_REQUESTS, RESPONSES_REQUESTS = 0, 1, 2, 3
STAT_NAMES = ("chat_requests", "faulted", "messages_requests", "responses_requests")


def new_counters() -> Any:
    """Counters shared with forked children: plain int64s, written only by the upstream's loop."""
    return RawArray("q", len(STAT_NAMES))


def completion_body() -> bytes:
    """A non-streaming `chat.completion`, shaped as OpenAI returns it."""
    return json.dumps({
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "".join(CONTENT_WORDS), "refusal": None,
                        "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {**USAGE, "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
        "service_tier": "default",
        "system_fingerprint": "fp_bench",
    }, separators=(",", ":"), ensure_ascii=False).encode()


def stream_events() -> list[bytes]:
    """The SSE events of a streamed answer: role, content words, finish, usage, `[DONE]`."""
    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None,
              choices: bool = True) -> bytes:
        event = {"id": "chatcmpl-bench0000000000000000000000", "object": "chat.completion.chunk",
                 "created": CREATED, "model": MODEL, "system_fingerprint": "fp_bench",
                 "choices": [{"index": 0, "delta": delta, "logprobs": None,
                              "finish_reason": finish}] if choices else [],
                 "usage": usage}
        return b"data: " + json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": word}) for word in CONTENT_WORDS]
    events.append(chunk({}, finish="stop"))
    events.append(chunk({}, usage=USAGE, choices=False))
    events.append(b"data: [DONE]\n\n")
    return events


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _sse(event: str, data: dict[str, Any]) -> bytes:
    """One named SSE event, as Anthropic and the Responses API send them."""
    return b"event: " + event.encode() + b"\ndata: " + _json(data) + b"\n\n"


# Anthropic Messages API (POST /v1/messages)
MESSAGE_ID = "msg_bench0000000000000000000000"
ANTHROPIC_USAGE = {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                   "output_tokens": 10, "service_tier": "standard"}


def message_body() -> bytes:
    """A non-streaming Anthropic `message`, shaped as the Messages API returns it."""
    return _json({"id": MESSAGE_ID, "type": "message", "role": "assistant", "model": MODEL,
                  "content": [{"type": "text", "text": "".join(CONTENT_WORDS)}],
                  "stop_reason": "end_turn", "stop_sequence": None, "usage": ANTHROPIC_USAGE})


def message_stream_events() -> list[bytes]:
    """Anthropic's SSE sequence for a streamed text answer."""
    start = {"id": MESSAGE_ID, "type": "message", "role": "assistant", "model": MODEL, "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}
    events = [_sse("message_start", {"type": "message_start", "message": start}),
              _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
              _sse("ping", {"type": "ping"})]
    events += [_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                            "delta": {"type": "text_delta", "text": word}})
               for word in CONTENT_WORDS]
    events += [_sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
               _sse("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": 10}}),
               _sse("message_stop", {"type": "message_stop"})]
    return events


# OpenAI Responses API (POST /v1/responses)
RESPONSE_ID = "resp_bench0000000000000000000000"
OUTPUT_ITEM_ID = "msg_bench0000000000000000000001"
RESPONSES_USAGE = {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 22}


def _response_object(status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": RESPONSE_ID, "object": "response", "created_at": CREATED, "status": status,
            "background": False, "error": None, "incomplete_details": None, "instructions": None,
            "max_output_tokens": None, "max_tool_calls": None, "model": MODEL, "output": output,
            "parallel_tool_calls": True, "previous_response_id": None, "prompt_cache_key": None,
            "reasoning": {"effort": None, "summary": None}, "safety_identifier": None,
            "service_tier": "default", "store": False, "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
            "tools": [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled", "usage": usage,
            "user": None, "metadata": {}}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _output_message(status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": OUTPUT_ITEM_ID, "type": "message", "status": status, "content": content, "role": "assistant"}


def response_body() -> bytes:
    """A non-streaming Responses API `response`: one assistant message with one output_text."""
    text = "".join(CONTENT_WORDS)
    return _json(_response_object("completed", [_output_message("completed", [_output_text(text)])],
                                  RESPONSES_USAGE))


def response_stream_events() -> list[bytes]:
    """The Responses API's SSE sequence for a streamed text answer, with sequence numbers."""
    text = "".join(CONTENT_WORDS)
    where = {"item_id": OUTPUT_ITEM_ID, "output_index": 0, "content_index": 0}
    done_item = _output_message("completed", [_output_text(text)])
    payloads: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response_object("in_progress", [], None)},
        {"type": "response.in_progress", "response": _response_object("in_progress", [], None)},
        {"type": "response.output_item.added", "output_index": 0, "item": _output_message("in_progress", [])},
        {"type": "response.content_part.added", **where, "part": _output_text("")},
    ]
    payloads += [{"type": "response.output_text.delta", **where, "delta": word, "logprobs": []}
                 for word in CONTENT_WORDS]
    payloads += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _output_text(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": _response_object("completed", [done_item], RESPONSES_USAGE)},
    ]
    events = []
    for number, payload in enumerate(payloads):
        kind = payload.pop("type")
        events.append(_sse(kind, {"type": kind, "sequence_number": number, **payload}))
    return events


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: bytes, content_type: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type
            + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body)


JSON_RESPONSE = _response(b"200 OK", b"application/json", completion_body())
NOT_FOUND = _response(b"404 Not Found", b"application/json",
                      b'{"error":{"message":"not found","type":"invalid_request_error",'
                      b'"param":null,"code":null}}')
STREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
               b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
STREAM_EVENTS = [_http_chunk(event) for event in stream_events()]
STREAM_END = b"0\r\n\r\n"
STREAM_RESPONSE = STREAM_HEAD + b"".join(STREAM_EVENTS) + STREAM_END
MESSAGE_JSON_RESPONSE = _response(b"200 OK", b"application/json", message_body())
MESSAGE_STREAM_EVENTS = [_http_chunk(event) for event in message_stream_events()]
MESSAGE_STREAM_RESPONSE = STREAM_HEAD + b"".join(MESSAGE_STREAM_EVENTS) + STREAM_END
RESPONSES_JSON_RESPONSE = _response(b"200 OK", b"application/json", response_body())
RESPONSES_STREAM_EVENTS = [_http_chunk(event) for event in response_stream_events()]
RESPONSES_STREAM_RESPONSE = STREAM_HEAD + b"".join(RESPONSES_STREAM_EVENTS) + STREAM_END
_FAULT_RESPONSES: dict[tuple[bytes, bool], bytes] = {}


def fault_response(code: bytes, anthropic: bool = False) -> bytes:
    """HTTP `code` with an OpenAI error body (type by status class), or Anthropic's error shape,
    built once per code."""
    response = _FAULT_RESPONSES.get((code, anthropic))
    if response is None:
        status = int(code)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Injected Fault"
        message = f"bench upstream: injected HTTP {status}"
        if anthropic:
            kind = ("rate_limit_error" if status == 429 else "overloaded_error" if status == 529 else
                    "api_error" if status >= 500 else "invalid_request_error")
            body = _json({"type": "error", "error": {"type": kind, "message": message}})
        else:
            kind = ("rate_limit_exceeded" if status == 429 else
                    "server_error" if status >= 500 else "invalid_request_error")
            body = _json({"error": {"message": message, "type": kind, "param": None, "code": None}})
        response = _response(b"%d %s" % (status, phrase.encode()), b"application/json", body)
        _FAULT_RESPONSES[(code, anthropic)] = response
    return response


def stats_response(counters: Any) -> bytes:
    body = json.dumps({name: counters[i] for i, name in enumerate(STAT_NAMES)}).encode()
    return _response(b"200 OK", b"application/json", body)


class UpstreamProtocol(asyncio.Protocol):
    """One connection: read a request head and body, answer with canned bytes, repeat."""

    def __init__(self, delay: float, chunk_delay: float, counters: Any) -> None:
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.counters = counters
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._serve_buffered()

    def _serve_buffered(self) -> None:
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buffer[:head_end])
            match = _CONTENT_LENGTH.search(head)
            length = int(match.group(1)) if match else 0
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[head_end + 4:total])
            del self.buffer[:total]
            close = _CONNECTION_CLOSE.search(head) is not None
            if self.delay or self.chunk_delay:
                self.busy = True
                asyncio.get_running_loop().create_task(self._answer_later(head, body, close))
                return
            self._answer(head, body, close)
            if close:
                return

    def _answer(self, head: bytes, body: bytes, close: bool) -> None:
        assert self.transport is not None
        if not _is_chat(head):
            self._answer_other(head, body)
            if close:
                self.transport.close()
            return
        self.counters[CHAT_REQUESTS] += 1
        if b"fail-" in body and (fault := _FAULT.search(body)):
            self.counters[FAULTED] += 1
            self.transport.write(fault_response(fault.group(1)))
        elif _STREAM_TRUE.search(body):
            self.transport.write(STREAM_RESPONSE)
        else:
            self.transport.write(JSON_RESPONSE)
        if close:
            self.transport.close()

    def _answer_other(self, head: bytes, body: bytes) -> None:
        """Anything but chat (kept off the chat path): /messages, /responses, GET /_stats, 404."""
        assert self.transport is not None
        kind = _protocol(head)
        if kind is None:
            self.transport.write(stats_response(self.counters) if head.startswith(b"GET /_stats")
                                 else NOT_FOUND)
            return
        self.counters[MESSAGES_REQUESTS if kind == "messages" else RESPONSES_REQUESTS] += 1
        if b"fail-" in body and (fault := _FAULT.search(body)):
            self.counters[FAULTED] += 1
            self.transport.write(fault_response(fault.group(1), anthropic=kind == "messages"))
        elif _STREAM_TRUE.search(body):
            self.transport.write(MESSAGE_STREAM_RESPONSE if kind == "messages" else RESPONSES_STREAM_RESPONSE)
        else:
            self.transport.write(MESSAGE_JSON_RESPONSE if kind == "messages" else RESPONSES_JSON_RESPONSE)

    async def _answer_later(self, head: bytes, body: bytes, close: bool) -> None:
        assert self.transport is not None
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.transport.is_closing():
            return
        kind = "chat" if _is_chat(head) else _protocol(head)
        if self.chunk_delay and kind and _STREAM_TRUE.search(body) and b"fail-" not in body:
            self.counters[CHAT_REQUESTS if kind == "chat" else
                          MESSAGES_REQUESTS if kind == "messages" else RESPONSES_REQUESTS] += 1
            self.transport.write(STREAM_HEAD)
            for event in (STREAM_EVENTS if kind == "chat" else
                          MESSAGE_STREAM_EVENTS if kind == "messages" else RESPONSES_STREAM_EVENTS):
                if self.transport.is_closing():
                    return
                self.transport.write(event)
                await asyncio.sleep(self.chunk_delay)
            self.transport.write(STREAM_END)
            if close:
                self.transport.close()
        else:
            self._answer(head, body, close)
        self.busy = False
        if not close and not self.transport.is_closing():
            self._serve_buffered()


def _is_chat(head: bytes) -> bool:
    line_end = head.find(b"\r\n")
    request_line = head[:line_end] if line_end >= 0 else head
    return request_line.startswith(b"POST ") and b"/chat/completions" in request_line


def _protocol(head: bytes) -> str | None:
    """"messages" for `POST .../messages`, "responses" for `POST .../responses`, else None."""
    line_end = head.find(b"\r\n")
    request_line = head[:line_end] if line_end >= 0 else head
    if not request_line.startswith(b"POST "):
        return None
    path = request_line.split(b" ", 2)[1].split(b"?", 1)[0]
    if path.endswith(b"/messages"):
        return "messages"
    if path.endswith(b"/responses"):
        return "responses"
    return None


def _install_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def serve(sock: socket.socket, delay: float = 0.0, chunk_delay: float = 0.0,
          counters: Any = None) -> None:
    """Serves on an already bound, listening socket until the process is terminated."""
    _install_uvloop()
    counters = new_counters() if counters is None else counters

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: UpstreamProtocol(delay, chunk_delay, counters), sock=sock,
                                          backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def listening_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    return sock


class Upstream:
    """The fake upstream in its own process, so it never shares a GIL with the load generator."""

    def __init__(self, delay: float = 0.0, chunk_delay: float = 0.0) -> None:
        self.sock = listening_socket()
        self.port: int = self.sock.getsockname()[1]
        self.counters = new_counters()
        # fork keeps the bound socket; the child owns the accept loop, the parent only closes it.
        context = multiprocessing.get_context("fork")
        self.process = context.Process(target=serve, args=(self.sock, delay, chunk_delay, self.counters),
                                       name="bench-upstream", daemon=True)

    def stats(self) -> dict[str, int]:
        """The upstream's own counts so far: `chat_requests`, `messages_requests`,
        `responses_requests` (faulted ones included), `faulted`."""
        return {name: int(self.counters[i]) for i, name in enumerate(STAT_NAMES)}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "Upstream":
        self.process.start()
        self.sock.close()
        _wait_for_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid


def _wait_for_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait this long before answering")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0,
                        help="stream: wait this long between SSE events")
    args = parser.parse_args()
    print(f"fake upstream on http://127.0.0.1:{args.port}/v1 ({_install_uvloop()})", flush=True)
    try:
        serve(listening_socket(args.port), args.delay_ms / 1000, args.chunk_delay_ms / 1000)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
