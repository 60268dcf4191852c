"""OpenRouter: OpenAI's wire format plus attribution headers, `usage.cost`, and errors that can
arrive inside an HTTP 200 stream (handled by the OpenAI stream parser's `error` check)."""

from __future__ import annotations

from collections.abc import Mapping

from rin.providers.openai import OpenAIAdapter
from rin.types import Deployment

DEFAULT_SITE_URL = "http://localhost:3000"
DEFAULT_APP_NAME = "RIN - Rhyzomic Intelligence Node"


def attribution_headers(env: Mapping[str, str]) -> dict[str, str]:
    """The headers OpenRouter uses to attribute traffic to an app, from the guide's variables."""
    site = env.get("OPENROUTER_SITE_URL") or DEFAULT_SITE_URL
    app = env.get("OPENROUTER_APP_NAME") or DEFAULT_APP_NAME
    return {"HTTP-Referer": site, "X-Title": app, "X-OpenRouter-Title": app}


class OpenRouterAdapter(OpenAIAdapter):
    name = "openrouter"

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        return None  # OpenRouter serves chat (image models through chat's modalities), not these

    def prepare_body(self, body: dict, dep) -> None:  # type: ignore[override]
        # OpenRouter accepts both; keep what the client sent.
        return None
