"""Cloudflare Workers AI (`cloudflare/@cf/<model>`): its OpenAI-compatible endpoint,
`https://api.cloudflare.com/client/v4/accounts/{account}/ai/v1` (chat completions and embeddings),
with the API token as a Bearer token.

LiteLLM calls the native `.../ai/run/` API instead; a config written for it (an api_base ending in
`/ai/run`) is pointed at the compatible one beside it. Cloudflare's own error envelope,
`{"errors": [{"code", "message"}], "success": false}`, is read as OpenAI's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rin.errors import UpstreamError
from rin.providers.openai import OpenAIAdapter
from rin.types import Deployment, Usage


class CloudflareAdapter(OpenAIAdapter):
    name = "cloudflare"

    def url(self, dep: Deployment, path: str) -> str:
        base = dep.api_base.rstrip("/")
        if base.endswith("/ai/run"):
            base = base.removesuffix("/run") + "/v1"
        return base + path

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        return None  # the compatible endpoint serves chat and embeddings only

    def native(self, endpoint: str, dep: Deployment) -> Any:
        return None

    def error_from_body(
        self, status: int, headers: Mapping[str, str], data: dict[str, Any], usage: Usage | None = None
    ) -> UpstreamError:
        errors = data.get("errors")
        if "error" not in data and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            data = {"error": {"message": first.get("message"), "code": str(first.get("code"))}}
        return super().error_from_body(status, headers, data, usage)
