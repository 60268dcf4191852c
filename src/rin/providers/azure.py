"""Azure OpenAI (`azure/<deployment>`) and Azure AI Foundry (`azure_ai/<model>`): OpenAI's wire
format on Azure's URLs and headers.

Azure OpenAI addresses a deployment, not a model: `{api_base}/openai/deployments/{deployment}/...
?api-version=...`, authenticated by an `api-key` header or an Entra ID token as `Authorization:
Bearer`: a static one rin.config puts in the deployment's headers, or one RIN refreshes itself
(rin.providers.azure_entra), read from memory through `dep.credential`. Its content filter speaks in two ways,
both a ContentPolicyViolation here so `content_policy_fallbacks` apply: HTTP 400 with
`error.code: "content_filter"` (`innererror.code: "ResponsibleAIPolicyViolation"`), and a 200
answer whose choice finished with `finish_reason: "content_filter"`. Answers carry
`prompt_filter_results` / `content_filter_results` beside OpenAI's fields; they are relayed, except
the stream's first chunk, which holds only the prompt's filter results (no choices, no usage).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlparse

from rin.errors import ContentPolicyViolation, UpstreamError
from rin.providers.openai import OpenAIAdapter, OpenAIStreamParser, parse_usage
from rin.types import ChatRequest, ChatResult, Deployment, SSEEvent, Usage

import orjson

#: OpenAI's media paths Azure serves under a deployment
_AZURE_MEDIA = {"transcriptions": "/audio/transcriptions", "translations": "/audio/translations",
                "speech": "/audio/speech", "images": "/images/generations", "image_edits": "/images/edits"}

_FILTERED = "content_filter"


def _is_content_filter(err: Mapping[str, Any]) -> bool:
    inner = err.get("innererror")
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    return err.get("code") == _FILTERED or inner_code == "ResponsibleAIPolicyViolation"


def _filtered(adapter: OpenAIAdapter, usage: Usage | None) -> ContentPolicyViolation:
    error = ContentPolicyViolation(
        f"{adapter.name} withheld the answer: Azure's content filter flagged it (finish_reason content_filter)",
        upstream_status=200,
    )
    error.usage = usage
    return error


class AzureStreamParser(OpenAIStreamParser):
    """OpenAI's parser, minus the prompt-filter chunk; and until the answer says anything, chunks are
    held back, so an answer filtered from the start is an error the router can fall back from."""

    __slots__ = ("held", "spoke")

    def __init__(self, adapter: OpenAIAdapter) -> None:
        super().__init__(adapter)
        self.held: list[bytes] = []
        self.spoke = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        out = super().feed(event)
        if not out or self.spoke:
            return out
        chunk = orjson.loads(out[0])
        choices = chunk.get("choices") or []
        if not choices:
            return []  # prompt_filter_results only
        if self.provider_model == "":
            self.provider_model = chunk.get("model") or None
        if any(c.get("finish_reason") == _FILTERED for c in choices if isinstance(c, dict)):
            raise _filtered(self.adapter, self.usage)
        self.held.extend(out)
        if any(_says_something(c) for c in choices if isinstance(c, dict)):
            self.spoke = True
            out, self.held = self.held, []
            return out
        return []

    def finish(self) -> list[bytes]:
        super().finish()
        out, self.held = self.held, []
        return out


def _says_something(choice: Mapping[str, Any]) -> bool:
    delta = choice.get("delta") or {}
    return bool(delta.get("content") or delta.get("tool_calls") or delta.get("refusal")
                or choice.get("finish_reason"))


class AzureAdapter(OpenAIAdapter):
    name = "azure"

    def headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if dep.credential is not None:
            # no I/O: the refresher keeps the token; a failed refresh raises CredentialRefreshFailed
            headers["authorization"] = "Bearer " + dep.credential.current()
        elif dep.api_key:
            headers["api-key"] = dep.api_key.get()
        headers.update(dep.extra_headers)
        return headers

    def url(self, dep: Deployment, path: str) -> str:
        base = dep.api_base.rstrip("/").removesuffix("/openai")
        deployment = quote(dep.provider_model, safe="")
        return f"{base}/openai/deployments/{deployment}{path}?api-version={quote(dep.api_version or '', safe='')}"

    def prepare_body(self, body: dict[str, Any], dep: Deployment) -> None:
        # The deployment name does not say which model it serves: keep the token limit the client
        # chose (Azure's reasoning models want max_completion_tokens, older api-versions max_tokens).
        return None

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        path = _AZURE_MEDIA.get(endpoint)
        return self.url(dep, path) if path else None

    def native(self, endpoint: str, dep: Deployment) -> Any:
        if endpoint == "completions" and dep.info.mode == "completion":
            return self._completions
        return None  # Azure's Responses API lives elsewhere (/openai/v1/responses): translated via chat

    def parse_chat(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        result = super().parse_chat(body, req, dep)
        choices = result.data.get("choices") if result.data else None
        if any(isinstance(c, dict) and c.get("finish_reason") == _FILTERED for c in choices or ()):
            raise _filtered(self, result.usage)
        return result

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> AzureStreamParser:
        return AzureStreamParser(self)

    def error_from_body(
        self, status: int, headers: Mapping[str, str], data: dict[str, Any], usage: Usage | None = None
    ) -> UpstreamError:
        err = data.get("error")
        if isinstance(err, dict) and _is_content_filter(err):
            message = f"{self.name} returned HTTP {status}: {err.get('message') or 'content filtered'}"
            param = err.get("param") if isinstance(err.get("param"), str) else None
            error: UpstreamError = ContentPolicyViolation(message, upstream_status=status or 400, param=param)
            error.usage = usage if usage is not None else parse_usage(data.get("usage"))
            return error
        return super().error_from_body(status, headers, data, usage)


def _uses_api_key_header(api_base: str) -> bool:
    host = urlparse(api_base).hostname or ""
    return host.endswith((".services.ai.azure.com", ".openai.azure.com"))


class AzureAIAdapter(AzureAdapter):
    """Azure AI Foundry's model inference API: OpenAI's chat and embeddings at `{api_base}/chat/completions`
    (`/models/chat/completions` on a bare `*.services.ai.azure.com` resource), `?api-version=` when one is
    configured, the key as `api-key` on Azure's own hosts and as a Bearer token on serverless endpoints
    (as LiteLLM does)."""

    name = "azure_ai"

    def headers(self, dep: Deployment) -> dict[str, str]:
        if _uses_api_key_header(dep.api_base):
            return super().headers(dep)
        return OpenAIAdapter.headers(self, dep)

    def url(self, dep: Deployment, path: str) -> str:
        base = dep.api_base.rstrip("/")
        parsed = urlparse(base)
        if (parsed.hostname or "").endswith(".services.ai.azure.com") and not parsed.path:
            base += "/models"  # a bare resource URL: the model inference API's root
        url = base + path
        return f"{url}?api-version={quote(dep.api_version, safe='')}" if dep.api_version else url

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        return None

    def native(self, endpoint: str, dep: Deployment) -> Any:
        return None
