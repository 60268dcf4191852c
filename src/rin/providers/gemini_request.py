"""An OpenAI chat body as a Gemini generateContent request (the Gemini API's and Vertex AI's).

`messages` become `contents` (roles user/model) of parts (text, inlineData, fileData,
functionCall, functionResponse) plus a `systemInstruction`; sampling settings, `response_format` and
`reasoning_effort` a `generationConfig`; tools `functionDeclarations` and tool_choice a `toolConfig`.
"""

from __future__ import annotations

from typing import Any

import orjson

from rin.errors import InvalidRequest
from rin.params import thinking_budget, tool_call_arguments
from rin.providers.gemini_response import SIGNATURE_MARK

#: reasoning_effort as a thinking budget in tokens
_THINKING_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}

_CHOICES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}

#: the signature Google documents for a function call whose real one is not available
UNSIGNED = "skip_thought_signature_validator"


def translate_body(body: dict[str, Any]) -> dict[str, Any]:
    """The generateContent request body for an OpenAI chat body (deployment defaults merged)."""
    model = body.get("model")
    system, contents = translate_messages(body.get("messages"),
                                          signed=isinstance(model, str) and "gemini-3" in model)
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    config = _generation_config(body)
    if config:
        out["generationConfig"] = config
    tools = body.get("tools")
    if tools:
        out["tools"] = [{"functionDeclarations": [_declaration(t, i) for i, t in enumerate(_list(tools, "tools"))]}]
    choice = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        out["toolConfig"] = {"functionCallingConfig": choice}
    for key in ("safetySettings", "cachedContent"):  # Gemini-native fields passed as written
        if body.get(key) is not None:
            out[key] = body[key]
    return out


def _list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{param}' must be a list.", param=param)
    return value


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"),
                         ("n", "candidateCount"), ("seed", "seed"), ("presence_penalty", "presencePenalty"),
                         ("frequency_penalty", "frequencyPenalty")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    if config.get("candidateCount") == 1:
        del config["candidateCount"]
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None:
            config["maxOutputTokens"] = body[key]
            break
    stop = body.get("stop")
    if stop:
        items = [stop] if isinstance(stop, str) else stop
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise InvalidRequest("'stop' must be a string or a list of strings.", param="stop")
        config["stopSequences"] = items
    _response_format(config, body.get("response_format"))
    _thinking(config, body)
    return config


def _response_format(config: dict[str, Any], response_format: Any) -> None:
    if not isinstance(response_format, dict):
        return
    kind = response_format.get("type")
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest("response_format.json_schema.schema must be an object.", param="response_format")
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = schema  # full JSON Schema; `responseSchema` is the OpenAPI subset


def _thinking(config: dict[str, Any], body: dict[str, Any]) -> None:
    effort = body.get("reasoning_effort")
    if isinstance(body.get("thinkingConfig"), dict):
        config["thinkingConfig"] = body["thinkingConfig"]
    elif effort == "none":
        config["thinkingConfig"] = {"thinkingBudget": 0}
    elif (budget := thinking_budget(effort, _THINKING_BUDGETS)) is not None:
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": True}


def _declaration(tool: Any, i: int) -> dict[str, Any]:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
        raise InvalidRequest(f"tools[{i}] must be a function tool with function.name.", param="tools")
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    if fn.get("parameters"):
        out["parametersJsonSchema"] = fn["parameters"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _CHOICES:
        return {"mode": _CHOICES[choice]}
    fn = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(fn, dict) and fn.get("name"):
        return {"mode": "ANY", "allowedFunctionNames": [fn["name"]]}
    raise InvalidRequest(
        "'tool_choice' must be 'auto', 'none', 'required' or {\"type\": \"function\", "
        "\"function\": {\"name\": ...}}.",
        param="tool_choice",
    )


def translate_messages(
    messages: Any, signed: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`(system parts, contents)`. Consecutive turns of one role are merged; tool results are user
    turns of functionResponse parts, named after the call they answer. `signed`: the model refuses
    a replayed function call without a thought signature (Gemini 3)."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.", param="messages")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InvalidRequest(f"messages[{i}] must be an object.", param="messages")
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_parts(msg.get("content"), i))
            continue
        if role == "user":
            parts = _parts(msg.get("content"), i)
        elif role == "assistant":
            role, parts = "model", _model_parts(msg, i, call_names, signed)
        elif role == "tool":
            role, parts = "user", [_function_response(msg, i, call_names)]
        else:
            raise InvalidRequest(
                f"messages[{i}] has role {role!r}; Gemini models take system, developer, user, "
                "assistant and tool messages.",
                param="messages",
            )
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if not contents:
        raise InvalidRequest("'messages' needs at least one user or assistant message with content.",
                             param="messages")
    return system, contents


