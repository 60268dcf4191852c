"""OpenAI's chat completions and embeddings wire format; the base of every OpenAI-compatible provider."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
import time

import orjson

from rin.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    UpstreamAuthError,
    UpstreamError,
    UpstreamProtocolError,
    upstream_error_for_status,
)
from rin.params import effective_body
from rin.providers.base import json_object
from rin.providers.openai_native import OpenAINative
from rin.types import ChatRequest, ChatResult, Deployment, SSEEvent, UpstreamRequest, Usage

#: body fields a client may send to LiteLLM-style gateways that must never reach a provider:
#: routing hints RIN handles itself, and anything that could redirect a request or its key
_GATEWAY_FIELDS = frozenset({
    "api_base", "base_url", "api_key", "api_version", "extra_headers", "headers", "custom_llm_provider",
    "fallbacks", "context_window_fallbacks", "num_retries", "timeout", "cache", "caching",
    "mock_response", "metadata_rin", "drop_params", "max_retries",
})

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")

#: OpenAI's media endpoints and the rerank path compatible servers (TEI, vLLM, Jina) use
_MEDIA_PATHS = {"transcriptions": "/audio/transcriptions", "translations": "/audio/translations",
                "speech": "/audio/speech", "images": "/images/generations", "image_edits": "/images/edits",
                "rerank": "/rerank"}


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms`, `retry-after` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def parse_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    details = raw.get("prompt_tokens_details") or {}
    out_details = raw.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(raw.get("total_tokens") or prompt + completion),
        cached_tokens=int(details.get("cached_tokens") or 0),
        cache_write_tokens=int(details.get("cache_write_tokens") or 0),
        reasoning_tokens=int(out_details.get("reasoning_tokens") or 0),
        provider_cost=_decimal(raw.get("cost")),
    )


class OpenAIStreamParser:
    """Relays OpenAI chunks as they are; holds back the usage-only chunk; stops at [DONE]."""

    __slots__ = ("adapter", "usage", "usage_chunk", "done", "provider_model")

    def __init__(self, adapter: "OpenAIAdapter") -> None:
        self.adapter = adapter
        self.usage: Usage | None = None
        self.usage_chunk: bytes | None = None
        self.done = False
        self.provider_model: str | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"{self.adapter.name} sent a stream event that is not JSON: {data[:80]!r}"
            ) from None
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError(f"{self.adapter.name} sent a stream event that is not an object")
        if self.provider_model is None:
            self.provider_model = chunk.get("model")
        raw_usage = chunk.get("usage")
        if raw_usage:
            self.usage = parse_usage(raw_usage)
        if chunk.get("error"):
            raise self.adapter.error_from_body(200, {}, chunk, usage=self.usage)
        if raw_usage and not chunk.get("choices"):
            self.usage_chunk = data.encode()
            return []
        return [data.encode()]

    def finish(self) -> list[bytes]:
        if not self.done:
            raise UpstreamProtocolError(
                f"{self.adapter.name} closed the stream before it finished ([DONE] never came)"
            )
        return []


class OpenAIAdapter:
    name = "openai"
    usage = staticmethod(parse_usage)
    gateway_fields = _GATEWAY_FIELDS

    def __init__(self) -> None:
        self._responses = OpenAINative(self, "/responses")
        self._completions = OpenAINative(self, "/completions")

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if dep.api_key:
            headers["authorization"] = "Bearer " + dep.api_key.get()
        headers.update(dep.extra_headers)
        return headers

    def url(self, dep: Deployment, path: str) -> str:
        return dep.api_base.rstrip("/") + path

    def prepare_body(self, body: dict[str, Any], dep: Deployment) -> None:
        """Provider-specific adjustments, in place (max_tokens vs max_completion_tokens)."""
        if dep.provider == "openai":
            if dep.provider_model.startswith(_REASONING_PREFIXES) and "max_tokens" in body:
                body.setdefault("max_completion_tokens", body.pop("max_tokens"))
        elif "max_completion_tokens" in body:
            body.setdefault("max_tokens", body.pop("max_completion_tokens"))

    def build_chat(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        body = effective_body(req, dep)
        for key in _GATEWAY_FIELDS.intersection(body):
            del body[key]
        self.prepare_body(body, dep)
        if req.stream:
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        else:
            body.pop("stream_options", None)
        return UpstreamRequest(
            "POST", self.url(dep, "/chat/completions"), self.headers(dep), orjson.dumps(body), req.stream
        )

    def parse_chat(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        data = self.json_object(body)
        if data.get("error") and not data.get("choices"):
            raise self.error_from_body(200, {}, data, usage=parse_usage(data.get("usage")))
        if not isinstance(data.get("choices"), list):
            raise UpstreamProtocolError(f"{self.name} answered without 'choices'")
        return ChatResult(body, parse_usage(data.get("usage")), data.get("model"), data)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> OpenAIStreamParser:
        return OpenAIStreamParser(self)

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        """Where `dep` serves a media endpoint or rerank (rin.codecs.media), in OpenAI's wire format."""
        path = _MEDIA_PATHS.get(endpoint)
        if path is None:
            return None
        if dep.provider == "cohere":  # rerank only, on Cohere's own v2 API beside the compatibility one
            base = dep.api_base.rstrip("/").removesuffix("/compatibility/v1")
            return base + "/v2/rerank" if endpoint == "rerank" else None
        return self.url(dep, path)

    def native(self, endpoint: str, dep: Deployment) -> OpenAINative | None:
        """The Responses API passes through to OpenAI itself; legacy completions to deployments
        that serve them (`text-completion-openai/`, or `model_info.mode: completion`)."""
        if endpoint == "responses" and dep.provider == "openai":
            return self._responses
        if endpoint == "completions" and (dep.info.mode == "completion" or dep.provider == "text-completion-openai"):
            return self._completions
        return None

    def build_embeddings(self, body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if k not in _GATEWAY_FIELDS and k not in dep.additional_drop_params}
        out["model"] = dep.provider_model
        return UpstreamRequest("POST", self.url(dep, "/embeddings"), self.headers(dep), orjson.dumps(out))

    def parse_embeddings(self, body: bytes, dep: Deployment) -> tuple[bytes, Usage | None]:
        data = self.json_object(body)
        if not isinstance(data.get("data"), list):
            raise UpstreamProtocolError(f"{self.name} answered embeddings without 'data'")
        return body, parse_usage(data.get("usage"))

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return upstream_error_for_status(
                status, f"{self.name} returned HTTP {status}", retry_after=parse_retry_after(headers)
            )
        return self.error_from_body(status, headers, data)

    def error_from_body(
        self, status: int, headers: Mapping[str, str], data: dict[str, Any], usage: Usage | None = None
    ) -> UpstreamError:
        err = data.get("error")
        if err is None and isinstance(data.get("message"), str):
            err = data  # vLLM and some other OpenAI-compatible servers: {"object": "error", "message": ...}
        if not isinstance(err, dict):
            err = {"message": str(err) if err else None}
        code = err.get("code")
        # OpenRouter puts the HTTP status in error.code, also inside 200 streams
        effective = code if isinstance(code, int) and 400 <= code < 600 else status
        if effective < 400:
            effective = 502
        code_str = code if isinstance(code, str) else None
        retry_after = parse_retry_after(headers)
        if effective in (401, 403):
            return UpstreamAuthError(
                f"{self.name} rejected the API key configured for this model (HTTP {effective}); "
                "check the key in the server's environment.",
                upstream_status=effective,
            )
        message = f"{self.name} returned HTTP {effective}: {err.get('message') or 'no message'}"
        param = err.get("param") if isinstance(err.get("param"), str) else None
        if code_str == "context_length_exceeded":
            error: UpstreamError = ContextWindowExceeded(message, upstream_status=effective, param=param)
        elif code_str == "content_policy_violation" or err.get("type") == "content_policy_violation":
            error = ContentPolicyViolation(message, upstream_status=effective, param=param)
        else:
            error = upstream_error_for_status(
                effective, message, retry_after=retry_after, code=code_str, param=param
            )
        error.usage = usage
        return error

    def json_object(self, body: bytes) -> dict[str, Any]:
        return json_object(body, f"{self.name} answered")
