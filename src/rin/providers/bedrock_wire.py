"""Bedrock's answers in OpenAI's shapes: Converse JSON, the ConverseStream event stream, errors,
Titan and Cohere embeddings.

Errors are classified by their type, which Bedrock puts in the `x-amzn-ErrorType` header
(`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`), in `__type` in some
bodies, and in `:exception-type` inside a stream (there in lower camel case). A prompt too long for
the model has no type of its own: it is a ValidationException whose message says so, the one place
the text decides. A stop for a guardrail or a content filter raises ContentPolicyViolation, so
content_policy_fallbacks apply.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import orjson

from rin.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    says_context_overflow,
    upstream_error_for_status,
)
from rin.providers.anthropic_response import usage_json
from rin.providers.openai import parse_retry_after
from rin.types import SSEEvent, Usage

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length",
                  "model_context_window_exceeded": "length"}
#: stop reasons that mean the answer was withheld
BLOCKED = frozenset({"guardrail_intervened", "content_filtered"})

#: Bedrock's error types (bedrock-runtime's API reference) and the status each comes with
ERRORS: dict[str, tuple[type[UpstreamError], int]] = {
    "ValidationException": (UpstreamBadRequest, 400),
    "ConflictException": (UpstreamBadRequest, 400),
    "ResourceNotFoundException": (UpstreamNotFound, 404),
    "ThrottlingException": (UpstreamRateLimited, 429),
    "ServiceQuotaExceededException": (UpstreamRateLimited, 400),
    "ModelNotReadyException": (UpstreamServerError, 429),
    "ModelTimeoutException": (UpstreamTimeout, 408),
    "ModelErrorException": (UpstreamServerError, 424),
    "ModelStreamErrorException": (UpstreamServerError, 424),
    "InternalServerException": (UpstreamServerError, 500),
    "ServiceUnavailableException": (UpstreamServerError, 503),
    # our side: the deployment's credentials or its account's access to the model
    "AccessDeniedException": (UpstreamAuthError, 403),
    "UnrecognizedClientException": (UpstreamAuthError, 403),
    "InvalidSignatureException": (UpstreamAuthError, 403),
    "IncompleteSignatureException": (UpstreamAuthError, 403),
    "MissingAuthenticationTokenException": (UpstreamAuthError, 403),
    "ExpiredTokenException": (UpstreamAuthError, 403),
}
#: how Bedrock's models say a prompt does not fit, beyond the phrases rin.errors knows
_TOO_LONG = ("too many input tokens", "too many tokens", "expected maxlength")


def classify_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """A non-2xx Bedrock answer: `{"message": ...}` with the type in `x-amzn-ErrorType`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    data = data if isinstance(data, dict) else {}
    kind = headers.get("x-amzn-errortype", "").split(":", 1)[0] or str(data.get("__type") or "").rpartition("#")[2]
    said = data.get("message") or data.get("Message")
    if not said:
        said = body[:200].decode("utf-8", "replace").strip() or "no message"
    return error_of(kind, str(said), status, parse_retry_after(headers))


def error_of(kind: str, said: str, status: int | None, retry_after: float | None = None,
             usage: Usage | None = None) -> UpstreamError:
    """An error of Bedrock type `kind` (ThrottlingException, ...). `status` is None inside a
    stream, where the type's usual status is reported."""
    known = ERRORS.get(kind)
    upstream_status = status or (known[1] if known else 500)
    detail = f"HTTP {upstream_status} {kind or 'error'}: {said}"
    if known and known[0] is UpstreamAuthError:
        message = (f"AWS refused the credentials configured for this Bedrock model ({detail}); check the "
                   "deployment's AWS keys, profile or role, and its access to the model.")
    else:
        message = f"Bedrock returned {detail}"
    error: UpstreamError
    if kind == "ValidationException" and (says_context_overflow(said) or any(p in said.lower() for p in _TOO_LONG)):
        error = ContextWindowExceeded(message, upstream_status=upstream_status)
    elif known:
        error = known[0](message, upstream_status=upstream_status, retry_after=retry_after)
    else:
        error = upstream_error_for_status(upstream_status, message, retry_after=retry_after)
    error.usage = usage
    return error


