"""An upstream error names the deployment's provider, also when one OpenAI-compatible adapter
serves it (groq, jina_ai, hosted_vllm, ...): "groq returned HTTP 500", never "openai"."""

from __future__ import annotations

import orjson

from rin.codecs import CHAT
from rin.types import Deployment


def dep(provider: str) -> Deployment:
    return Deployment("m", provider, "some-model", "http://127.0.0.1:9/v1", f"{provider}-1")


def test_the_message_names_the_deployments_provider() -> None:
    body = orjson.dumps({"error": {"message": "overloaded", "type": "server_error"}})
    assert CHAT.classify_error(dep("groq"), 500, {}, body).message == "groq returned HTTP 500: overloaded"
    assert CHAT.classify_error(dep("jina_ai"), 404, {}, b"not json").message == "jina_ai returned HTTP 404"
    assert CHAT.classify_error(dep("openai"), 500, {}, body).message == "openai returned HTTP 500: overloaded"
