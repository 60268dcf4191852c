"""Anthropic's Messages wire format: message JSON, named SSE events, and error envelopes.

Shapes follow the transcripts anthropic_stream_* / anthropic_error_* in ../shared/fixtures and
Anthropic's API reference (errors: `{"type": "error", "error": {"type", "message"}, "request_id"}`;
529 overloaded_error; mid-stream `event: error`).

Extended thinking (transcript anthropic_stream_thinking_text): when the model name contains "think"
and the request enables `thinking`, the answer opens with a `thinking` block (text + `signature`;
streamed as thinking_delta events then one signature_delta). Thinking blocks sent back in assistant
turns must carry their signature intact: an empty or missing one, or one this fake issued for other
thinking text, answers 400 "messages.i.content.j: Invalid `signature` in `thinking` block".

`POST /v1/messages/count_tokens` answers `{"input_tokens": N}` with N the prompt token count the
messages endpoint reports for the same body (`prompt_tokens()`).
"""

from __future__ import annotations

import base64
import hashlib

import orjson

from .answer import Answer, decide, fragments, new_id, pieces, text_of, tokens
from .faults import Fault
from .wire import GARBAGE, JSON, Reply, StreamPlan, dumps, event

_STATUS_ERRORS = {  # status -> (error.type, message)
    400: ("invalid_request_error", "messages: at least one message is required"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    429: (
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit "
        "(https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. "
        "Please reduce the prompt length or the maximum tokens requested, or try again later.",
    ),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    529: ("overloaded_error", "Overloaded"),
}
_PING = event("ping", {"type": "ping"})
_SIGNATURE_TAG = b"rin-fake-thinking:"


def signature(thinking: str) -> str:
    """The signature this fake gives a thinking text (base64, as real signatures are)."""
    return base64.b64encode(_SIGNATURE_TAG + hashlib.blake2b(thinking.encode(), digest_size=24).digest()).decode()


def _valid_signature(block: dict) -> bool:
    """Non-empty; and, if this fake issued it, still matching the block's thinking text."""
    sig = block.get("signature")
    if not isinstance(sig, str) or not sig:
        return False
    try:
        raw = base64.b64decode(sig, validate=True)
    except ValueError:
        return True  # not one of ours: accepted, as any opaque signature the test supplies
    if not raw.startswith(_SIGNATURE_TAG):
        return True
    thinking = block.get("thinking")
    return isinstance(thinking, str) and sig == signature(thinking)


def thinking_enabled(body: dict) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _is_tool_result(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def _chars(content: object) -> int:
    if isinstance(content, list):  # tool_result blocks nest their own content
        return sum(_chars(b.get("content")) + len(b.get("text") or "") for b in content if isinstance(b, dict))
    return len(text_of(content))


def prompt_chars(body: dict) -> int:
    """The characters the fake counts as prompt: system plus message texts (and tool results)."""
    messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
    return _chars(body.get("system")) + sum(_chars(m.get("content")) for m in messages)


def prompt_tokens(body: dict) -> int:
    """The prompt tokens of a request: usage input_tokens + cache_read_input_tokens, and count_tokens' N."""
    return tokens(prompt_chars(body))


class AnthropicFormat:
    """Renders answers and faults the way api.anthropic.com does."""

    name = "anthropic"
    stream_content_type = "text/event-stream; charset=utf-8"

    def headers(self, content_type: str = JSON) -> dict[str, str]:
        return {"Content-Type": content_type, "request-id": new_id("req_011C")}

    def envelope(self, status: int, type_: str, message: str) -> Reply:
        body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": new_id("req_011C")}
        return Reply(status, dumps(body), self.headers())

    # requests

    def auth_error(self, headers: object) -> Reply | None:
        # API keys come as x-api-key, or (newer SDKs, OAuth tokens) as `Authorization: Bearer`.
        key = headers.get("x-api-key") or headers.get("Authorization")  # type: ignore[attr-defined]
        if not key:
            return self.envelope(401, "authentication_error", "x-api-key header is required")
        if key in ("bad-key", "Bearer bad-key"):
            return self.envelope(401, "authentication_error", "invalid x-api-key")
        return None

    def bad_request(self, message: str) -> Reply:
        return self.envelope(400, "invalid_request_error", message)

    def validate_chat(self, headers: object, body: dict | None) -> Reply | None:
        if not headers.get("anthropic-version"):  # type: ignore[attr-defined]
            return self.envelope(400, "invalid_request_error", "anthropic-version: header is required")
        if body is None:
            return self.envelope(400, "invalid_request_error", "There was an issue with your request body: invalid JSON")
        for name in ("model", "messages", "max_tokens"):
            if name not in body:
                return self.envelope(400, "invalid_request_error", f"{name}: Field required")
        if not isinstance(body["model"], str):
            return self.envelope(400, "invalid_request_error", "model: Input should be a valid string")
        return self.check_thinking(body)

    def check_thinking(self, body: dict) -> Reply | None:
        """Thinking blocks in assistant turns must come back with their signature."""
        messages = body.get("messages")
        for i, message in enumerate(messages if isinstance(messages, list) else ()):
            if not isinstance(message, dict) or message.get("role") != "assistant":
                continue
            content = message.get("content")
            for j, block in enumerate(content if isinstance(content, list) else ()):
                if isinstance(block, dict) and block.get("type") == "thinking" and not _valid_signature(block):
                    return self.bad_request(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
        return None

    def validate_count(self, headers: object, body: dict | None) -> Reply | None:
        """count_tokens: as messages, without max_tokens."""
        if not headers.get("anthropic-version"):  # type: ignore[attr-defined]
            return self.envelope(400, "invalid_request_error", "anthropic-version: header is required")
        if body is None:
            return self.envelope(400, "invalid_request_error", "There was an issue with your request body: invalid JSON")
        for name in ("model", "messages"):
            if name not in body:
                return self.envelope(400, "invalid_request_error", f"{name}: Field required")
        if not isinstance(body["model"], str):
            return self.envelope(400, "invalid_request_error", "model: Input should be a valid string")
        return self.check_thinking(body)

    def count_tokens(self, body: dict) -> Reply:
        return Reply(200, dumps({"input_tokens": prompt_tokens(body)}), self.headers())

    def decide(self, body: dict) -> Answer:
        model = body["model"]
        messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
        last_user = next(
            (text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user" and not _is_tool_result(m)),
            "",
        )
        tool = None
        tools = body.get("tools")
        last = messages[-1] if messages else {}
        if tools and "tool" in model and last.get("role") == "user" and not _is_tool_result(last):
            first = next((t for t in tools if isinstance(t, dict) and t.get("name")), None)
            if first:
                tool = (first["name"], first.get("input_schema") or {})
        answer = decide(model, prompt_chars(body), last_user, tool, body.get("max_tokens"), tool_id_prefix="toolu_")
        if "think" in model and thinking_enabled(body):
            answer.thinking = f"The user wrote {last_user[:40]!r}. I should answer briefly."
            answer.completion_tokens += tokens(len(answer.thinking))
        return answer

    # successful answers

    def usage(self, a: Answer) -> dict:
        return {
            "input_tokens": a.prompt_tokens - a.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": a.cached_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": a.completion_tokens,
            "service_tier": "standard",
        }

    def stop_reason(self, a: Answer) -> str:
        return "tool_use" if a.tool else "max_tokens" if a.truncated else "end_turn"

    def message_obj(self, a: Answer, content: list, stop_reason: str | None, usage: dict) -> dict:
        return {
            "id": new_id("msg_01"),
            "type": "message",
            "role": "assistant",
            "model": a.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def completion(self, a: Answer, body: dict | None = None) -> Reply:
        blocks = []
        if a.thinking:
            blocks.append({"type": "thinking", "thinking": a.thinking, "signature": signature(a.thinking)})
        if a.tool:
            blocks.append({"type": "tool_use", "id": a.tool.id, "name": a.tool.name, "input": orjson.loads(a.tool.arguments)})
        else:
            blocks.append({"type": "text", "text": a.text})
        return Reply(200, dumps(self.message_obj(a, blocks, self.stop_reason(a), self.usage(a))), self.headers())

    def stream(self, a: Answer, body: dict) -> StreamPlan:
        """message_start, content_block_start, ping, deltas, content_block_stop, message_delta, message_stop.

        With thinking, a thinking block (thinking_delta events, then one signature_delta) comes first.
        """
        start_usage = dict(self.usage(a), output_tokens=1)
        frames = [event("message_start", {"type": "message_start", "message": self.message_obj(a, [], None, start_usage)})]
        blocks: list[tuple[dict, list[dict]]] = []
        if a.thinking:
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(a.thinking)]
            deltas.append({"type": "signature_delta", "signature": signature(a.thinking)})
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
        if a.tool:
            block = {"type": "tool_use", "id": a.tool.id, "name": a.tool.name, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in ["", *fragments(a.tool.arguments)]]
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in pieces(a.text)]
        blocks.append((block, deltas))
        cut = 0
        for index, (block, deltas) in enumerate(blocks):
            start = {"type": "content_block_start", "index": index, "content_block": block}
            frames.append(event("content_block_start", start))
            if index == 0:
                frames.append(_PING)
                cut = len(frames) + 2
            for delta in deltas:
                frames.append(event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            frames.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
        usage = self.usage(a)
        counts = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        final_usage = {k: usage[k] for k in counts}
        delta = {"stop_reason": self.stop_reason(a), "stop_sequence": None}
        frames.append(event("message_delta", {"type": "message_delta", "delta": delta, "usage": final_usage}))
        frames.append(event("message_stop", {"type": "message_stop"}))
        return StreamPlan(frames, cut)

    # faults

    def stream_error(self, a: Answer) -> bytes:
        error = {"type": "overloaded_error", "message": "Overloaded"}
        return event("error", {"type": "error", "error": error, "request_id": new_id("req_011C")})

    def error_in_body(self, model: str) -> Reply:
        return self.envelope(200, "overloaded_error", "Overloaded")

    def garbage_stream(self) -> bytes:
        return b"event: message_start\ndata: " + GARBAGE.replace(b"\r\n", b"") + b"\n\n"

    def error(self, fault: Fault, model: str) -> Reply:
        if fault.kind == "ctx-overflow":
            return self.envelope(400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum")
        if fault.kind == "content-policy":
            return self.envelope(400, "invalid_request_error", "Output blocked by content filtering policy")
        type_, message = _STATUS_ERRORS.get(fault.status, _STATUS_ERRORS[500])
        reply = self.envelope(fault.status, type_, message)
        if fault.status == 429:
            reply.headers["retry-after"] = str(fault.retry_after)
            reply.headers["anthropic-ratelimit-requests-limit"] = "50"
            reply.headers["anthropic-ratelimit-requests-remaining"] = "0"
        return reply

    def not_found(self, method: str, path: str) -> Reply:
        return self.envelope(404, "not_found_error", "Not Found")
