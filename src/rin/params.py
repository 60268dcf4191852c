"""Request parameters: deployment defaults under the request's own values, and range checks.

Only the fields RIN acts on are looked at; message bodies are never validated field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rin.errors import InvalidRequest
from rin.types import ChatRequest, Deployment

#: litellm_params keys that configure the deployment rather than the request
_NOT_REQUEST_PARAMS = frozenset({"stream", "messages", "model", "input"})


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"'{name}' must be a number, got {type(value).__name__}.", param=name)
    return float(value)


def check_range(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = _number(body, name)
    if value is not None and not low <= value <= high:
        raise InvalidRequest(
            f"'{name}' is {value:g}, outside the allowed range {low:g} to {high:g}: "
            f"send a value between {low:g} and {high:g}.",
            param=name,
        )


def check_max_tokens(body: dict[str, Any], name: str, model_max: int | None) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"'{name}' must be an integer, got {value!r}.", param=name)
    high = model_max or 2**31 - 1
    if not 1 <= value <= high:
        limit = f"between 1 and {model_max} for this model" if model_max else "at least 1"
        raise InvalidRequest(f"'{name}' is {value}; it must be {limit}.", param=name)


def validate_request(body: dict[str, Any]) -> None:
    """Checks that hold whatever deployment serves the request (OpenAI's documented ranges)."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest(f"'stream' must be true or false, got {stream!r}.", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object such as {\"include_usage\": true}.",
                             param="stream_options")
    check_range(body, "temperature", 0.0, 2.0)
    check_range(body, "top_p", 0.0, 1.0)
    check_range(body, "presence_penalty", -2.0, 2.0)
    check_range(body, "frequency_penalty", -2.0, 2.0)
    check_max_tokens(body, "max_tokens", None)
    check_max_tokens(body, "max_completion_tokens", None)
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InvalidRequest(f"'n' must be an integer of at least 1, got {n!r}.", param="n")


def effective_body(req: ChatRequest, dep: Deployment) -> dict[str, Any]:
    """A shallow copy of the request body with the deployment's defaults filled in where the
    request is silent, `model` set to the provider's model id, and max_tokens checked against
    the model's maximum. The request's own values always win, except over the deployment's
    additional_drop_params, which never reach it."""
    body = dict(req.body)
    for key, value in dep.defaults.items():
        if key not in _NOT_REQUEST_PARAMS and key not in body:
            if key == "max_tokens" and "max_completion_tokens" in body:
                continue
            body[key] = value
    body["model"] = dep.provider_model
    for name in dep.additional_drop_params:
        body.pop(name, None)
    model_max = dep.info.max_output_tokens
    check_max_tokens(body, "max_tokens", model_max)
    check_max_tokens(body, "max_completion_tokens", model_max)
    return body


def request_needs(req: ChatRequest) -> tuple[bool, bool]:
    """Whether the request sends images, and whether it sends tools; computed once per request."""
    if req.needs is None:
        body = req.body
        tools = bool(body.get("tools") or body.get("functions"))
        images = False
        for message in body.get("messages") or ():
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list) and any(
                isinstance(part, dict) and part.get("type") in ("image_url", "image") for part in content
            ):
                images = True
                break
        req.needs = (images, tools)
    return req.needs


def tool_call_arguments(arguments: Any, i: int) -> Any:
    """An assistant tool call's `arguments` (JSON text in OpenAI's shape) parsed, for providers that
    take them as an object; {} when empty. A 400 naming the message when they are not JSON."""
    if arguments is None or arguments == "":
        return {}
    if not isinstance(arguments, str):
        return arguments
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            f"messages[{i}].tool_calls has function arguments that are not valid JSON: {arguments[:80]!r}",
            param="messages",
        ) from None


def thinking_budget(effort: Any, budgets: Mapping[str, int]) -> int | None:
    """`reasoning_effort` as a provider's thinking budget in tokens: None when unset or "none";
    InvalidRequest naming the accepted values otherwise."""
    if effort is None or effort == "none":
        return None
    budget = budgets.get(effort) if isinstance(effort, str) else None
    if budget is None:
        raise InvalidRequest(
            f"'reasoning_effort' is {effort!r}; use one of none, {', '.join(budgets)}.",
            param="reasoning_effort",
        )
    return budget
