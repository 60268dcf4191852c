"""The contract every provider adapter keeps, run against each provider's fake through a real
`rin serve`: text, stream, tools, a tool round trip, image input, errors (401 never retried, 429
retried or fallen back from with its Retry-After, 500 retried) and usage in the ledger.

A new provider is one adapter module, its fake format (tests/fakes) and one `Provider` entry below.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from rin.errors import UpstreamAuthError, UpstreamRateLimited, UpstreamServerError
from rin.providers import PROVIDERS
from tests.e2e.conftest import KEYS, deployment
from tests.fakes.anthropic_fmt import AnthropicFormat
from tests.fakes.azure_fmt import AzureFormat
from tests.fakes.bedrock_fmt import BedrockFormat, secret_for
from tests.fakes.cloudflare_fmt import CloudflareFormat
from tests.fakes.faults import Fault
from tests.fakes.gemini_fmt import GeminiFormat
from tests.fakes.media_fmt import PNG
from tests.fakes.openai_fmt import OpenAIFormat
from tests.fakes.openrouter_fmt import OpenRouterFormat
from tests.fakes.vertex_fmt import VertexClaudeFormat, VertexGeminiFormat
from tests.gateway import Gateway


@dataclass(frozen=True)
class Provider:
    name: str
    #: the provider's model id for a behaviour word of the fake ("4o", "tool", "fail-401", ...)
    model: Callable[[str], str]
    base: Callable[[Any], str]
    key_var: str | None
    fake_format: Callable[[], Any]
    params: dict[str, Any] = field(default_factory=dict)
    #: litellm_params made from the running fake (cloud credentials whose token endpoint it serves)
    fake_params: Callable[[Any], dict[str, Any]] | None = None
    #: the test id, when a provider has several entries
    label: str = ""
    #: whether its 429 says when to retry (AWS sends no Retry-After)
    retry_after: bool = True


def vertex_params(fake: Any) -> dict[str, Any]:
    return {"vertex_credentials": fake.google.service_account(fake.google_token_uri),
            "vertex_project": "rin-contract", "vertex_location": "us-east5"}


CONTRACT = [
    Provider("openai", lambda w: f"gpt-{w}", lambda f: f.openai_base, "OPENAI_API_KEY", OpenAIFormat),
    Provider("anthropic", lambda w: f"claude-{w}", lambda f: f.anthropic_base, "ANTHROPIC_API_KEY",
             AnthropicFormat, {"max_tokens": 256}),
    Provider("openrouter", lambda w: f"openai/gpt-{w}", lambda f: f.openrouter_base, "OPENROUTER_API_KEY",
             OpenRouterFormat),
    Provider("azure", lambda w: f"deploy-{w}", lambda f: f.azure_base, "AZURE_API_KEY", AzureFormat,
             {"api_version": "2024-10-21"}),
    Provider("cloudflare", lambda w: f"@cf/meta/llama-{w}", lambda f: f.cloudflare_base("acct-1"),
             "CLOUDFLARE_API_KEY", CloudflareFormat),
    Provider("gemini", lambda w: f"gemini-{w}", lambda f: f.gemini_base, "GEMINI_API_KEY", GeminiFormat),
    Provider("vertex_ai", lambda w: f"gemini-{w}", lambda f: f.vertex_base, None, VertexGeminiFormat,
             fake_params=vertex_params, label="vertex_ai-gemini"),
    Provider("vertex_ai", lambda w: f"claude-{w}@20250929", lambda f: f.vertex_base, None, VertexClaudeFormat,
             fake_params=vertex_params, label="vertex_ai-claude"),
    Provider("bedrock", lambda w: f"anthropic.claude-{w}-v1:0", lambda f: f.bedrock_base, None, BedrockFormat,
             {"aws_region_name": "us-east-1", "aws_access_key_id": "os.environ/RIN_TEST_AWS_KEY_ID",
              "aws_secret_access_key": "os.environ/RIN_TEST_AWS_SECRET"}, retry_after=False),
]
ENV = {**KEYS, "AZURE_API_KEY": "azure-canary-key", "CLOUDFLARE_API_KEY": "cf-canary-token",
       "GEMINI_API_KEY": "gemini-canary-key", "RIN_TEST_AWS_KEY_ID": "AKIAFAKECONTRACT",
       "RIN_TEST_AWS_SECRET": secret_for("AKIAFAKECONTRACT"), "AWS_EC2_METADATA_DISABLED": "true"}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PRICES = {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002,
          "supports_vision": True, "supports_function_calling": True}


def contract_config(fake: Any, p: Provider) -> dict[str, Any]:
    params = {**p.params, **(p.fake_params(fake) if p.fake_params else {})}

    def entry(name: str, word: str, **info: Any) -> dict[str, Any]:
        return deployment(name, f"{p.name}/{p.model(word)}", p.base(fake), p.key_var, **params,
                          model_info=info or None)

    return {
        "model_list": [
            entry("plain", "4o", **PRICES),
            entry("tool", "tool", **PRICES),
            entry("unauthorized", "fail-401"),
            entry("limited", "fail-429-ra1"),
            entry("broken", "fail-500"),
        ],
        "router_settings": {"num_retries": 1, "timeout": 10, "allowed_fails": 1000,
                            "fallbacks": [{"limited": ["plain"]}]},
    }


@pytest.fixture(scope="module", params=CONTRACT, ids=lambda p: p.label or p.name)
def provider(request) -> Provider:
    return request.param


@pytest.fixture(scope="module")
def gw(fake, provider, tmp_path_factory):
    with Gateway(contract_config(fake, provider), tmp_path_factory.mktemp(provider.name), env=ENV) as gateway:
        yield gateway


@pytest.fixture
def upstream(fake):
    fake.reset()
    return fake


def chat(gw: Gateway, model: str, messages: list[dict], **extra: Any) -> tuple[int, dict[str, str], Any]:
    status, headers, body = gw.request("POST", "/v1/chat/completions",
                                       {"model": model, "messages": messages, **extra})
    return status, headers, orjson.loads(body) if body.startswith(b"{") else body


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_text(gw, upstream, provider):
    status, headers, body = chat(gw, "plain", user("hello there"))
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "Echo: hello there"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert headers["x-rin-model"] == f"{provider.name}/{provider.model('4o')}"
    assert upstream.count(provider.model("4o")) == 1


def test_stream(gw, upstream, provider):
    client = gw.openai()
    stream = client.chat.completions.create(model="plain", messages=user("stream this please"), stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream this please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_tools(gw, upstream, provider):
    status, _, body = chat(gw, "tool", user("Paris"), tools=[WEATHER])
    assert status == 200, body
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather" and orjson.loads(call["function"]["arguments"])


def test_tool_round_trip(gw, upstream, provider):
    _, _, first = chat(gw, "tool", user("Paris"), tools=[WEATHER])
    call = first["choices"][0]["message"]["tool_calls"][0]
    messages = [*user("Paris"), {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21}'}]
    upstream.reset()
    status, _, body = chat(gw, "tool", messages, tools=[WEATHER])
    assert status == 200, body
    assert body["choices"][0]["message"]["content"]  # the model answers after the tool result
    sent = orjson.dumps(upstream.requests[-1].json)
    assert call["id"].encode() in sent and b"temp_c" in sent  # the result reached the provider


def test_image_input(gw, upstream, provider):
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": data_url}}]
    status, _, body = chat(gw, "plain", [{"role": "user", "content": content}])
    assert status == 200, body
    assert base64.b64encode(PNG) in orjson.dumps(upstream.requests[-1].json)


def test_401_is_not_retried(gw, upstream, provider):
    status, _, body = chat(gw, "unauthorized", user("hi"))
    assert status == 502 and body["error"]["message"]
    assert upstream.count(provider.model("fail-401")) == 1  # num_retries is 1: auth errors never retry


def test_429_falls_back(gw, upstream, provider):
    status, headers, body = chat(gw, "limited", user("hi"))
    assert status == 200, body
    assert headers["x-rin-model"] == f"{provider.name}/{provider.model('4o')}"
    assert upstream.count(provider.model("fail-429-ra1")) >= 1


def test_500_is_retried(gw, upstream, provider):
    status, _, body = chat(gw, "broken", user("hi"))
    assert status >= 500 and body["error"]["message"]
    assert upstream.count(provider.model("fail-500")) == 2


def test_usage_reaches_the_ledger(gw, upstream, provider):
    status, headers, body = chat(gw, "plain", user("count me"))
    assert status == 200
    gw.request("POST", "/admin/reload")  # lets the ledger flush
    _, _, logs = gw.request("GET", "/spend/logs?limit=1000")
    [row] = [r for r in orjson.loads(logs) if r["request_id"] == headers["x-rin-request-id"]]
    assert row["provider"] == provider.name and row["status"] == "success"
    assert row["prompt_tokens"] == body["usage"]["prompt_tokens"] > 0
    assert row["completion_tokens"] == body["usage"]["completion_tokens"] > 0
    assert float(row["cost"]) > 0


# the fakes' error bodies, classified by each adapter without a network


@pytest.mark.parametrize("p", CONTRACT, ids=lambda p: p.label or p.name)
@pytest.mark.parametrize(("fault", "kind"), [
    (Fault("status", status=401), UpstreamAuthError),
    (Fault("status", status=429, retry_after=7), UpstreamRateLimited),
    (Fault("status", status=500), UpstreamServerError),
], ids=["401", "429", "500"])
def test_error_bodies_classify(p, fault, kind):
    reply = p.fake_format().error(fault, p.model("x"))
    headers = {k.lower(): v for k, v in reply.headers.items()}
    error = PROVIDERS[p.name].adapter.classify_error(reply.status, headers, reply.body)
    assert isinstance(error, kind)
    assert error.retryable is (kind is not UpstreamAuthError)
    if kind is UpstreamRateLimited:
        assert error.retry_after == (7.0 if p.retry_after else None)
