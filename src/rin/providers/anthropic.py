"""Anthropic's Messages API behind RIN's OpenAI-shaped requests and answers.

Requests are rebuilt field by field from the OpenAI body: keys Anthropic has no use for (seed,
logit_bias, penalties, logprobs, stream_options, ...) are left out rather than forwarded to be
rejected. Answers are translated in `anthropic_response`, messages in `anthropic_messages`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
import time

import orjson

from rin.errors import InvalidRequest, UpstreamError, upstream_error_for_status
from rin.params import effective_body, thinking_budget
from rin.providers.anthropic_messages import translate_messages
from rin.providers.anthropic_native import AnthropicMessagesNative, check_temperature
from rin.providers.anthropic_response import (
    AnthropicStreamParser,
    chat_completion,
    error_from_envelope,
    message_json,
    parse_usage,
)
from rin.providers.openai import parse_retry_after
from rin.types import ChatRequest, ChatResult, Deployment, UpstreamRequest, Usage

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

#: Anthropic-native request fields a client may send through RIN unchanged
_NATIVE_FIELDS = ("top_p", "top_k", "output_config", "context_management", "container", "mcp_servers",
                  "cache_control")

#: reasoning_effort as Claude's extended-thinking budget in tokens (the minimum is 1024), on Anthropic's
#: API and on Bedrock alike
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}

#: sampling settings Anthropic refuses alongside extended thinking
_NOT_WITH_THINKING = ("temperature", "top_k", "top_p")


class AnthropicAdapter:
    name = "anthropic"

    def build_chat(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        body = effective_body(req, dep)
        out = translate_body(body, req, dep)
        if req.stream:
            out["stream"] = True
        url = messages_url(dep.api_base)
        return UpstreamRequest("POST", url, headers(dep), orjson.dumps(out), req.stream)

    def parse_chat(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        data = message_json(body)
        usage = parse_usage(data.get("usage"))
        chat = chat_completion(data, usage, int(time.time()))
        return ChatResult(orjson.dumps(chat), usage, data.get("model"), chat)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> AnthropicStreamParser:
        return AnthropicStreamParser(dep.provider_model)

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        return None  # Anthropic has no audio, image or rerank API

    def native(self, endpoint: str, dep: Deployment) -> AnthropicMessagesNative | None:
        """Anthropic speaks the Messages API: such requests pass through untranslated."""
        return _NATIVE if endpoint == "messages" else None

    def build_embeddings(self, body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
        raise _no_embeddings(dep)

    def parse_embeddings(self, body: bytes, dep: Deployment) -> tuple[bytes, Usage | None]:
        raise _no_embeddings(dep)

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        retry_after = parse_retry_after(headers)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return error_from_envelope(status, data, retry_after=retry_after)
        # e.g. the 413 Cloudflare sends before a request reaches Anthropic
        text = body[:200].decode("utf-8", "replace").strip()
        said = f": {text}" if text else ""
        message = f"Anthropic returned HTTP {status}{said}"
        return upstream_error_for_status(status, message, retry_after=retry_after)


def messages_url(api_base: str) -> str:
    base = api_base.rstrip("/")
    if base.endswith("/v1/messages"):
        return base
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


def headers(dep: Deployment) -> dict[str, str]:
    out = {"anthropic-version": API_VERSION, "content-type": "application/json"}
    if dep.api_key:
        out["x-api-key"] = dep.api_key.get()
    out.update(dep.extra_headers)
    return out


_NATIVE = AnthropicMessagesNative(headers, messages_url)


def translate_body(body: dict[str, Any], req: ChatRequest, dep: Deployment) -> dict[str, Any]:
    """The Messages API request body for an OpenAI chat body (deployment defaults already merged)."""
    check_temperature(body)
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("Anthropic models return one choice per request: 'n' must be 1.", param="n")
    system, messages = translate_messages(body.get("messages"))
    max_tokens, explicit = _max_tokens(req.body, body, dep)
    out: dict[str, Any] = {"model": body["model"], "messages": messages, "max_tokens": max_tokens}
    if system is not None:
        out["system"] = system
    if body.get("temperature") is not None:
        out["temperature"] = body["temperature"]
    for key in _NATIVE_FIELDS:
        if body.get(key) is not None:
            out[key] = body[key]
    _one_of_temperature_and_top_p(out, req.body)
    stop = _stop_sequences(body.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    user = body.get("user") or req.user
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    _add_tools(out, body)
    _add_response_format(out, body.get("response_format"))
    _add_thinking(out, body, req.body, dep, explicit)
    return out


def _max_tokens(asked: dict[str, Any], body: dict[str, Any], dep: Deployment) -> tuple[int, bool]:
    """Anthropic requires max_tokens. The request's own value wins, then the deployment's default,
    then the model's output limit. The flag says whether anyone chose the number."""
    for source in (asked, body):
        for key in ("max_completion_tokens", "max_tokens"):
            if source.get(key) is not None:
                return int(body[key]), True
    return dep.info.max_output_tokens or DEFAULT_MAX_TOKENS, False


