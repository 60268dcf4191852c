"""Gemini answers (GenerateContentResponse, its SSE stream, Google error envelopes) in OpenAI's shapes.

A blocked prompt (`promptFeedback.blockReason`) or an answer stopped for safety, recitation or a
blocklist raises ContentPolicyViolation, so content_policy_fallbacks apply. Thinking tokens are
billed as output: they are added to completion_tokens and reported as reasoning_tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
import secrets
import time

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
    upstream_error_for_status,
)
from rin.providers.base import json_object
from rin.providers.openai import parse_retry_after
from rin.types import SSEEvent, Usage

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "MALFORMED_FUNCTION_CALL": "stop",
                  "UNEXPECTED_TOOL_CALL": "stop", "OTHER": "stop", "FINISH_REASON_UNSPECIFIED": "stop"}

#: finish reasons that mean the answer was withheld by a filter
BLOCKED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
                     "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})

#: google.rpc status codes (the envelope's `status`) as error classes
_STATUSES: dict[str, type[UpstreamError]] = {
    "INVALID_ARGUMENT": UpstreamBadRequest,
    "OUT_OF_RANGE": UpstreamBadRequest,
    "FAILED_PRECONDITION": UpstreamAuthError,  # billing not enabled, region not served: our side
    "UNAUTHENTICATED": UpstreamAuthError,
    "PERMISSION_DENIED": UpstreamAuthError,
    "NOT_FOUND": UpstreamNotFound,
    "RESOURCE_EXHAUSTED": UpstreamRateLimited,
    "INTERNAL": UpstreamServerError,
    "UNAVAILABLE": UpstreamServerError,
    "UNKNOWN": UpstreamServerError,
    "DEADLINE_EXCEEDED": UpstreamTimeout,
}

#: google.rpc.ErrorInfo reasons that mean the configured key is wrong (Google answers 400 for them)
_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})

#: Google gives an oversized prompt no code of its own: INVALID_ARGUMENT with this message
_TOO_MANY_TOKENS = "exceeds the maximum number of tokens"


def classify_error(status: int, headers: Mapping[str, str], body: bytes, service: str = "Gemini") -> UpstreamError:
    """A non-2xx Google answer, `{"error": {"code", "message", "status", "details"}}` (the
    OpenAI-compatible endpoint wraps it in a list), as an UpstreamError. `service` names the API
    in messages (Vertex AI answers in the same envelope)."""
    retry_after = parse_retry_after(headers)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, list) and data:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        text = body[:200].decode("utf-8", "replace").strip()
        message = f"{service} returned HTTP {status}" + (f": {text}" if text else "")
        return upstream_error_for_status(status, message, retry_after=retry_after)
    kind = err.get("status") if isinstance(err.get("status"), str) else None
    said = str(err.get("message") or "no message")
    details = [d for d in err.get("details") or () if isinstance(d, dict)]
    reasons = {d.get("reason") for d in details if d.get("@type", "").endswith("google.rpc.ErrorInfo")}
    delay = next((_seconds(d.get("retryDelay")) for d in details
                  if d.get("@type", "").endswith("google.rpc.RetryInfo")), None)
    retry_after = retry_after if retry_after is not None else delay
    detail = f"HTTP {status} {kind or 'error'}: {said}"
    cls = _STATUSES.get(kind or "")
    if reasons & _KEY_REASONS:
        cls = UpstreamAuthError
    if cls is UpstreamAuthError:
        message = (f"{service} refused the credentials or project configured for this model ({detail}); "
                   "check the API key or service account, and the project, in the server's config.")
        return UpstreamAuthError(message, upstream_status=status)
    message = f"{service} returned {detail}"
    if kind == "INVALID_ARGUMENT" and _TOO_MANY_TOKENS in said:
        return ContextWindowExceeded(message, upstream_status=status)
    if cls is None:
        return upstream_error_for_status(status, message, retry_after=retry_after)
    return cls(message, upstream_status=status, retry_after=retry_after)


def _seconds(delay: Any) -> float | None:
    """A google.protobuf.Duration in JSON ("13s", "0.5s") as seconds."""
    if not isinstance(delay, str) or not delay.endswith("s"):
        return None
    try:
        return float(delay[:-1])
    except ValueError:
        return None


def response_json(body: bytes) -> dict[str, Any]:
    data = json_object(body, "Gemini answered")
    if isinstance(data.get("error"), dict):
        code = data["error"].get("code")
        raise classify_error(code if isinstance(code, int) else 500, {}, body)
    return data


def parse_usage(raw: Any) -> Usage | None:
    """usageMetadata: promptTokenCount includes cached tokens; thoughts are billed as output."""
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("promptTokenCount") or 0) + int(raw.get("toolUsePromptTokenCount") or 0)
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    completion = int(raw.get("candidatesTokenCount") or 0) + thoughts
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 cached_tokens=int(raw.get("cachedContentTokenCount") or 0), reasoning_tokens=thoughts)


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def check_blocked(data: dict[str, Any], usage: Usage | None = None) -> None:
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if reason:
        raise ContentPolicyViolation(f"Gemini blocked the prompt (blockReason {reason}).",
                                     upstream_status=200, usage=usage)
    for candidate in _candidates(data):
        finish = candidate.get("finishReason")
        if finish in BLOCKED:
            raise ContentPolicyViolation(f"Gemini withheld the answer (finishReason {finish}).",
                                         upstream_status=200, usage=usage)


def _candidates(data: dict[str, Any]) -> list[dict[str, Any]]:
    candidates = data.get("candidates")
    return [c for c in candidates if isinstance(c, dict)] if isinstance(candidates, list) else []


#: joins a tool call's id and the thought signature Gemini attached to the call: the id is what every
#: client sends back in the next turn, and Gemini 3 refuses a replayed call without its signature
SIGNATURE_MARK = "__thought__"


def _split_parts(parts: Any) -> tuple[str, str, list[tuple[str, Any, str | None, str | None]]]:
    """(text, thoughts, [(function name, args, id, thought signature)]) of a candidate's parts."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[tuple[str, Any, str | None, str | None]] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        call = part.get("functionCall")
        if isinstance(call, dict):
            call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
            signature = part.get("thoughtSignature")
            calls.append((str(call.get("name") or ""), call.get("args") or {}, call_id,
                          signature if isinstance(signature, str) and signature else None))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
    return "".join(texts), "".join(thoughts), calls


