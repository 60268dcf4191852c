"""Anthropic answers (messages, stream events, error envelopes) in OpenAI's chat.completion shapes."""

from __future__ import annotations

from typing import Any
import time

import orjson

from rin.errors import (
    ErrorTable,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    says_context_overflow,
    typed_upstream_error,
)
from rin.providers.base import json_object
from rin.types import SSEEvent, Usage

#: put between text blocks that other blocks (server tool calls, results) separate: joined bare,
#: "...at the same time!No worries" would read as one run-on sentence. Adjacent text blocks, as
#: citations produce, stay joined as they are.
TEXT_GAP = "\n\n"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

#: Anthropic's documented error types; the status is what a stream's `error` event would have had
_ERRORS: ErrorTable = {
    "invalid_request_error": (UpstreamBadRequest, 400),
    "request_too_large": (UpstreamBadRequest, 413),
    "authentication_error": (UpstreamAuthError, 401),
    "permission_error": (UpstreamAuthError, 403),
    # our account is out of credit: the deployment's problem, not the client's
    "billing_error": (UpstreamAuthError, 402),
    "not_found_error": (UpstreamNotFound, 404),
    "rate_limit_error": (UpstreamRateLimited, 429),
    "api_error": (UpstreamServerError, 500),
    "timeout_error": (UpstreamTimeout, 504),
    "overloaded_error": (UpstreamServerError, 529),
}


def error_from_envelope(
    status: int | None, data: dict[str, Any], *, retry_after: float | None = None, usage: Usage | None = None
) -> UpstreamError:
    """`{"type": "error", "error": {"type", "message"}}` as an UpstreamError. `status` is None for an
    error event inside a 200 stream, where the error type alone decides."""
    err = data.get("error")
    err = err if isinstance(err, dict) else {}
    kind = err.get("type") if isinstance(err.get("type"), str) else None
    said = err.get("message") or "no message"
    return typed_upstream_error(
        _ERRORS, kind, str(said), status, unknown_status=502, returned="Anthropic returned",
        overflow=kind == "invalid_request_error" and says_context_overflow(str(said)),
        refused=("Anthropic refused the API key configured for this model ({detail}); "
                 "check the key and account in the server's environment."),
        retry_after=retry_after, usage=usage)


def assistant_message(texts: list[str], tool_calls: list[dict[str, Any]], reasoning: list[str],
                      thinking_blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The OpenAI assistant message of a Claude answer (Anthropic's or Bedrock's): text, tool calls,
    and the thinking as `reasoning_content` plus its signed blocks, each only when present."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    return message


def message_json(body: bytes) -> dict[str, Any]:
    """A 2xx Messages API body, checked: a Message object, or the UpstreamError it carries instead."""
    data = json_object(body, "Anthropic answered")
    if data.get("type") == "error":
        raise error_from_envelope(None, data)
    if not isinstance(data.get("content"), list):
        raise UpstreamProtocolError("Anthropic answered without 'content'")
    return data


def parse_usage(raw: Any) -> Usage | None:
    """Anthropic counts cache reads and writes apart from `input_tokens`; OpenAI's prompt_tokens
    includes them. With server-side compaction the top level covers only the last iteration, so the
    `iterations` list, when present, is what was billed."""
    if not isinstance(raw, dict):
        return None
    iterations = raw.get("iterations")
    if iterations is None:  # the usual case, on every answer: no generator, no closure
        cache_read = int(raw.get("cache_read_input_tokens") or 0)
        cache_write = int(raw.get("cache_creation_input_tokens") or 0)
        prompt = int(raw.get("input_tokens") or 0) + cache_read + cache_write
        completion = int(raw.get("output_tokens") or 0)
        return Usage(prompt, completion, prompt + completion, cache_read, cache_write)
    parts = [it for it in iterations if isinstance(it, dict)] if isinstance(iterations, list) else []
    parts = parts or [raw]

    def total(key: str) -> int:
        return sum(int(part.get(key) or 0) for part in parts)

    cache_read = total("cache_read_input_tokens")
    cache_write = total("cache_creation_input_tokens")
    prompt = total("input_tokens") + cache_read + cache_write
    completion = total("output_tokens")
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 cached_tokens=cache_read, cache_write_tokens=cache_write)


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
    }


def chat_completion(data: dict[str, Any], usage: Usage | None, created: int) -> dict[str, Any]:
    """A Messages API response object as an OpenAI chat.completion (parsed)."""
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    gap = False
    for block in data.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text = block.get("text") or ""
            if text:
                if gap and texts:
                    texts.append(TEXT_GAP)
                texts.append(text)
                gap = False
            continue
        gap = True
        if kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            tool_calls.append({
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": arguments},
            })
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
            thinking_blocks.append(block)
        elif kind == "redacted_thinking":
            thinking_blocks.append(block)
        # server tools, their results and compaction summaries have no OpenAI equivalent
    message = assistant_message(texts, tool_calls, reasoning, thinking_blocks)
    body: dict[str, Any] = {
        "id": data.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": data.get("model"),
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": FINISH_REASONS.get(data.get("stop_reason") or "", "stop"),
            "logprobs": None,
        }],
    }
    if usage is not None:
        body["usage"] = usage_json(usage)
    return body


