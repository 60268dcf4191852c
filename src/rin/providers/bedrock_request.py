"""An OpenAI chat body as a Bedrock Converse request: one shape for every model Bedrock serves.

`messages` become user/assistant turns of content blocks (text, image, toolUse, toolResult,
reasoningContent), system and developer messages the top-level `system`, sampling settings the
`inferenceConfig`, tools a `toolConfig`. Extended thinking (`reasoning_effort`, `thinking`) and
`top_k` go to Claude models as `additionalModelRequestFields`. Keys Converse has no place for
(seed, penalties, logprobs, ...) are left out rather than sent to be refused.
"""

from __future__ import annotations

from typing import Any

import orjson

from rin.errors import InvalidRequest
from rin.params import thinking_budget, tool_call_arguments
from rin.providers.anthropic import THINKING_BUDGETS, claude_thinking

Block = dict[str, Any]

#: room for the answer after the thinking budget, when the request sets no max_tokens
_ANSWER_TOKENS = 4096
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}
_DOCUMENT_FORMATS = {"application/pdf": "pdf", "text/csv": "csv", "text/plain": "txt", "text/html": "html",
                     "text/markdown": "md", "application/msword": "doc",
                     "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
                     "application/vnd.ms-excel": "xls",
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}
_CACHE_POINT: Block = {"cachePoint": {"type": "default"}}
#: the tool a json_schema answer is asked for through
JSON_TOOL = "json_tool_call"


def converse_body(body: dict[str, Any], asked: dict[str, Any], model_id: str) -> dict[str, Any]:
    """The Converse request for `body` (deployment defaults merged); `asked` is what the client
    itself sent, which decides what gives way when Claude's thinking excludes a setting."""
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("Bedrock models return one choice per request: 'n' must be 1.", param="n")
    system, messages = translate_messages(body.get("messages"))
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    config = _inference_config(body)
    extra: dict[str, Any] = dict(body["additionalModelRequestFields"]) if isinstance(
        body.get("additionalModelRequestFields"), dict) else {}
    if _is_claude(model_id):
        _thinking(body, config, extra, asked)
        if body.get("top_k") is not None:
            extra["top_k"] = body["top_k"]
    if config:
        out["inferenceConfig"] = config
    if extra:
        out["additionalModelRequestFields"] = extra
    tools = _json_tool(body) or _tool_config(body, messages)
    if tools:
        out["toolConfig"] = tools
    for key in ("guardrailConfig", "performanceConfig", "promptVariables", "requestMetadata",
                "additionalModelResponseFieldPaths"):  # Converse's own fields, passed as written
        if body.get(key) is not None:
            out[key] = body[key]
    return out


def json_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of `response_format: {"type": "json_schema", ...}`, or None."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequest("response_format.json_schema.schema must be an object.", param="response_format")
    return schema


def _json_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """Converse has no JSON mode: a json_schema answer is a forced call of one tool taking that
    schema, whose input becomes the answer's content (as LiteLLM does it). json_object and text
    have no counterpart and are left out."""
    schema = json_schema(body)
    if schema is None:
        return None
    if body.get("tools"):
        raise InvalidRequest("Bedrock answers in a JSON schema through a tool call of its own, so "
                             "response_format json_schema cannot be combined with 'tools'.", param="response_format")
    spec = {"name": JSON_TOOL, "description": "Respond with a JSON object.", "inputSchema": {"json": schema}}
    return {"tools": [{"toolSpec": spec}], "toolChoice": {"tool": {"name": JSON_TOOL}}}


def _is_claude(model_id: str) -> bool:
    return "anthropic.claude" in model_id


def _inference_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None:
            config["maxTokens"] = body[key]
            break
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        items = [stop] if isinstance(stop, str) else stop
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise InvalidRequest("'stop' must be a string or a list of strings.", param="stop")
        if items := [s for s in items if s]:
            config["stopSequences"] = items
    return config


