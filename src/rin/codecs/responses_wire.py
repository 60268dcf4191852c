"""The OpenAI Responses API (POST /v1/responses) over RIN's canonical chat-completions bodies.

Clients of the Responses API (Codex CLI, the OpenAI Agents SDK, `client.responses.create`) reach
any chat provider: `responses_to_chat` turns the request into a chat body and `chat_to_response`
turns the chat answer into a Response object. `input_items` and `output_as_input` give the items
stored for `previous_response_id`. The Response object's pieces and the stream (re-exported here)
live in `rin.codecs.responses_stream`. Pure: ids and timestamps are passed in.
"""

from __future__ import annotations

from typing import Any

from rin.codecs.responses_stream import (
    ChatToResponsesStream, finish_status, function_call_item, item_id, message_item, output_text_part,
    reasoning_item, response_object,
)
from rin.errors import InvalidRequest
from rin.providers.openai import parse_usage

__all__ = ["ChatToResponsesStream", "chat_to_response", "input_items", "output_as_input", "responses_to_chat"]

#: fields with the same name and meaning in both APIs
_SAME_FIELDS = ("temperature", "top_p", "user", "parallel_tool_calls")

#: Responses roles as chat roles
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}

_TOOL_CHOICES = ("auto", "none", "required")


def responses_to_chat(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Responses request as an OpenAI chat body; `history` (earlier input and output items from
    `previous_response_id`) goes before this request's input."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required: send the model name as a string.", param="model")
    _reject_unsupported(body)
    earlier = history or []
    messages = _instructions(body.get("instructions"))
    messages += _translate_items([*earlier, *input_items(body)], len(earlier))
    # with previous_response_id the history may not be resolved yet: an empty input is fine then
    if not any(m["role"] != "system" for m in messages) and not body.get("previous_response_id"):
        raise InvalidRequest("'input' is empty: send a string or at least one input item.", param="input")
    chat: dict[str, Any] = {"model": model, "messages": messages}
    chat.update(_options(body))
    return chat


def input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """This request's `input` as a list of items (a string is one user message)."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise InvalidRequest(f"input[{index}] must be an object (an input item).",
                                     param=f"input[{index}]")
        return list(raw)
    if raw is None:
        raise InvalidRequest("'input' is required: send a string or a list of input items.", param="input")
    raise InvalidRequest(f"'input' must be a string or a list of input items, got {type(raw).__name__}.",
                         param="input")


def output_as_input(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored Response's output as input items for the next turn (reasoning is dropped)."""
    items: list[dict[str, Any]] = []
    for item in response.get("output") or []:
        if item.get("type") == "message":
            text = "".join(p.get("text") or p.get("refusal") or "" for p in item.get("content") or [])
            items.append({"role": "assistant", "content": text})
        elif item.get("type") == "function_call":
            items.append({k: v for k, v in item.items() if k not in ("id", "status")})
    return items


def _reject_unsupported(body: dict[str, Any]) -> None:
    if body.get("prompt") is not None:
        raise InvalidRequest("Stored prompt templates ('prompt') need an OpenAI deployment; send the "
                             "text in 'instructions' and 'input' instead.", param="prompt")
    if body.get("conversation") is not None:
        raise InvalidRequest("'conversation' (the Conversations API) is not supported; chain turns with "
                             "'previous_response_id' instead.", param="conversation")
    if body.get("background"):
        raise InvalidRequest("Background responses are not supported; send the request without "
                             "'background' (stream it if it takes long).", param="background")


def _instructions(instructions: Any) -> list[dict[str, Any]]:
    if instructions is None or instructions == "":
        return []
    if not isinstance(instructions, str):
        raise InvalidRequest("'instructions' must be a string.", param="instructions")
    return [{"role": "system", "content": instructions}]


def _translate_items(items: list[dict[str, Any]], offset: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        # history items were checked when they were stored; errors point into this request's input
        param = f"input[{index - offset}]" if index >= offset else "previous_response_id"
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, param))
        elif kind == "function_call":
            _add_tool_call(messages, item, param)
        elif kind == "function_call_output":
            messages.append(_tool_result(item, param))
        elif kind == "reasoning":
            continue  # a chat provider can neither read nor verify OpenAI's reasoning items
        elif kind == "item_reference":
            raise InvalidRequest(f"{param} is an item_reference; RIN keeps no item store: send the item "
                                 "itself, or chain with 'previous_response_id'.", param=param)
        else:
            raise InvalidRequest(f"{param} has type {kind!r}, which a chat provider cannot take: use "
                                 "messages, function_call and function_call_output items.", param=param)
    return messages


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    given = item.get("role")
    role = _ROLES.get(given) if isinstance(given, str) else None
    if role is None:
        raise InvalidRequest(f"{param}.role must be one of user, assistant, system or developer, "
                             f"got {given!r}.", param=f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"{param}.content must be a string or a list of content parts.",
                             param=f"{param}.content")
    parts = [_part(part, f"{param}.content[{j}]") for j, part in enumerate(content)]
    if role == "user":
        return {"role": role, "content": parts}
    if any(part["type"] != "text" for part in parts):
        raise InvalidRequest(f"{param}: only user messages may carry images.", param=f"{param}.content")
    # assistant parts are pieces of one answer; system parts are separate paragraphs
    joiner = "" if role == "assistant" else "\n"
    return {"role": role, "content": joiner.join(part["text"] for part in parts)}


