"""GET /openapi.json: RIN's own API, described for clients and for fuzzing (tests/security)."""

from __future__ import annotations

from typing import Any

from rin import __version__

_ERROR = {"description": "an error in OpenAI's shape",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_JSON_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}


def _op(summary: str, ok: str = "OK", body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, public: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        "200": {"description": ok, **_JSON_OBJECT}, "400": _ERROR, "401": _ERROR, "404": _ERROR, "413": _ERROR,
        "429": _ERROR, "502": _ERROR, "503": _ERROR, "504": _ERROR}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []
    return op


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


_MESSAGE = {
    "type": "object", "required": ["role", "content"],
    "properties": {"role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
                   "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
                   "name": {"type": "string"}, "tool_call_id": {"type": "string"}},
}
_CHAT = {
    "type": "object", "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string"}, "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "stream": {"type": "boolean"}, "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_tokens": {"type": "integer", "minimum": 1}, "max_completion_tokens": {"type": "integer", "minimum": 1},
        "n": {"type": "integer", "minimum": 1}, "stop": {"oneOf": [{"type": "string"},
                                                               {"type": "array", "items": {"type": "string"}}]},
        "user": {"type": "string"}, "tools": {"type": "array", "items": {"type": "object"}},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
    },
}
_EMBED = {"type": "object", "required": ["model", "input"],
          "properties": {"model": {"type": "string"},
                         "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}}
_DATE = {"type": "string"}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "RIN (Rhyzomic Intelligence Node)", "version": __version__,
             "description": "An OpenAI-compatible LLM gateway."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["message", "type"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                           "param": {"type": "string", "nullable": True},
                           "code": {"type": "string", "nullable": True}}}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/chat/completions": {"post": _op("Chat completion (JSON, or SSE with stream: true)", body=_CHAT)},
        "/v1/embeddings": {"post": _op("Embeddings", body=_EMBED)},
        "/v1/models": {"get": _op("Models, with RIN's metadata")},
        "/model/info": {"get": _op("Every deployment and its status")},
        "/spend/logs": {"get": _op("Ledger rows, newest first", params=[
            _query("model", {"type": "string"}), _query("user", {"type": "string"}), _query("api_key", {"type": "string"}),
            _query("start_date", _DATE), _query("end_date", _DATE),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000})])},
        "/spend/report": {"get": _op("Spend grouped by model, provider, day or user", params=[
            _query("group_by", {"type": "string", "enum": ["model", "provider", "day", "user", "key"]}),
            _query("start_date", _DATE)])},
        "/health": {"get": _op("Gateway health", public=True)},
        "/health/liveliness": {"get": _op("Liveness", public=True)},
        "/health/readiness": {"get": _op("Readiness", public=True)},
    },
}


def spec_for(models: list[str]) -> dict[str, Any]:
    """SPEC with `model` limited to the model groups this gateway serves."""
    import copy

    spec = copy.deepcopy(SPEC)
    if models:
        for path in ("/v1/chat/completions", "/v1/embeddings"):
            schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
            schema["properties"]["model"] = {"type": "string", "enum": sorted(models)}
    return spec