def _thinking(body: dict[str, Any], config: dict[str, Any], extra: dict[str, Any], asked: dict[str, Any]) -> None:
    """Claude's extended thinking, as Anthropic's adapter sends it: `thinking`, or a budget for
    `reasoning_effort`; maxTokens must leave room for the answer after the budget."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        extra["thinking"] = thinking
    elif (budget := thinking_budget(body.get("reasoning_effort"), THINKING_BUDGETS)) is not None:
        if "maxTokens" not in config:
            config["maxTokens"] = budget + _ANSWER_TOKENS
        extra["thinking"] = claude_thinking(budget, config["maxTokens"])
    if extra.get("thinking", {}).get("type") in ("enabled", "adaptive"):
        # deployment defaults (temperature 0.7) would make Claude refuse a thinking request
        for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
            if ours not in asked:
                config.pop(theirs, None)


def _tool_config(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Converse has no tool_choice "none": the tools are left out, unless the conversation holds
    tool calls, which Bedrock refuses without a toolConfig (then the model may still call one)."""
    tools = body.get("tools")
    if not tools:
        return None
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    choice = body.get("tool_choice")
    if choice == "none" and not any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"]):
        return None
    out: dict[str, Any] = {"tools": [_tool_spec(tool, i) for i, tool in enumerate(tools)]}
    converse_choice = _tool_choice(choice)
    if converse_choice is not None:
        out["toolChoice"] = converse_choice
    return out


def _tool_spec(tool: Any, i: int) -> Block:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
        raise InvalidRequest(f"tools[{i}] must be a function tool with function.name.", param="tools")
    spec: dict[str, Any] = {"name": fn["name"],
                            "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}}}
    if fn.get("description"):
        spec["description"] = fn["description"]
    return {"toolSpec": spec}


def _tool_choice(choice: Any) -> Block | None:
    if choice is None or choice == "none":
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    fn = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(fn, dict) and fn.get("name"):
        return {"tool": {"name": fn["name"]}}
    raise InvalidRequest(
        "'tool_choice' must be 'auto', 'none', 'required' or {\"type\": \"function\", "
        "\"function\": {\"name\": ...}}.",
        param="tool_choice",
    )


def translate_messages(messages: Any) -> tuple[list[Block], list[dict[str, Any]]]:
    """`(system blocks, messages)`. Consecutive turns of one role are merged (Converse wants user
    and assistant to alternate); tool results become user turns of toolResult blocks."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.", param="messages")
    system: list[Block] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InvalidRequest(f"messages[{i}] must be an object.", param="messages")
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(b for b in _blocks(msg.get("content"), i) if "text" in b or "cachePoint" in b)
            if msg.get("cache_control") and system:
                system.append(_CACHE_POINT)
            continue
        if role == "user":
            blocks = _blocks(msg.get("content"), i)
        elif role == "assistant":
            blocks = _assistant_blocks(msg, i)
        elif role == "tool":
            role, blocks = "user", [_tool_result(msg, i)]
        else:
            raise InvalidRequest(
                f"messages[{i}] has role {role!r}; Bedrock models take system, developer, user, "
                "assistant and tool messages.",
                param="messages",
            )
        if msg.get("cache_control") and blocks:
            blocks.append(_CACHE_POINT)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:  # a user turn's tool results come first, as after a toolUse they must
        turn["content"].sort(key=lambda block: "toolResult" not in block)
    if not turns:
        raise InvalidRequest("'messages' needs at least one user or assistant message with content.",
                             param="messages")
    return system, turns


def _blocks(content: Any, i: int) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []  # Bedrock refuses blank text blocks
    if not isinstance(content, list):
        raise InvalidRequest(f"messages[{i}].content must be a string or a list of parts.", param="messages")
    blocks: list[Block] = []
    for part in content:
        if not isinstance(part, dict):
            raise InvalidRequest(f"messages[{i}].content has a part that is not an object.", param="messages")
        kind = part.get("type")
        if kind == "text":
            if isinstance(part.get("text"), str) and part["text"].strip():
                blocks.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            blocks.append(_image(image.get("url") if isinstance(image, dict) else image, i))
        elif kind == "file":
            blocks.append(_document(part.get("file") if isinstance(part.get("file"), dict) else {}, i))
        else:
            raise InvalidRequest(f"messages[{i}] has a content part of type {kind!r}, which RIN cannot send "
                                 "to Bedrock models.", param="messages")
        if part.get("cache_control") and blocks:
            blocks.append(_CACHE_POINT)
    return blocks


def _data_url(url: Any, i: int, what: str) -> tuple[str, str]:
    """(media type, base64 data) of a `data:` URL; Bedrock takes no links to fetch."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InvalidRequest(
            f"messages[{i}] has an {what} given by URL; Bedrock needs it inline: send it as a "
            "'data:<media type>;base64,<data>' URL.",
            param="messages",
        )
    header, sep, data = url.partition(",")
    mime, _, encoding = header[len("data:"):].partition(";")
    if not sep or encoding != "base64" or not mime:
        raise InvalidRequest(f"messages[{i}] has a data: URL that is not 'data:<media type>;base64,<data>'.",
                             param="messages")
    return mime.lower(), data