def new_call_id() -> str:
    """An id for a call Gemini gave none: unique in the conversation, as OpenAI's are (a history
    with the same id twice is refused by Anthropic, and confuses clients that key results by it)."""
    return f"call_{secrets.token_hex(12)}"


def tool_call(name: str, args: Any, call_id: str, signature: str | None) -> dict[str, Any]:
    """An OpenAI tool call; Gemini's thought signature rides in its id (and, as Google's own
    OpenAI-compatible endpoint puts it, in `extra_content.google.thought_signature`)."""
    call: dict[str, Any] = {"id": call_id, "type": "function",
                            "function": {"name": name, "arguments": orjson.dumps(args).decode()}}
    if signature:
        call["id"] = call_id + SIGNATURE_MARK + signature
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return call


def _finish(reason: Any, has_calls: bool) -> str:
    if has_calls:
        return "tool_calls"
    return FINISH_REASONS.get(reason or "", "stop")


def chat_completion(data: dict[str, Any], model: str, created: int) -> tuple[dict[str, Any], Usage | None]:
    """A GenerateContentResponse as an OpenAI chat.completion (parsed) and its usage."""
    usage = parse_usage(data.get("usageMetadata"))
    check_blocked(data, usage)
    candidates = _candidates(data)
    if not candidates:
        raise UpstreamProtocolError("Gemini answered without candidates", usage=usage)
    choices = []
    n_calls = 0
    for position, candidate in enumerate(candidates):
        text, thoughts, calls = _split_parts((candidate.get("content") or {}).get("parts"))
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = []
            for name, args, call_id, signature in calls:
                n_calls += 1
                message["tool_calls"].append(tool_call(name, args, call_id or new_call_id(), signature))
        if thoughts:
            message["reasoning_content"] = thoughts
        index = candidate.get("index")
        choices.append({"index": index if isinstance(index, int) else position, "message": message,
                        "finish_reason": _finish(candidate.get("finishReason"), bool(calls)), "logprobs": None})
    body: dict[str, Any] = {
        "id": data.get("responseId") or f"chatcmpl-{created}",
        "object": "chat.completion",
        "created": created,
        "model": data.get("modelVersion") or model,
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage_json(usage)
    return body, usage


def embeddings_json(body: bytes, model: str) -> tuple[bytes, Usage | None]:
    """batchEmbedContents' `{"embeddings": [{"values": [...]}]}` as an OpenAI embeddings list."""
    data = response_json(body)
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list):
        raise UpstreamProtocolError("Gemini answered batchEmbedContents without 'embeddings'")
    items = [{"object": "embedding", "index": i, "embedding": (e or {}).get("values") or []}
             for i, e in enumerate(embeddings)]
    out = {"object": "list", "data": items, "model": model,
           "usage": {"prompt_tokens": 0, "total_tokens": 0}}  # Google reports no token counts here
    return orjson.dumps(out), None