def _one_of_temperature_and_top_p(out: dict[str, Any], asked: dict[str, Any]) -> None:
    """Current Claude models refuse temperature and top_p together ("use only one"), and configs
    commonly default both (the RIN guide's 0.7 and 1.0). Keep the one the client chose; when it
    chose both or neither, keep temperature."""
    if "temperature" in out and "top_p" in out:
        if "top_p" in asked and "temperature" not in asked:
            del out["temperature"]
        else:
            del out["top_p"]


def _stop_sequences(stop: Any) -> list[str]:
    if stop is None:
        return []
    items = [stop] if isinstance(stop, str) else stop
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise InvalidRequest("'stop' must be a string or a list of strings.", param="stop")
    return [s for s in items if s]


def _add_tools(out: dict[str, Any], body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if not tools:
        return
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    out["tools"] = [_tool(tool, i) for i, tool in enumerate(tools)]
    choice = _tool_choice(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice:
        out["tool_choice"] = choice


def _tool(tool: Any, i: int) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise InvalidRequest(f"tools[{i}] must be an object.", param="tools")
    if tool.get("type") != "function":
        return tool  # an Anthropic tool definition, e.g. a server tool like web_search
    fn = tool.get("function")
    if not isinstance(fn, dict) or not fn.get("name"):
        raise InvalidRequest(f"tools[{i}] is a function tool without function.name.", param="tools")
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    out["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
    if "cache_control" in tool:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    simple = {"auto": "auto", "none": "none", "required": "any"}
    if isinstance(choice, str) and choice in simple:
        return {"type": simple[choice]}
    if isinstance(choice, dict):
        fn = choice.get("function")
        if choice.get("type") == "function" and isinstance(fn, dict) and fn.get("name"):
            return {"type": "tool", "name": fn["name"]}
        if choice.get("type") in ("auto", "any", "tool", "none"):
            return dict(choice)
    raise InvalidRequest(
        "'tool_choice' must be 'auto', 'none', 'required' or {\"type\": \"function\", "
        "\"function\": {\"name\": ...}}.",
        param="tool_choice",
    )


def _add_response_format(out: dict[str, Any], response_format: Any) -> None:
    """json_schema becomes Anthropic's structured output; json_object and text have no counterpart
    (the prompt has to ask for JSON), so they are left out."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequest("response_format.json_schema.schema must be an object.", param="response_format")
    config = dict(out.get("output_config") or {})
    config.setdefault("format", {"type": "json_schema", "schema": schema})
    out["output_config"] = config


def _add_thinking(
    out: dict[str, Any], body: dict[str, Any], asked: dict[str, Any], dep: Deployment, explicit: bool
) -> None:
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        out["thinking"] = thinking
    elif (budget := thinking_budget(body.get("reasoning_effort"), THINKING_BUDGETS)) is not None:
        if not explicit:
            # the default answer length comes on top of the thinking budget
            wanted = out["max_tokens"] + budget
            limit = dep.info.max_output_tokens
            out["max_tokens"] = min(wanted, limit) if limit else wanted
        out["thinking"] = claude_thinking(budget, out["max_tokens"])
    if out.get("thinking", {}).get("type") in ("enabled", "adaptive"):
        # deployment defaults (e.g. temperature 0.7) would make Anthropic refuse a thinking request;
        # values the client sent itself are kept, so the client sees why they fail
        for key in _NOT_WITH_THINKING:
            if key not in asked:
                out.pop(key, None)


def claude_thinking(budget: int, max_tokens: int) -> dict[str, Any]:
    """Claude's `thinking` for a budget, which must leave room for the answer under max_tokens
    (Anthropic's API, Bedrock and Vertex AI alike)."""
    budget = min(budget, max_tokens - 1)
    if budget < 1024:
        raise InvalidRequest(
            f"reasoning_effort needs max_tokens above 1024 on Claude models (max_tokens is {max_tokens}).",
            param="max_tokens",
        )
    return {"type": "enabled", "budget_tokens": budget}


def _no_embeddings(dep: Deployment) -> InvalidRequest:
    return InvalidRequest(
        f"'{dep.model_name}' is an Anthropic model, and Anthropic offers no embeddings endpoint: "
        "pick an embedding model (for example an OpenAI text-embedding-3 model) for /v1/embeddings.",
        param="model",
    )
