"""The client protocols' routes that are not model calls: Anthropic's token counting and the
Responses API's stored responses. Neither is billed; both keep the caller's key limits."""

from __future__ import annotations

from typing import Any

import orjson

from rin.asgi import JSON, Receive, Send, send_bytes
from rin.codecs.base import parse_json_body
from rin.errors import InvalidRequest, ModelNotFound, RinError, RouteNotFound
from rin.providers import PROVIDERS
from rin.types import ChatRequest, UpstreamRequest

#: path prefixes of GET / DELETE /v1/responses/{id}
RESPONSE_PREFIXES = ("/v1/responses/", "/responses/")


async def count_tokens(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    """POST /v1/messages/count_tokens: Anthropic's exact count from an Anthropic deployment, else an
    estimate (rin.codecs.anthropic_request.estimate_tokens); `x-rin-token-count` says which."""
    from rin.codecs.anthropic_request import estimate_tokens, messages_to_chat  # /v1/messages' own
    from rin.providers.anthropic import headers as anthropic_headers
    from rin.providers.anthropic import messages_url

    body = parse_json_body(await app.read_body(scope, receive))
    messages_to_chat({"max_tokens": 1, **body}, native_ok=True)  # the same validation as /v1/messages
    model = body["model"]
    key = scope.get("rin.key")
    if key is not None and (pending := app.rt.admit_key(key, ChatRequest({}, model))) is not None:
        await pending  # the key's models and rpm, as for a model call (not billed: no tokens)
    config = app.rt.config
    if model not in config.groups and (loading := app.rt.pending_catalog) is not None:
        await loading.wait()  # the cached catalogue start-up left loading may bring it
        config = app.rt.config
    if model not in config.groups:
        raise ModelNotFound(f"The model '{model}' does not exist on this gateway. "
                            "List the available models with GET /v1/models.", param="model")
    cooling = app.rt.router.cooldowns.snapshot()
    deps = [d for d in config.enabled(model) if d.id not in cooling] or config.enabled(model)
    dep = next((d for d in deps if d.provider == "anthropic"), None)
    headers = [("x-rin-request-id", rid)]
    if dep is None:
        answer = orjson.dumps({"input_tokens": estimate_tokens(body)})
        await send_bytes(send, 200, answer, JSON, headers + [("x-rin-token-count", "estimate")])
        return
    out = dict(body, model=dep.provider_model)
    up_headers = anthropic_headers(dep)
    for name, value in scope["headers"]:
        if name in (b"anthropic-version", b"anthropic-beta"):
            up_headers[name.decode()] = value.decode("latin-1")
    up = UpstreamRequest("POST", messages_url(dep.api_base) + "/count_tokens", up_headers, orjson.dumps(out))
    timeout = dep.timeout or config.router.timeout
    resp = await app.rt.transport.send(up, dep.label, timeout)
    if resp.status >= 300:
        raise PROVIDERS[dep.provider].adapter.classify_error(resp.status, resp.headers, resp.body)
    await send_bytes(send, 200, resp.body, JSON, headers + [("x-rin-token-count", "exact"),
                                                             ("x-rin-model", dep.label)])


def _response_id(path: str) -> str:
    for prefix in RESPONSE_PREFIXES:
        if path.startswith(prefix):
            found = path[len(prefix):]
            if found and "/" not in found:
                return found
    raise RouteNotFound(f"There is no route {path}. Stored responses live at /v1/responses/{{id}}.")


def _owner(scope: dict[str, Any]) -> str:
    key = scope.get("rin.key")
    return key.key_hash if key is not None else ""


async def get_response(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    """GET /v1/responses/{id}: a response this caller stored (another key's is simply not found)."""
    response_id = _response_id(scope["rin.path"])
    found = await app.rt.responses.find(response_id, _owner(scope))
    if found is None:
        raise _not_found(response_id)
    await send_bytes(send, 200, orjson.dumps(found[0]), JSON, [("x-rin-request-id", rid)])


async def delete_response(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    response_id = _response_id(scope["rin.path"])
    if not await app.rt.responses.delete(response_id, _owner(scope)):
        raise _not_found(response_id)
    body = {"id": response_id, "object": "response.deleted", "deleted": True}
    await send_bytes(send, 200, orjson.dumps(body), JSON, [("x-rin-request-id", rid)])


def _not_found(response_id: str) -> RinError:
    return InvalidRequest(f"No response found with id '{response_id}'.", param="response_id",
                          code="not_found", status=404)