def _part(part: Any, param: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "refusal"):
        text = part.get("refusal") if kind == "refusal" else part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"{param} needs a string text.", param=param)
        return {"type": "text", "text": text}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise InvalidRequest(f"{param} needs 'image_url' (a URL or data URL); file_id images live "
                                 "in OpenAI's file store and need an OpenAI deployment.", param=param)
        return {"type": "image_url", "image_url": {"url": url, "detail": part.get("detail") or "auto"}}
    if kind == "input_file":
        raise InvalidRequest(f"{param} is an input_file, which is not supported through a chat provider; "
                             "send the file's text as input_text.", param=param)
    raise InvalidRequest(f"{param} has type {kind!r}; use input_text, output_text or input_image.",
                         param=param)


def _add_tool_call(messages: list[dict[str, Any]], item: dict[str, Any], param: str) -> None:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, str):
        raise InvalidRequest(f"{param}: a function_call needs string 'call_id', 'name' and 'arguments'.",
                             param=param)
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    last = messages[-1] if messages else None
    # a turn's text and its calls (one or many) are one assistant message in the chat format
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _tool_result(item: dict[str, Any], param: str) -> dict[str, Any]:
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str):
        raise InvalidRequest(f"{param}: a function_call_output needs a string 'call_id'.", param=param)
    if isinstance(output, list):
        parts = [_part(part, f"{param}.output[{j}]") for j, part in enumerate(output)]
        if any(part["type"] != "text" for part in parts):
            raise InvalidRequest(f"{param}: a chat provider takes only text as a tool's output.",
                                 param=f"{param}.output")
        output = "".join(part["text"] for part in parts)
    if not isinstance(output, str):
        raise InvalidRequest(f"{param}.output must be a string or a list of content parts.",
                             param=f"{param}.output")
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def _options(body: dict[str, Any]) -> dict[str, Any]:
    out = {key: body[key] for key in _SAME_FIELDS if body.get(key) is not None}
    if "user" not in out and body.get("safety_identifier") is not None:
        out["user"] = body["safety_identifier"]
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    tools = body.get("tools")
    if tools:
        out["tools"] = _tools(tools)
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    format_ = _response_format(_object(body, "text").get("format"))
    if format_ is not None:
        out["response_format"] = format_
    effort = _object(body, "reasoning").get("effort")
    if effort is not None:
        out["reasoning_effort"] = effort
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{key}' must be an object.", param=key)
    return value


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list of tools.", param="tools")
    return [_tool(tool, index) for index, tool in enumerate(tools)]


def _tool(tool: Any, index: int) -> dict[str, Any]:
    kind = tool.get("type") if isinstance(tool, dict) else None
    if kind != "function":
        raise InvalidRequest(f"tools[{index}] is a {kind!r} tool: built-in tools need an OpenAI "
                             "deployment; through a chat provider only function tools work.", param="tools")
    if not isinstance(tool.get("name"), str):
        raise InvalidRequest(f"tools[{index}] needs a string 'name'.", param="tools")
    function = {key: tool[key] for key in ("name", "description", "parameters", "strict")
                if tool.get(key) is not None}
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice in _TOOL_CHOICES:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequest("'tool_choice' must be auto, none, required or {\"type\": \"function\", "
                         "\"name\": ...}; other choices need an OpenAI deployment.", param="tool_choice")


def _response_format(format_: Any) -> dict[str, Any] | None:
    kind = format_.get("type") if isinstance(format_, dict) else None
    if format_ is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(format_.get("name"), str) and "schema" in format_:
        schema = {key: format_[key] for key in ("name", "schema", "strict", "description")
                  if format_.get(key) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise InvalidRequest("'text.format' must be text, json_object, or json_schema with 'name' and "
                         "'schema'.", param="text.format")


def chat_to_response(chat: dict[str, Any], request: dict[str, Any], response_id: str,
                     created_at: int) -> dict[str, Any]:
    """A parsed chat.completion as the Response object the Responses API returns."""
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    status, reason = finish_status(choice.get("finish_reason"))
    output = _output(message, response_id)
    if status == "incomplete" and output and "status" in output[-1]:
        output[-1]["status"] = "incomplete"
    model = chat.get("model") or request.get("model") or ""
    return response_object(request, response_id, created_at, model, output, status, reason,
                           parse_usage(chat.get("usage")))


def _output(message: dict[str, Any], response_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(item_id("rs", response_id, 0), reasoning))
    parts: list[dict[str, Any]] = []
    text = _text(message.get("content"))
    if text:
        parts.append(output_text_part(text))
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        items.append(message_item(item_id("msg", response_id, len(items)), parts, "completed"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        index = len(items)
        items.append(function_call_item(
            item_id("fc", response_id, index), call.get("id") or item_id("call", response_id, index),
            function.get("name") or "", function.get("arguments") or "", "completed"))
    return items


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""
