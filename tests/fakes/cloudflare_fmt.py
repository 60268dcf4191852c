"""Cloudflare Workers AI's OpenAI-compatible endpoint (`/client/v4/accounts/{id}/ai/v1/...`).

Answers in OpenAI's shapes (developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility);
the key is a Bearer API token. Errors use Cloudflare's v4 envelope, `{"errors": [{"code", "message"}],
"success": false, "result": null, "messages": []}`: the codes here (10000 authentication, 3040
capacity, 3043 internal) are Cloudflare's documented Workers AI codes as far as public pages show
them; the envelope on the /ai/v1 paths is an assumption carried over from the v4 API.
"""

from __future__ import annotations

from .faults import Fault
from .openai_fmt import OpenAIFormat, is_bad_key
from .wire import Reply, dumps


def error_body(code: int, message: str) -> bytes:
    return dumps({"errors": [{"code": code, "message": message}], "success": False, "result": None,
                  "messages": []})


class CloudflareFormat(OpenAIFormat):
    name = "cloudflare"

    def headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {"Content-Type": content_type, "cf-ray": "8f1e2d3c4b5a6978-AMS"}

    def auth_error(self, headers: object) -> Reply | None:
        auth = headers.get("Authorization")  # type: ignore[attr-defined]
        if not auth or is_bad_key(auth):
            return self.error(Fault("status", status=401), "")
        return None

    def error(self, fault: Fault, model: str) -> Reply:
        headers, status = self.headers(), fault.status
        if fault.kind in ("ctx-overflow", "content-policy") or status in (400, 403):
            return super().error(fault, model)
        if status == 401:
            return Reply(401, error_body(10000, "Authentication error"), headers)
        if status == 429:
            headers["Retry-After"] = str(fault.retry_after)
            return Reply(429, error_body(3040, "Capacity temporarily exceeded, please try again."), headers)
        return Reply(status if status >= 500 else 500, error_body(3043, "Internal server error"), headers)

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, error_body(7003, "Could not route to " + path), self.headers())