class AnthropicStreamParser:
    """Anthropic's named stream events as OpenAI `chat.completion.chunk` payloads."""

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self.usage_chunk: bytes | None = None
        self.done = False
        self.provider_model: str | None = None
        self._id = ""
        self._model = model
        self._created = int(time.time())
        self._raw_usage: dict[str, Any] = {}
        #: content block index -> OpenAI tool_calls index, for client tool_use blocks only
        self._tools: dict[int, int] = {}
        self._tool_has_args: dict[int, bool] = {}
        self._finished = False
        self._text_sent = False
        #: a non-text block came after text: the next text starts with TEXT_GAP
        self._gap = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"Anthropic sent a stream event that is not JSON: {event.data[:80]!r}"
            ) from None
        if not isinstance(data, dict):
            raise UpstreamProtocolError("Anthropic sent a stream event that is not a JSON object")
        kind = data.get("type") or event.event
        if kind == "message_start":
            return self._message_start(data.get("message") or {})
        if kind == "content_block_start":
            return self._block_start(data.get("index"), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(data.get("index"), data.get("delta") or {})
        if kind == "content_block_stop":
            return self._block_stop(data.get("index"))
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            return self._message_stop()
        if kind == "error":
            raise error_from_envelope(None, data, usage=self._current_usage())
        return []  # ping, and event types Anthropic may add later

    def finish(self) -> list[bytes]:
        if not self.done:
            raise UpstreamProtocolError(
                "Anthropic closed the stream before it finished (message_stop never came)",
                usage=self._current_usage(),
            )
        return []

    def _message_start(self, message: dict[str, Any]) -> list[bytes]:
        self._id = message.get("id") or self._id
        self.provider_model = message.get("model")
        self._model = self.provider_model or self._model
        self._merge_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, index: Any, block: dict[str, Any]) -> list[bytes]:
        kind = block.get("type")
        if kind == "tool_use":
            self._gap = self._text_sent
            position = self._tools[index] = len(self._tools)
            self._tool_has_args[index] = False
            return [self._chunk({"tool_calls": [{
                "index": position, "id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }]})]
        if kind == "text":
            return self._text(block.get("text"))
        self._gap = self._text_sent
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": block["thinking"]})]
        return []  # redacted thinking, server tools and their results, compaction

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[bytes]:
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(delta.get("text"))
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and index in self._tools and delta.get("partial_json"):
            self._tool_has_args[index] = True
            return [self._arguments(index, delta["partial_json"])]
        return []  # signatures, citations, server tool input, compaction summaries

    def _block_stop(self, index: Any) -> list[bytes]:
        if index in self._tools and not self._tool_has_args[index]:
            # a tool called without arguments: "" would not parse as JSON for the client
            self._tool_has_args[index] = True
            return [self._arguments(index, "{}")]
        return []

    def _message_delta(self, data: dict[str, Any]) -> list[bytes]:
        self._merge_usage(data.get("usage"))
        stop_reason = (data.get("delta") or {}).get("stop_reason")
        if not stop_reason or self._finished:
            return []
        self._finished = True
        return [self._chunk({}, FINISH_REASONS.get(stop_reason, "stop"))]

    def _message_stop(self) -> list[bytes]:
        self.done = True
        out = [] if self._finished else [self._chunk({}, "stop")]
        self._finished = True
        self.usage = self._current_usage()
        if self.usage is not None:
            self.usage_chunk = orjson.dumps({
                "id": self._id, "object": "chat.completion.chunk", "created": self._created,
                "model": self._model, "choices": [], "usage": usage_json(self.usage),
            })
        return out

    def _text(self, text: Any) -> list[bytes]:
        if not text:
            return []
        if self._gap:
            text = TEXT_GAP + text
            self._gap = False
        self._text_sent = True
        return [self._chunk({"content": text})]

    def _merge_usage(self, raw: Any) -> None:
        # message_delta counts are cumulative and may repeat or revise message_start's
        if isinstance(raw, dict):
            self._raw_usage.update({k: v for k, v in raw.items() if v is not None})

    def _current_usage(self) -> Usage | None:
        return parse_usage(self._raw_usage) if self._raw_usage else None

    def _arguments(self, index: int, fragment: str) -> bytes:
        call = {"index": self._tools[index], "function": {"arguments": fragment}}
        return self._chunk({"tool_calls": [call]})

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return orjson.dumps({
            "id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        })