def _image(url: Any, i: int) -> Block:
    mime, data = _data_url(url, i, "image")
    fmt = _IMAGE_FORMATS.get(mime)
    if fmt is None:
        raise InvalidRequest(f"messages[{i}] has a {mime} image; Bedrock takes png, jpeg, gif and webp.",
                             param="messages")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document(file: dict[str, Any], i: int) -> Block:
    mime, data = _data_url(file.get("file_data"), i, "file")
    fmt = _DOCUMENT_FORMATS.get(mime)
    if fmt is None:
        if mime in _IMAGE_FORMATS:
            return _image(file.get("file_data"), i)
        raise InvalidRequest(f"messages[{i}] has a {mime} file, which Bedrock does not take.", param="messages")
    # Bedrock allows letters, digits, spaces, hyphens, parentheses and brackets in a document's name
    name = "".join(c for c in str(file.get("filename") or "document") if c.isalnum() or c in " -()[]") or "document"
    return {"document": {"format": fmt, "name": name[:200], "source": {"bytes": data}}}


def _assistant_blocks(msg: dict[str, Any], i: int) -> list[Block]:
    blocks: list[Block] = []
    for thinking in msg.get("thinking_blocks") or ():  # Claude wants its signed thinking back
        if isinstance(thinking, dict) and thinking.get("type") == "thinking" and thinking.get("signature"):
            blocks.append({"reasoningContent": {"reasoningText": {
                "text": thinking.get("thinking") or "", "signature": thinking["signature"]}}})
        elif isinstance(thinking, dict) and thinking.get("type") == "redacted_thinking" and thinking.get("data"):
            blocks.append({"reasoningContent": {"redactedContent": thinking["data"]}})
    blocks += _blocks(msg.get("content"), i)
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name") or not call.get("id"):
            raise InvalidRequest(f"messages[{i}].tool_calls has an entry without an id or a function name.",
                                 param="messages")
        arguments = tool_call_arguments(fn.get("arguments"), i)
        blocks.append({"toolUse": {"toolUseId": call["id"], "name": fn["name"],
                                   "input": arguments if isinstance(arguments, dict) else {"value": arguments}}})
    return blocks


def _tool_result(msg: dict[str, Any], i: int) -> Block:
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"messages[{i}] is a tool message without tool_call_id.", param="messages")
    content = msg.get("content")
    if isinstance(content, list):
        blocks = [b for b in _blocks(content, i) if "cachePoint" not in b]
    elif content is None or content == "":
        blocks = []
    else:
        blocks = [{"text": content if isinstance(content, str) else orjson.dumps(content).decode()}]
    return {"toolResult": {"toolUseId": call_id, "content": blocks or [{"text": "(empty)"}]}}
