"""Bedrock's answers in OpenAI's shapes: a Converse response as a chat.completion, Titan and Cohere
embeddings as an embeddings list, and what the stream (`bedrock_stream`) shares with them (usage,
finish reasons, ids).

A stop for a guardrail or a content filter raises ContentPolicyViolation, so content_policy_fallbacks
apply. Errors are classified in `bedrock_errors`.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from rin.errors import ContentPolicyViolation, UpstreamProtocolError
from rin.providers.anthropic_response import assistant_message, usage_json
from rin.providers.base import json_object
from rin.types import Usage

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length",
                  "model_context_window_exceeded": "length"}
#: stop reasons that mean the answer was withheld
BLOCKED = frozenset({"guardrail_intervened", "content_filtered"})


def response_json(body: bytes) -> dict[str, Any]:
    data = json_object(body, "Bedrock answered")
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


def check_stop(stop: Any, usage: Usage | None) -> None:
    """Raise ContentPolicyViolation when `stop` says the answer was withheld."""
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
    check_stop(data.get("stopReason"), usage)
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
    out_message = assistant_message(texts, tool_calls, reasoning, thinking_blocks)
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



def embeddings_json(data: dict[str, Any], model: str) -> tuple[bytes, Usage | None]:
    """Titan's `{"embedding", "inputTextTokenCount"}` or Cohere's `{"embeddings": [[...]] or
    {"float": [[...]]}, "texts": [...]}` as an OpenAI embeddings list (Cohere's tokens estimated
    from its texts when it gives no count)."""
    if isinstance(data.get("embedding"), list):
        vectors, tokens = [data["embedding"]], data.get("inputTextTokenCount")
    else:
        found = data.get("embeddings")
        vectors = found.get("float") if isinstance(found, dict) else found
        billed = (data.get("meta") or {}).get("billed_units") if isinstance(data.get("meta"), dict) else None
        tokens = billed.get("input_tokens") if isinstance(billed, dict) else None
        texts = data.get("texts")
        if tokens is None and isinstance(texts, list):  # Bedrock's Cohere answer has no count, but
            # echoes the texts: about four characters a token, never a silent zero
            tokens = sum(max(1, len(t) // 4) for t in texts if isinstance(t, str))
    if not isinstance(vectors, list):
        raise UpstreamProtocolError("Bedrock answered an embeddings request without embeddings")
    usage = Usage(int(tokens), 0, int(tokens)) if isinstance(tokens, int) else None
    out = {"object": "list", "model": model,
           "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
           "usage": {"prompt_tokens": usage.prompt_tokens if usage else 0,
                     "total_tokens": usage.total_tokens if usage else 0}}
    return orjson.dumps(out), usage
