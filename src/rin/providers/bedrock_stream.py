"""Bedrock's streams: the AWS event stream's binary frames (`application/vnd.amazon.eventstream`,
decoded by botocore, through `adapter.stream_decoder`) as events, and ConverseStream's events as
OpenAI `chat.completion.chunk` payloads. An exception inside the stream is classified as an HTTP
error would be (`bedrock_errors.error_of`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from rin.errors import UpstreamProtocolError
from rin.providers.anthropic_response import usage_json
from rin.providers.bedrock_errors import error_of
from rin.providers.bedrock_response import FINISH_REASONS, check_stop, new_id, parse_usage
from rin.types import SSEEvent, Usage


class EventStreamDecoder:
    """`application/vnd.amazon.eventstream` frames, decoded by botocore, as events: each message's
    JSON payload, named by its `:event-type`, or by its `:exception-type` for an exception;
    a `:message-type` error becomes an event named "error"."""

    def __init__(self) -> None:
        from botocore.eventstream import EventStreamBuffer

        self._buffer = EventStreamBuffer()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        from botocore.eventstream import ParserError

        self._buffer.add_data(chunk)
        events: list[SSEEvent] = []
        try:
            for message in self._buffer:
                events.append(_event(message.headers, message.payload))
        except ParserError as err:
            raise UpstreamProtocolError(
                f"Bedrock sent bytes that are not an AWS event stream ({type(err).__name__})") from None
        return events

    def flush(self) -> list[SSEEvent]:
        return []  # a partial frame left over is a stream cut short: the parser says so


def _event(headers: Mapping[str, Any], payload: bytes) -> SSEEvent:
    kind = headers.get(":message-type")
    if kind == "exception":
        return SSEEvent(payload.decode("utf-8", "replace"), str(headers.get(":exception-type") or "exception"))
    if kind == "error":
        said = {"message": str(headers.get(":error-message") or ""), "code": str(headers.get(":error-code") or "")}
        return SSEEvent(orjson.dumps(said).decode(), "error")
    return SSEEvent(payload.decode("utf-8", "replace"), str(headers.get(":event-type") or ""))


class ConverseStreamParser:
    """ConverseStream's events as OpenAI `chat.completion.chunk` payloads. The assistant role goes
    out with the first content, so a stream stopped by a guardrail before any can still fall back.
    `metadata` (the usage) follows `messageStop` and ends the stream."""

    def __init__(self, model: str, json_tool: str | None = None) -> None:
        self.usage: Usage | None = None
        self.usage_chunk: bytes | None = None
        self.done = False
        self.provider_model: str | None = None
        self._id = new_id()
        self._model = model
        self._created = int(time.time())
        self._started = False
        self._stop: str | None = None
        #: contentBlockIndex -> OpenAI tool_calls index; and whether the call's arguments began
        self._tools: dict[Any, int] = {}
        self._tool_args: dict[Any, bool] = {}
        #: the tool whose input is the answer (response_format json_schema), and its block
        self._json_tool = json_tool
        self._json_block: Any = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        kind = event.event or ""
        try:
            data = orjson.loads(event.data) if event.data else {}
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(f"Bedrock sent a stream event that is not JSON: {event.data[:80]!r}") from None
        if not isinstance(data, dict):
            raise UpstreamProtocolError("Bedrock sent a stream event that is not a JSON object")
        if kind == "error" or kind.endswith("Exception"):
            name = str(data.get("code") or "") if kind == "error" else kind[:1].upper() + kind[1:]
            said = str(data.get("message") or data.get("originalMessage") or "no message")
            raise error_of(name, said, None, usage=self.usage)
        if kind == "contentBlockStart":
            return self._block_start(data.get("contentBlockIndex"), data.get("start") or {})
        if kind == "contentBlockDelta":
            return self._block_delta(data.get("contentBlockIndex"), data.get("delta") or {})
        if kind == "contentBlockStop":
            return self._block_stop(data.get("contentBlockIndex"))
        if kind == "messageStop":
            return self._message_stop(data.get("stopReason"))
        if kind == "metadata":
            return self._metadata(data.get("usage"))
        return []  # messageStart, and event types Bedrock may add later

    def finish(self) -> list[bytes]:
        if self._stop is None:
            raise UpstreamProtocolError("Bedrock closed the stream before it finished (messageStop never came)",
                                        usage=self.usage)
        self.done = True  # the metadata event is missing: the answer itself is whole
        return []

    def _block_start(self, index: Any, start: dict[str, Any]) -> list[bytes]:
        use = start.get("toolUse")
        if not isinstance(use, dict):
            return []
        if use.get("name") == self._json_tool:
            self._json_block = index
            return []
        position = self._tools[index] = len(self._tools)
        self._tool_args[index] = False
        return [self._chunk({"tool_calls": [{"index": position, "id": use.get("toolUseId"), "type": "function",
                                             "function": {"name": use.get("name"), "arguments": ""}}]})]

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[bytes]:
        if isinstance(delta.get("text"), str):
            return [self._chunk({"content": delta["text"]})] if delta["text"] else []
        use = delta.get("toolUse")
        if isinstance(use, dict) and index == self._json_block and use.get("input"):
            return [self._chunk({"content": use["input"]})]
        if isinstance(use, dict) and index in self._tools and use.get("input"):
            self._tool_args[index] = True
            return [self._arguments(index, use["input"])]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            if reasoning.get("text"):
                return [self._chunk({"reasoning_content": reasoning["text"]})]
            if reasoning.get("signature"):
                block = {"type": "thinking", "thinking": "", "signature": reasoning["signature"]}
                return [self._chunk({"thinking_blocks": [block]})]
        return []

    def _block_stop(self, index: Any) -> list[bytes]:
        if index in self._tools and not self._tool_args[index]:
            self._tool_args[index] = True  # a call without arguments: "" would not parse as JSON
            return [self._arguments(index, "{}")]
        return []

    def _message_stop(self, stop: Any) -> list[bytes]:
        check_stop(stop, self.usage)
        self._stop = str(stop or "end_turn")
        finish = "tool_calls" if self._tools else FINISH_REASONS.get(self._stop, "stop")
        if finish == "tool_calls" and not self._tools:
            finish = "stop"  # the json_tool call that carried the answer
        return [self._chunk({}, finish)]

    def _metadata(self, raw: Any) -> list[bytes]:
        self.usage = parse_usage(raw) or self.usage
        if self._stop is None:
            return []
        self.done = True
        if self.usage is not None:
            self.usage_chunk = orjson.dumps({
                "id": self._id, "object": "chat.completion.chunk", "created": self._created,
                "model": self._model, "choices": [], "usage": usage_json(self.usage),
            })
        return []

    def _arguments(self, index: Any, fragment: str) -> bytes:
        return self._chunk({"tool_calls": [{"index": self._tools[index], "function": {"arguments": fragment}}]})

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        if not self._started:
            self._started = True
            delta = {"role": "assistant", **delta}
        return orjson.dumps({
            "id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        })
