"""Anthropic Messages API clients (POST /v1/messages) on RIN's OpenAI-shaped core: chat answers,
streams and errors in Anthropic's wire format (requests are translated in `anthropic_request`).
The opposite translation, OpenAI callers to Anthropic upstreams, is in
`rin.providers.anthropic_messages` and `rin.providers.anthropic_response`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from rin.errors import RinError
from rin.providers.openai import parse_usage
from rin.types import Usage

Json = dict[str, Any]

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}

#: Anthropic's documented error types; other 4xx statuses are invalid_request_error, other 5xx api_error
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 503: "overloaded_error",
               504: "timeout_error", 529: "overloaded_error"}

#: the blocks translated to chat, each allowed in one role only
def chat_to_message(chat: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat.completion body as an Anthropic Message object."""
    choices = chat.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    content: list[Json] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content") or message.get("refusal")
    if isinstance(text, list):
        text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or _new_id("toolu_"),
                        "name": function.get("name") or "", "input": _tool_input(function.get("arguments"))})
    return {
        "id": _message_id(chat.get("id")), "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": _stop_reason(choice.get("finish_reason")), "stop_sequence": None,
        "usage": _usage_json(parse_usage(chat.get("usage")) or Usage()),
    }


def _tool_input(arguments: Any) -> Json:
    """Parsed arguments; text that is not a JSON object is kept under `raw_arguments`, never lost."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"raw_arguments": arguments}


def _stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(finish_reason or "", "end_turn")


def _usage_json(usage: Usage) -> Json:
    # Anthropic's input_tokens leaves out the cache reads and writes that OpenAI's prompt_tokens includes
    uncached = usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens
    return {"input_tokens": max(uncached, 0), "output_tokens": usage.completion_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cached_tokens}


def _message_id(chat_id: Any) -> str:
    if not isinstance(chat_id, str) or not chat_id:
        return _new_id("msg_")
    return chat_id if chat_id.startswith("msg_") else "msg_" + chat_id.removeprefix("chatcmpl-")


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


class ChatToMessagesStream:
    """OpenAI `chat.completion.chunk` payloads as Anthropic's named SSE events, one chunk at a time."""

    def __init__(self, model: str, *, input_tokens: int = 0) -> None:
        self.model = model
        #: reported in message_start, before the upstream's usage is known (see estimate_tokens)
        self.input_tokens = input_tokens
        self.finish_reason: str | None = None
        #: the usage of the upstream's usage chunk, if it sent one
        self.usage: Usage | None = None
        self._started = False
        self._closed = False
        self._next_index = 0
        self._open: tuple[str, int] | None = None  # (what the block holds, its index)
        self._tools: dict[int, int] = {}  # OpenAI tool_calls index -> content block index

    def feed(self, payload: bytes) -> list[bytes]:
        """The frames for one chunk's JSON; message_start and ping come with the first."""
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return []  # "[DONE]"
        if not isinstance(chunk, dict):
            return []
        frames = [] if self._started else self._start(chunk.get("id"))
        if isinstance(chunk.get("usage"), dict):
            self.usage = parse_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                frames += self._delta(choice.get("delta") or {})
                self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return frames

    def close(self, usage: Usage | None, finish_reason: str | None = None) -> list[bytes]:
        """The last frames: content_block_stop, message_delta (stop reason, usage) and message_stop."""
        if self._closed:
            return []
        self._closed = True
        frames = ([] if self._started else self._start(None)) + self._close_block()
        usage = usage or self.usage
        delta = {"stop_reason": _stop_reason(finish_reason or self.finish_reason), "stop_sequence": None}
        counts = _usage_json(usage) if usage else {"output_tokens": 0}
        return frames + [_frame("message_delta", {"delta": delta, "usage": counts}), _frame("message_stop", {})]

    def _start(self, chat_id: Any) -> list[bytes]:
        self._started = True
        message = {"id": _message_id(chat_id), "type": "message", "role": "assistant", "model": self.model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": self.input_tokens, "output_tokens": 0}}
        return [_frame("message_start", {"message": message}), _frame("ping", {})]

    def _delta(self, delta: Json) -> list[bytes]:
        frames: list[bytes] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            frames += self._add("thinking", {"type": "thinking", "thinking": "", "signature": ""},
                                {"type": "thinking_delta", "thinking": reasoning})
        text = delta.get("content") or delta.get("refusal")
        if isinstance(text, str) and text:
            frames += self._add("text", {"type": "text", "text": ""}, {"type": "text_delta", "text": text})
        for position, call in enumerate(delta.get("tool_calls") or []):
            if isinstance(call, dict):
                frames += self._tool_delta(call.get("index", position), call)
        return frames

    def _tool_delta(self, position: int, call: Json) -> list[bytes]:
        function = call.get("function") or {}
        frames: list[bytes] = []
        if position not in self._tools:
            block = {"type": "tool_use", "id": call.get("id") or _new_id("toolu_"),
                     "name": function.get("name") or "", "input": {}}
            frames += self._open_block(f"tool:{position}", block)
            self._tools[position] = self._next_index - 1
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # sent to the call's own block even if another has since opened: arguments are never dropped
            frames.append(_frame("content_block_delta", {
                "index": self._tools[position], "delta": {"type": "input_json_delta", "partial_json": arguments}}))
        return frames

    def _add(self, kind: str, start: Json, delta: Json) -> list[bytes]:
        frames = [] if self._open and self._open[0] == kind else self._open_block(kind, start)
        return frames + [_frame("content_block_delta", {"index": self._next_index - 1, "delta": delta})]

    def _open_block(self, kind: str, block: Json) -> list[bytes]:
        frames = self._close_block()
        self._open = (kind, self._next_index)
        self._next_index += 1
        return frames + [_frame("content_block_start", {"index": self._open[1], "content_block": block})]

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open = self._open[1], None
        return [_frame("content_block_stop", {"index": index})]


def _frame(event: str, fields: Json) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps({"type": event, **fields}) + b"\n\n"


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status."""
    return ERROR_TYPES.get(status) or ("invalid_request_error" if 400 <= status < 500 else "api_error")


def _error_json(err: RinError) -> Json:
    return {"type": "error", "error": {"type": error_type(err.status), "message": err.message}}


def error_body(err: RinError) -> tuple[int, bytes]:
    """RIN's status and an Anthropic-shaped error body."""
    return err.status, orjson.dumps(_error_json(err))


def error_frame(err: RinError) -> bytes:
    """An `error` event for a stream that has already begun."""
    return _frame("error", {"error": _error_json(err)["error"]})