class GeminiStreamParser:
    """streamGenerateContent?alt=sse: each event is a whole GenerateContentResponse carrying the
    next piece; the one with a finishReason (and the final usageMetadata) ends the answer."""

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self.usage_chunk: bytes | None = None
        self.done = False
        self.provider_model: str | None = None
        self._id = ""
        self._model = model
        self._created = int(time.time())
        self._started = False
        self._calls = 0

    def feed(self, event: SSEEvent) -> list[bytes]:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(f"Gemini sent a stream event that is not JSON: {event.data[:80]!r}") from None
        if isinstance(data, list) and data:
            data = data[0]
        if not isinstance(data, dict):
            raise UpstreamProtocolError("Gemini sent a stream event that is not a JSON object")
        if isinstance(data.get("error"), dict):
            code = data["error"].get("code")
            error = classify_error(code if isinstance(code, int) else 500, {}, orjson.dumps(data))
            error.usage = self.usage
            raise error
        if data.get("usageMetadata") is not None:
            self.usage = parse_usage(data["usageMetadata"])
        check_blocked(data, self.usage)
        self._id = self._id or data.get("responseId") or f"chatcmpl-{self._created}"
        if data.get("modelVersion"):
            self.provider_model = self._model = data["modelVersion"]
        out: list[bytes] = []
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        candidates = _candidates(data)
        candidate = candidates[0] if candidates else {}
        text, thoughts, calls = _split_parts((candidate.get("content") or {}).get("parts"))
        if thoughts:
            out.append(self._chunk({"reasoning_content": thoughts}))
        if text:
            out.append(self._chunk({"content": text}))
        for name, args, call_id, signature in calls:
            self._calls += 1
            call = tool_call(name, args, call_id or new_call_id(), signature)
            out.append(self._chunk({"tool_calls": [{"index": self._calls - 1, **call}]}))
        reason = candidate.get("finishReason")
        if reason:
            self.done = True
            out.append(self._chunk({}, _finish(reason, self._calls > 0)))
            if self.usage is not None:
                self.usage_chunk = orjson.dumps({
                    "id": self._id, "object": "chat.completion.chunk", "created": self._created,
                    "model": self._model, "choices": [], "usage": usage_json(self.usage),
                })
        return out

    def finish(self) -> list[bytes]:
        if not self.done:
            raise UpstreamProtocolError("Gemini closed the stream before a finishReason came", usage=self.usage)
        return []

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return orjson.dumps({
            "id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        })
