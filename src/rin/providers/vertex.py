"""Google Vertex AI: Gemini models (generateContent, through the Gemini translation), Anthropic's
Claude models from the Model Garden (the Messages API body on Vertex's rawPredict URLs), and
Google's embedding models (predict).

Every call carries `Authorization: Bearer <access token>`, read from the deployment's credential
without I/O (rin.providers.vertex_auth fetches and refreshes it in the background). URLs are
`{root}/v1/projects/{project}/locations/{location}/publishers/{google|anthropic}/models/{model}:{method}`
where the root is the region's host or the config's api_base; an api_base that already names a
project path (LiteLLM's form, e.g. behind Cloudflare's AI Gateway) gets only `:{method}` appended.
A numeric model id is a tuned model's endpoint (`.../endpoints/{id}`). Errors come in Google's
envelope, or, from Claude itself, in Anthropic's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rin.errors import CredentialRefreshFailed, InvalidRequest, UpstreamError, UpstreamProtocolError
from rin.params import effective_body
from rin.providers.anthropic import AnthropicAdapter
from rin.providers.anthropic import translate_body as anthropic_body
from rin.providers.anthropic_native import AnthropicMessagesNative
from rin.providers.anthropic_response import AnthropicStreamParser
from rin.providers.gemini import embedding_texts, generate_content, parse_generate_content
from rin.providers.gemini_response import GeminiStreamParser, classify_error, response_json
from rin.types import ChatRequest, ChatResult, Deployment, StreamParser, UpstreamRequest, Usage

#: the Messages API version Vertex AI takes, in the body instead of a header
ANTHROPIC_VERSION = "vertex-2023-10-16"


class VertexAdapter:
    name = "vertex_ai"

    def __init__(self, anthropic: AnthropicAdapter | None = None) -> None:
        self._anthropic = anthropic or AnthropicAdapter()

    def build_chat(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        if is_claude(dep):
            body = anthropic_body(effective_body(req, dep), req, dep)
            return claude_request(body, req.stream, dep, headers(dep))
        return generate_content(req, dep, lambda method: model_url(dep, "google", method), headers(dep))

    def parse_chat(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        if is_claude(dep):
            return self._anthropic.parse_chat(body, req, dep)
        return parse_generate_content(body, dep)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> StreamParser:
        if is_claude(dep):
            return AnthropicStreamParser(dep.provider_model)
        return GeminiStreamParser(dep.provider_model)

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        return None

    def native(self, endpoint: str, dep: Deployment) -> VertexMessages | None:
        """Claude speaks the Messages API on Vertex too: such requests pass through."""
        return _MESSAGES if endpoint == "messages" and is_claude(dep) else None

    def build_embeddings(self, body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
        if is_claude(dep):
            raise InvalidRequest(f"'{dep.model_name}' is a Claude model, which has no embeddings: pick an "
                                 "embedding model (e.g. vertex_ai/text-embedding-005) for /v1/embeddings.",
                                 param="model")
        instance: dict[str, Any] = {}
        if isinstance(body.get("task_type"), str):  # RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT, ...
            instance["task_type"] = body["task_type"]
        out: dict[str, Any] = {"instances": [{"content": text, **instance} for text in embedding_texts(body)]}
        if body.get("dimensions") is not None:
            out["parameters"] = {"outputDimensionality": body["dimensions"]}
        return UpstreamRequest("POST", model_url(dep, "google", "predict"), headers(dep), orjson.dumps(out))

    def parse_embeddings(self, body: bytes, dep: Deployment) -> tuple[bytes, Usage | None]:
        return embeddings_json(body, dep.provider_model)

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        if _anthropic_envelope(body):  # Claude's own errors pass through Vertex unchanged
            return self._anthropic.classify_error(status, headers, body)
        return classify_error(status, headers, body, service="Vertex AI")


class VertexMessages(AnthropicMessagesNative):
    """The client's Messages body to Vertex's Claude: the model moves into the URL, the API
    version into the body."""

    def __init__(self) -> None:
        super().__init__(headers, lambda api_base: api_base)

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        out = headers(dep)
        if req.forward_headers:
            out.update({k: v for k, v in req.forward_headers.items() if k.lower() != "anthropic-version"})
        return claude_request(self.body(req, dep), req.stream, dep, out)


def is_claude(dep: Deployment) -> bool:
    return dep.provider_model.startswith("claude")


def claude_request(body: dict[str, Any], stream: bool, dep: Deployment, out: dict[str, str]) -> UpstreamRequest:
    body.pop("model", None)
    body["anthropic_version"] = ANTHROPIC_VERSION
    if stream:
        body["stream"] = True
    method = "streamRawPredict" if stream else "rawPredict"
    return UpstreamRequest("POST", model_url(dep, "anthropic", method), out, orjson.dumps(body), stream)


def model_url(dep: Deployment, publisher: str, method: str) -> str:
    base = dep.api_base.rstrip("/")
    if "/projects/" in base:
        return f"{base}:{method}"
    model = dep.provider_model
    target = f"endpoints/{model}" if model.isdigit() else f"publishers/{publisher}/models/{model}"
    project, location = dep.options["project"], dep.options["location"]
    return f"{base}/v1/projects/{project}/locations/{location}/{target}:{method}"


def headers(dep: Deployment) -> dict[str, str]:
    """JSON, and the access token the background refresh keeps (CredentialRefreshFailed when none)."""
    if dep.credential is None:
        raise CredentialRefreshFailed(f"{dep.label} has no Google credential (vertex_credentials).")
    out = {"content-type": "application/json", "authorization": f"Bearer {dep.credential.current()}"}
    out.update(dep.extra_headers)
    return out


def embeddings_json(body: bytes, model: str) -> tuple[bytes, Usage]:
    """predict's `{"predictions": [{"embeddings": {"values", "statistics": {"token_count"}}}]}` as an
    OpenAI embeddings list, with the token counts as usage."""
    data = response_json(body)
    predictions = data.get("predictions")
    if not isinstance(predictions, list):
        raise UpstreamProtocolError("Vertex AI answered predict without 'predictions'")
    items, tokens = [], 0
    for i, prediction in enumerate(predictions):
        embedding = prediction.get("embeddings") if isinstance(prediction, dict) else None
        embedding = embedding if isinstance(embedding, dict) else {}
        stats = embedding.get("statistics") if isinstance(embedding.get("statistics"), dict) else {}
        tokens += int(stats.get("token_count") or 0)
        items.append({"object": "embedding", "index": i, "embedding": embedding.get("values") or []})
    out = {"object": "list", "data": items, "model": model,
           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return orjson.dumps(out), Usage(prompt_tokens=tokens, total_tokens=tokens)


def _anthropic_envelope(body: bytes) -> bool:
    """`{"type": "error", "error": {"type": ...}}` (Anthropic), not `{"error": {"code", "status"}}` (Google)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("type") == "error" and isinstance(data.get("error"), dict)


_MESSAGES = VertexMessages()