def response_json(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Bedrock answered with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamProtocolError("Bedrock answered with JSON that is not an object")
    return data


def parse_usage(raw: Any) -> Usage | None:
    """Converse counts prompt-cache reads and writes apart from inputTokens; OpenAI's
    prompt_tokens includes them."""
    if not isinstance(raw, dict):
        return None
    read = int(raw.get("cacheReadInputTokens") or 0)
    write = int(raw.get("cacheWriteInputTokens") or 0)
    prompt = int(raw.get("inputTokens") or 0) + read + write
    completion = int(raw.get("outputTokens") or 0)
    return Usage(prompt, completion, prompt + completion, read, write)


def _check_stop(stop: Any, usage: Usage | None) -> None:
    if stop in BLOCKED:
        raise ContentPolicyViolation(f"Bedrock withheld the answer (stopReason {stop}).",
                                     upstream_status=200, usage=usage)


def new_id() -> str:
    """Converse answers carry no id: one in OpenAI's style."""
    return "chatcmpl-" + os.urandom(12).hex()


def chat_completion(
    data: dict[str, Any], model: str, created: int, json_tool: str | None = None
) -> tuple[dict[str, Any], Usage | None]:
    """A Converse response as an OpenAI chat.completion (parsed) and its usage. A call of
    `json_tool` (bedrock_request.JSON_TOOL, for response_format json_schema) is the answer itself."""
    usage = parse_usage(data.get("usage"))
    _check_stop(data.get("stopReason"), usage)
    output = data.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise UpstreamProtocolError("Bedrock answered without output.message.content", usage=usage)
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict) and block["toolUse"].get("name") == json_tool:
            texts.append(orjson.dumps(block["toolUse"].get("input") or {}).decode())
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            tool_calls.append({"id": use.get("toolUseId"), "type": "function", "function": {
                "name": use.get("name"), "arguments": orjson.dumps(use.get("input") or {}).decode()}})
        elif isinstance(block.get("reasoningContent"), dict):
            _reasoning(block["reasoningContent"], reasoning, thinking_blocks)
    out_message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        out_message["tool_calls"] = tool_calls
    if reasoning:
        out_message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        out_message["thinking_blocks"] = thinking_blocks
    finish = "tool_calls" if tool_calls else FINISH_REASONS.get(data.get("stopReason") or "", "stop")
    if finish == "tool_calls" and not tool_calls:
        finish = "stop"  # the json_tool call that carried the answer
    body: dict[str, Any] = {
        "id": new_id(), "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": out_message, "finish_reason": finish, "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage_json(usage)
    return body, usage


def _reasoning(block: dict[str, Any], texts: list[str], blocks: list[dict[str, Any]]) -> None:
    text = block.get("reasoningText")
    if isinstance(text, dict):
        texts.append(text.get("text") or "")
        thinking: dict[str, Any] = {"type": "thinking", "thinking": text.get("text") or ""}
        if text.get("signature"):
            thinking["signature"] = text["signature"]
        blocks.append(thinking)
    elif block.get("redactedContent"):
        blocks.append({"type": "redacted_thinking", "data": block["redactedContent"]})


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
        _check_stop(stop, self.usage)
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


def embeddings_json(data: dict[str, Any], model: str) -> tuple[bytes, Usage | None]:
    """Titan's `{"embedding", "inputTextTokenCount"}` or Cohere's `{"embeddings": [[...]] or
    {"float": [[...]]}}` as an OpenAI embeddings list."""
    if isinstance(data.get("embedding"), list):
        vectors, tokens = [data["embedding"]], data.get("inputTextTokenCount")
    else:
        found = data.get("embeddings")
        vectors = found.get("float") if isinstance(found, dict) else found
        billed = (data.get("meta") or {}).get("billed_units") if isinstance(data.get("meta"), dict) else None
        tokens = billed.get("input_tokens") if isinstance(billed, dict) else None
    if not isinstance(vectors, list):
        raise UpstreamProtocolError("Bedrock answered an embeddings request without embeddings")
    usage = Usage(int(tokens), 0, int(tokens)) if isinstance(tokens, int) else None
    out = {"object": "list", "model": model,
           "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
           "usage": {"prompt_tokens": usage.prompt_tokens if usage else 0,
                     "total_tokens": usage.total_tokens if usage else 0}}
    return orjson.dumps(out), usage
