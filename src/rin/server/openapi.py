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
_ANTHROPIC_ERROR = {"description": "an error in Anthropic's shape",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnthropicError"}}}}
_BLOCKS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}
_MESSAGES = {
    "type": "object", "required": ["model", "messages", "max_tokens"],
    "properties": {
        "model": {"type": "string"}, "max_tokens": {"type": "integer", "minimum": 1},
        "messages": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["role", "content"],
            "properties": {"role": {"type": "string", "enum": ["user", "assistant"]}, "content": _BLOCKS}}},
        "system": _BLOCKS, "stream": {"type": "boolean"}, "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1}, "top_k": {"type": "integer", "minimum": 0},
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
        "tools": {"type": "array", "items": {"type": "object"}}, "tool_choice": {"type": "object"},
        "thinking": {"type": "object"}, "metadata": {"type": "object", "properties": {"user_id": {"type": "string"}}},
    },
}
_COUNT = {"type": "object", "required": ["model", "messages"],
          "properties": {k: v for k, v in _MESSAGES["properties"].items() if k not in ("max_tokens", "stream")}}
_RESPONSES = {
    "type": "object", "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"}, "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "instructions": {"type": "string"}, "stream": {"type": "boolean"}, "store": {"type": "boolean"},
        "previous_response_id": {"type": "string"}, "max_output_tokens": {"type": "integer", "minimum": 1},
        "tools": {"type": "array", "items": {"type": "object"}}, "text": {"type": "object"},
        "reasoning": {"type": "object"}, "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1}, "user": {"type": "string"},
    },
}
_COMPLETIONS = {
    "type": "object", "required": ["model", "prompt"],
    "properties": {
        "model": {"type": "string"}, "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "suffix": {"type": "string"}, "max_tokens": {"type": "integer", "minimum": 1}, "stream": {"type": "boolean"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2}, "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "n": {"type": "integer", "minimum": 1}, "user": {"type": "string"},
    },
}
_RESPONSE_ID = [{"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}]
_AUDIO_FORM = {
    "type": "object", "required": ["file", "model"],
    "properties": {"file": {"type": "string", "format": "binary"}, "model": {"type": "string"},
                   "language": {"type": "string"}, "prompt": {"type": "string"},
                   "response_format": {"type": "string", "enum": ["json", "text", "srt", "verbose_json", "vtt"]},
                   "temperature": {"type": "number", "minimum": 0, "maximum": 1}},
}
_SPEECH = {
    "type": "object", "required": ["model", "input", "voice"],
    "properties": {"model": {"type": "string"}, "input": {"type": "string", "maxLength": 4096},
                   "voice": {"type": "string"}, "instructions": {"type": "string"},
                   "response_format": {"type": "string", "enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"]},
                   "speed": {"type": "number", "minimum": 0.25, "maximum": 4}},
}
_IMAGES = {
    "type": "object", "required": ["model", "prompt"],
    "properties": {"model": {"type": "string"}, "prompt": {"type": "string"},
                   "n": {"type": "integer", "minimum": 1, "maximum": 10}, "size": {"type": "string"},
                   "quality": {"type": "string"}, "response_format": {"type": "string", "enum": ["url", "b64_json"]},
                   "user": {"type": "string"}},
}
_IMAGE_EDIT_FORM = {
    "type": "object", "required": ["image", "prompt", "model"],
    "properties": {"image": {"type": "string", "format": "binary"}, "mask": {"type": "string", "format": "binary"},
                   "prompt": {"type": "string"}, "model": {"type": "string"}, "n": {"type": "integer"},
                   "size": {"type": "string"}},
}
_RERANK = {
    "type": "object", "required": ["model", "query", "documents"],
    "properties": {"model": {"type": "string"}, "query": {"type": "string"},
                   "documents": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                   "top_n": {"type": "integer", "minimum": 1}, "return_documents": {"type": "boolean"}},
}


def _multipart(op: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    return op


def _anthropic(op: dict[str, Any]) -> dict[str, Any]:
    """An operation of the Anthropic protocol: its errors in Anthropic's shape, x-api-key accepted."""
    op["responses"] = {k: (v if k == "200" else _ANTHROPIC_ERROR) for k, v in op["responses"].items()}
    op["security"] = [{"bearer": []}, {"x-api-key": []}]
    return op


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "RIN (Rhyzomic Intelligence Node)", "version": __version__,
             "description": "An OpenAI-compatible LLM gateway."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                            "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["message", "type"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                           "param": {"type": "string", "nullable": True},
                           "code": {"type": "string", "nullable": True}}}}},
            "AnthropicError": {"type": "object", "required": ["type", "error"], "properties": {
                "type": {"type": "string", "enum": ["error"]}, "error": {
                    "type": "object", "required": ["type", "message"],
                    "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/chat/completions": {"post": _op("Chat completion (JSON, or SSE with stream: true)", body=_CHAT)},
        "/v1/embeddings": {"post": _op("Embeddings", body=_EMBED)},
        "/v1/messages": {"post": _anthropic(_op("Anthropic Messages API, to any model (JSON, or SSE with stream: true)",
                                                body=_MESSAGES))},
        "/v1/messages/count_tokens": {"post": _anthropic(_op(
            "Input tokens of a Messages request: exact from Anthropic, estimated elsewhere", body=_COUNT))},
        "/v1/responses": {"post": _op("OpenAI Responses API, to any model (JSON, or SSE with stream: true)",
                                      body=_RESPONSES)},
        "/v1/responses/{response_id}": {"get": _op("A stored response of this caller", params=_RESPONSE_ID),
                                        "delete": _op("Delete a stored response of this caller", params=_RESPONSE_ID)},
        "/v1/completions": {"post": _op("Legacy text completions (JSON, or SSE with stream: true)", body=_COMPLETIONS)},
        "/v1/audio/transcriptions": {"post": _multipart(_op("Speech to text (billed per second)"), _AUDIO_FORM)},
        "/v1/audio/translations": {"post": _multipart(_op("Speech to English text (billed per second)"),
                                                      _AUDIO_FORM)},
        "/v1/audio/speech": {"post": _op("Text to speech: the audio streams back (billed per character)",
                                         body=_SPEECH)},
        "/v1/images/generations": {"post": _op("Image generation (billed per image or token)", body=_IMAGES)},
        "/v1/images/edits": {"post": _multipart(_op("Image edits (billed per image or token)"), _IMAGE_EDIT_FORM)},
        "/v1/rerank": {"post": _op("Rerank documents against a query (Cohere / Jina shape)", body=_RERANK)},
        "/v1/models": {"get": _op("Models, with RIN's metadata")},
        "/model/info": {"get": _op("Every deployment and its status")},
        "/spend/logs": {"get": _op("Ledger rows, newest first", params=[
            _query("model", {"type": "string"}), _query("user", {"type": "string"}), _query("api_key", {"type": "string"}),
            _query("endpoint", {"type": "string", "enum": ["chat", "embeddings", "messages", "responses", "completions"]}),
            _query("start_date", _DATE), _query("end_date", _DATE),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000})])},
        "/spend/report": {"get": _op("Spend grouped by model, provider, day or user", params=[
            _query("group_by", {"type": "string", "enum": ["model", "provider", "day", "user", "key", "endpoint"]}),
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
        for path, op in spec["paths"].items():
            body = op.get("post", {}).get("requestBody", {}).get("content", {})
            for form in body.values():
                if "model" in form["schema"].get("properties", {}):
                    form["schema"]["properties"]["model"] = {"type": "string", "enum": sorted(models)}
    return spec
