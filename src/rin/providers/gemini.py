"""Google's Gemini API (generateContent / streamGenerateContent) behind RIN's OpenAI-shaped requests.

Requests are rebuilt field by field in `gemini_request` (messages become `contents` plus a
`systemInstruction`, sampling settings a `generationConfig`, tools `functionDeclarations`). A
deployment whose api_base ends in `/openai` is Google's OpenAI-compatible endpoint (LiteLLM configs
written that way keep working): those requests go through the OpenAI adapter unchanged. Answers,
stream events and errors are translated in `gemini_response`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
import time

import orjson

from rin.errors import InvalidRequest, UpstreamError
from rin.params import effective_body
from rin.providers.base import NativeProtocol
from rin.providers.gemini_request import translate_body
from rin.providers.gemini_response import (
    GeminiStreamParser,
    chat_completion,
    classify_error,
    embeddings_json,
    response_json,
)
from rin.providers.openai import OpenAIAdapter
from rin.types import ChatRequest, ChatResult, Deployment, StreamParser, UpstreamRequest, Usage

DEFAULT_API_BASE = "https://generativelanguage.googleapis.com/v1beta"


class GeminiAdapter:
    name = "gemini"

    def __init__(self, openai: OpenAIAdapter | None = None) -> None:
        #: for deployments on Google's OpenAI-compatible endpoint (`.../v1beta/openai`)
        self._openai = openai or OpenAIAdapter()

    def build_chat(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        if _openai_compatible(dep):
            return self._openai.build_chat(req, dep)
        return generate_content(req, dep, lambda method: model_url(dep, method), headers(dep))

    def parse_chat(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        if _openai_compatible(dep):
            return self._openai.parse_chat(body, req, dep)
        return parse_generate_content(body, dep)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> StreamParser:
        if _openai_compatible(dep):
            return self._openai.stream_parser(req, dep)
        return GeminiStreamParser(dep.provider_model)

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        return None

    def native(self, endpoint: str, dep: Deployment) -> NativeProtocol | None:
        return None

    def build_embeddings(self, body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
        if _openai_compatible(dep):
            return self._openai.build_embeddings(body, dep)
        texts = embedding_texts(body)
        model = "models/" + dep.provider_model
        dims = body.get("dimensions")
        requests = []
        for text in texts:
            one: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
            if dims is not None:
                one["outputDimensionality"] = dims
            requests.append(one)
        out = orjson.dumps({"requests": requests})
        return UpstreamRequest("POST", model_url(dep, "batchEmbedContents"), headers(dep), out)

    def parse_embeddings(self, body: bytes, dep: Deployment) -> tuple[bytes, Usage | None]:
        if _openai_compatible(dep):
            return self._openai.parse_embeddings(body, dep)
        return embeddings_json(body, dep.provider_model)

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        # the OpenAI-compatible endpoint answers errors as a list of Google envelopes, or as one
        return classify_error(status, headers, body)


def embedding_texts(body: dict[str, Any]) -> list[str]:
    """An embeddings request's `input` as a list of strings (Google's models take no token arrays)."""
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest(
            "Gemini embeddings take 'input' as a string or a list of strings (not token arrays).",
            param="input",
        )
    return texts


def _openai_compatible(dep: Deployment) -> bool:
    return dep.api_base.rstrip("/").endswith("/openai")


def model_url(dep: Deployment, method: str) -> str:
    model = dep.provider_model.removeprefix("models/")
    return f"{dep.api_base.rstrip('/')}/models/{model}:{method}"


def headers(dep: Deployment) -> dict[str, str]:
    out = {"content-type": "application/json"}
    if dep.api_key:
        out["x-goog-api-key"] = dep.api_key.get()
    out.update(dep.extra_headers)
    return out


def generate_content(
    req: ChatRequest, dep: Deployment, url: Callable[[str], str], upstream_headers: dict[str, str]
) -> UpstreamRequest:
    """The generateContent (or streamGenerateContent) call for `req`; `url(method)` says where the
    model lives (the Gemini API here, Vertex AI in rin.providers.vertex)."""
    body = translate_body(effective_body(req, dep))
    if req.stream and "candidateCount" in body.get("generationConfig", {}):
        raise InvalidRequest("Gemini streams one choice: 'n' must be 1 when streaming.", param="n")
    method = "streamGenerateContent?alt=sse" if req.stream else "generateContent"
    return UpstreamRequest("POST", url(method), upstream_headers, orjson.dumps(body), req.stream)


def parse_generate_content(body: bytes, dep: Deployment) -> ChatResult:
    """A GenerateContentResponse as a chat.completion."""
    data = response_json(body)
    chat, usage = chat_completion(data, dep.provider_model, int(time.time()))
    return ChatResult(orjson.dumps(chat), usage, data.get("modelVersion"), chat)
