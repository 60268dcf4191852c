"""Anthropic Messages requests (POST /v1/messages) as OpenAI chat bodies, RIN's canonical form,
validated as Anthropic validates them; and the token estimate for deployments that can't count."""

from __future__ import annotations

import math
from typing import Any

import orjson

from rin.errors import CapabilityError, InvalidRequest

Json = dict[str, Any]

_BLOCK_TYPES = ("text", "image", "tool_result", "tool_use", "thinking", "redacted_thinking")

_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}

#: Anthropic bills an image at width * height / 750 tokens; this is its largest unresized size
IMAGE_TOKENS = 1600


class AnthropicOnly(CapabilityError):
    """A valid Messages request that only an Anthropic deployment can serve (documents, server tools, ...)."""


def messages_to_chat(body: dict[str, Any], *, native_ok: bool = False) -> dict[str, Any]:
    """An Anthropic Messages request body as an OpenAI chat body, validated as Anthropic does.

    With `native_ok` (the body may yet go to an Anthropic deployment as it is) what only Anthropic
    takes is left out instead of refused; `anthropic_only(body)` gives the refusal for the others.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = _required(body, "model", str, "string")
    max_tokens = _required(body, "max_tokens", int, "integer")
    if max_tokens < 1:
        raise _bad("max_tokens", "Input should be greater than or equal to 1")
    messages = _required(body, "messages", list, "list")
    if not messages:
        raise _bad("messages", "at least one message is required")
    chat: Json = {"model": model, "messages": _system(body.get("system"))}
    for i, msg in enumerate(messages):
        chat["messages"].extend(_message(msg, f"messages.{i}", native_ok))
    chat["max_tokens"] = max_tokens
    for key in ("temperature", "top_p", "top_k"):
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and metadata.get("user_id"):
        chat["user"] = metadata["user_id"]
    chat.update(_tools(body.get("tools"), body.get("tool_choice"), native_ok))
    effort = _reasoning_effort(body.get("thinking"))
    if effort:
        chat["reasoning_effort"] = effort
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def anthropic_only(body: dict[str, Any]) -> AnthropicOnly | None:
    """Why a valid Messages body cannot go through chat to a non-Anthropic deployment, if it cannot."""
    try:
        messages_to_chat(body)
    except AnthropicOnly as refusal:
        return refusal
    return None


def _bad(path: str, problem: str) -> InvalidRequest:
    """Names what is wrong the way Anthropic does: `messages.0.content.1.text: Field required`."""
    return InvalidRequest(f"{path}: {problem}", param=path)


def _only(path: str, problem: str) -> AnthropicOnly:
    return AnthropicOnly(f"{path}: {problem}", param=path)


def _required(body: Json, key: str, kind: type, name: str) -> Any:
    value = body.get(key)
    if value is None:
        raise _bad(key, "Field required")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _bad(key, f"Input should be a valid {name}")
    return value


def _name(obj: Json, key: str, where: str) -> str:
    """A required non-empty string field."""
    if not isinstance(obj.get(key), str) or not obj[key]:
        raise _bad(f"{where}.{key}", "Field required")
    return str(obj[key])


def _object(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise _bad(where, "Input should be a valid dictionary")
    return value


def _system(system: Any) -> list[Json]:
    if isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in system):
        system = "\n\n".join(_name(b, "text", f"system.{i}") for i, b in enumerate(system))
    if system is not None and not isinstance(system, str):
        raise _bad("system", "Input should be a valid string or a list of text blocks")
    return [{"role": "system", "content": system}] if system else []


def _message(msg: Any, where: str, native_ok: bool) -> list[Json]:
    role = _object(msg, where).get("role")
    if role == "system":
        # a system message mid-conversation (Anthropic's mid-conversation-tool-changes beta, which
        # Claude Code sends): the same thing as a chat system message
        return [{"role": "system", "content": _system(msg.get("content"))[0]["content"]}] \
            if msg.get("content") else []
    if role not in ("user", "assistant"):
        raise _bad(f"{where}.role", "Input should be 'user' or 'assistant'")
    content = msg.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise _bad(f"{where}.content", "Input should be a valid string or list of content blocks")
    blocks = []
    for j, block in enumerate(content):
        try:
            blocks.append(_block(block, role, f"{where}.content.{j}"))
        except AnthropicOnly:
            if not native_ok:
                raise
    parts = [value for kind, value in blocks if kind == "part"]
    if role == "user":
        # OpenAI wants each tool result as its own message, right after the assistant's calls
        tools = [value for kind, value in blocks if kind == "tool"]
        return tools + ([{"role": "user", "content": _collapse(parts)}] if parts else [])
    calls = [value for kind, value in blocks if kind == "call"]
    if not parts and not calls:
        return []  # only thinking blocks, which other providers' models cannot take back
    out: Json = {"role": "assistant", "content": _collapse(parts) if parts else None}
    if calls:
        out["tool_calls"] = calls
    return [out]


def _collapse(parts: list[Json]) -> str | list[Json]:
    """A lone text part is sent as a plain string, the way OpenAI requests are usually written."""
    return parts[0]["text"] if len(parts) == 1 and parts[0]["type"] == "text" else parts


def _block(block: Any, role: str, where: str) -> tuple[str, Json]:
    """`(kind, value)`: kind "part" (an OpenAI content part), "call", "tool" or "drop"."""
    kind = _object(block, where).get("type")
    if kind == "text":
        return "part", {"type": "text", "text": _name(block, "text", where)}
    if kind == "image" and role == "user":
        return "part", _image(block.get("source"), where)
    if kind == "tool_use" and role == "assistant":
        arguments = _object(block.get("input", {}), f"{where}.input")
        return "call", {"id": _name(block, "id", where), "type": "function", "function": {
            "name": _name(block, "name", where), "arguments": orjson.dumps(arguments).decode()}}
    if kind == "tool_result" and role == "user":
        return "tool", _tool_result(block, where)
    if kind in ("thinking", "redacted_thinking") and role == "assistant":
        return "drop", {}
    if kind == "document":
        raise _only(where, "document blocks are only supported on Anthropic deployments")
    if kind in _BLOCK_TYPES:
        raise _bad(f"{where}.type", f"{kind!r} blocks are not allowed in {role} messages")
    raise _only(f"{where}.type", f"{kind!r} blocks need an Anthropic deployment")


def _image(source: Any, where: str) -> Json:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source.get("media_type"), str) and isinstance(source.get("data"), str):
        url = f"data:{source['media_type']};base64,{source['data']}"
    elif kind == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    elif kind in ("base64", "url"):
        raise _bad(f"{where}.source", "base64 sources need media_type and data, url sources a url")
    else:
        raise _only(f"{where}.source", "images other than base64 or url need an Anthropic deployment")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result(block: Json, where: str) -> Json:
    content = block.get("content")
    if isinstance(content, list):
        for k, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise _only(f"{where}.content.{k}", "tool results other than text need an Anthropic deployment")
        content = "\n".join(_name(part, "text", f"{where}.content.{k}") for k, part in enumerate(content))
    elif content is not None and not isinstance(content, str):
        raise _bad(f"{where}.content", "Input should be a valid string or list of content blocks")
    text = ("Error: " if block.get("is_error") is True else "") + (content or "")
    return {"role": "tool", "tool_call_id": _name(block, "tool_use_id", where), "content": text}


def _tools(tools: Any, choice: Any, native_ok: bool) -> Json:
    out: Json = {}
    if tools is not None and not isinstance(tools, list):
        raise _bad("tools", "Input should be a valid list")
    functions = [_tool(tool, f"tools.{i}", native_ok) for i, tool in enumerate(tools or [])]
    if any(functions):  # OpenAI refuses an empty tools array
        out["tools"] = [f for f in functions if f]
    if choice is not None:
        out.update(_tool_choice(_object(choice, "tool_choice")))
    return out


def _tool(tool: Any, where: str, native_ok: bool) -> Json | None:
    kind = _object(tool, where).get("type")
    if kind not in (None, "custom"):
        if native_ok:
            return None
        raise _only(where, f"server tools ({kind}) need an Anthropic deployment")
    function: Json = {"name": _name(tool, "name", where)}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = _object(tool.get("input_schema"), f"{where}.input_schema")
    return {"type": "function", "function": function}


def _tool_choice(choice: Json) -> Json:
    kind = choice.get("type")
    if kind == "tool":
        value: Any = {"type": "function", "function": {"name": _name(choice, "name", "tool_choice")}}
    elif kind in _TOOL_CHOICES:
        value = _TOOL_CHOICES[kind]
    else:
        raise _bad("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    out: Json = {"tool_choice": value}
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out


def _reasoning_effort(thinking: Any) -> str | None:
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if thinking is None or kind == "disabled":
        return None
    if kind == "adaptive":
        return None  # the model decides whether to think: every model's default behaviour
    if kind != "enabled":
        raise _bad("thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'")
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise _bad("thinking.budget_tokens", "Field required")
    return "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"



def estimate_tokens(body: dict[str, Any]) -> int:
    """An estimate, not a count, of an Anthropic request's input tokens, for deployments that cannot
    count them: four characters a token, three tokens of framing a message, 1600 an image."""
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    chars, images = _size([body.get("system"), *(m.get("content") for m in messages if isinstance(m, dict))])
    if body.get("tools"):
        chars += len(orjson.dumps(body["tools"]))
    return math.ceil(chars / 4) + 3 * len(messages) + IMAGE_TOKENS * images


def _size(content: Any) -> tuple[int, int]:
    """(characters, images) in a string, a content block or a list of either."""
    if isinstance(content, str):
        return len(content), 0
    if isinstance(content, list):
        sizes = [_size(item) for item in content]
        return sum(c for c, _ in sizes), sum(i for _, i in sizes)
    if not isinstance(content, dict):
        return 0, 0
    if content.get("type") == "image":
        return 0, 1
    if content.get("type") == "tool_use":
        return len(str(content.get("name"))) + len(orjson.dumps(content.get("input"))), 0
    return _size(content.get("text") if content.get("type") == "text" else content.get("content"))