def _parts(content: Any, i: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"messages[{i}].content must be a string or a list of parts.", param="messages")
    parts = []
    for part in content:
        if not isinstance(part, dict):
            raise InvalidRequest(f"messages[{i}].content has a part that is not an object.", param="messages")
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            parts.append(_media(image.get("url") if isinstance(image, dict) else image, i))
        elif kind == "file":
            file = part.get("file") if isinstance(part.get("file"), dict) else {}
            parts.append(_media(file.get("file_data") or file.get("file_id"), i))
        elif kind == "input_audio":
            audio = part.get("input_audio") if isinstance(part.get("input_audio"), dict) else {}
            fmt = audio.get("format") or "wav"
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": audio.get("data") or ""}})
        else:
            raise InvalidRequest(f"messages[{i}] has a content part of type {kind!r}, which RIN cannot send "
                                 "to Gemini models.", param="messages")
    return parts


def _media(url: Any, i: int) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"messages[{i}] has an image or file part without a url.", param="messages")
    if url.startswith("data:"):
        header, sep, data = url.partition(",")
        mime, _, encoding = header[len("data:"):].partition(";")
        if not sep or encoding != "base64" or not mime:
            raise InvalidRequest(
                f"messages[{i}] has a data: URL that is not 'data:<media type>;base64,<data>'.", param="messages"
            )
        return {"inlineData": {"mimeType": mime, "data": data}}
    return {"fileData": {"fileUri": url, "mimeType": _guess_mime(url)}}


def _guess_mime(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for ext, mime in ((".png", "image/png"), (".jpg", "image/jpeg"), (".jpeg", "image/jpeg"),
                      (".webp", "image/webp"), (".gif", "image/gif"), (".pdf", "application/pdf")):
        if path.endswith(ext):
            return mime
    return "image/jpeg"


def _model_parts(msg: dict[str, Any], i: int, call_names: dict[str, str], signed: bool) -> list[dict[str, Any]]:
    parts = _parts(msg.get("content"), i)
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise InvalidRequest(f"messages[{i}].tool_calls has an entry without a function name.", param="messages")
        function_call = {"name": fn["name"], "args": _arguments(fn.get("arguments"), i)}
        call_id, signature = _signed_id(call)
        if call_id:
            call_names[call["id"]] = fn["name"]
            function_call["id"] = call_id
        part: dict[str, Any] = {"functionCall": function_call}
        if signature:
            part["thoughtSignature"] = signature
        elif signed and not any("thoughtSignature" in p for p in parts if "functionCall" in p):
            # a call replayed without its signature (history written by another model, or a client
            # that rebuilt the ids): Google's documented marker, else Gemini 3 refuses the request
            part["thoughtSignature"] = UNSIGNED
        parts.append(part)
    return parts


def _signed_id(call: dict[str, Any]) -> tuple[str, str | None]:
    """A tool call's own id and the thought signature RIN put in it (or in extra_content)."""
    raw = call.get("id")
    call_id, _, signature = raw.partition(SIGNATURE_MARK) if isinstance(raw, str) else ("", "", "")
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    given = google.get("thought_signature") if isinstance(google, dict) else None
    return call_id, (given if isinstance(given, str) and given else signature or None)


def _arguments(arguments: Any, i: int) -> Any:
    """Gemini takes `args` as an object: anything else is wrapped."""
    value = tool_call_arguments(arguments, i)
    return value if isinstance(value, dict) else {"value": value}


def _function_response(msg: dict[str, Any], i: int, call_names: dict[str, str]) -> dict[str, Any]:
    call_id = msg.get("tool_call_id")
    name = call_names.get(call_id or "") or msg.get("name")
    if not name:
        raise InvalidRequest(
            f"messages[{i}] is a tool message whose tool_call_id matches no earlier assistant tool call; "
            "Gemini needs the function's name.",
            param="messages",
        )
    content = msg.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    result: Any = content if content is not None else ""
    if isinstance(result, str):
        try:
            parsed = orjson.loads(result)
        except orjson.JSONDecodeError:
            parsed = None
        result = parsed if isinstance(parsed, dict) else {"result": result}
    response: dict[str, Any] = {"name": name, "response": result}
    if call_id:
        # FunctionResponse.id: the FunctionCall.id it answers (without the signature RIN added)
        response["id"] = call_id.partition(SIGNATURE_MARK)[0]
    return {"functionResponse": response}
