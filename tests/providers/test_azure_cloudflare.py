"""Azure OpenAI, Azure AI Foundry and Cloudflare Workers AI: URLs, headers, Azure's content filter as
a content-policy error (pure, against the fakes' bodies), and end to end: content_policy_fallbacks
from a filtered Azure answer, and a deployment's drop_params list never reaching the provider."""

from __future__ import annotations

import orjson
import pytest

from rin.errors import ContentPolicyViolation, ContextWindowExceeded
from rin.providers import PROVIDERS
from rin.types import ChatRequest, Deployment, SSEEvent, Secret
from tests.e2e.conftest import KEYS, deployment
from tests.fakes.answer import decide
from tests.fakes.azure_fmt import AzureFormat
from tests.fakes.cloudflare_fmt import CloudflareFormat
from tests.fakes.faults import Fault
from tests.fakes.wire import DONE
from tests.gateway import Gateway

AZURE = PROVIDERS["azure"].adapter
REQ = ChatRequest({"model": "az", "messages": [{"role": "user", "content": "hi"}]}, "az")


def azure_dep(name: str = "my-gpt-4o", **kw) -> Deployment:
    kw.setdefault("api_key", Secret("k"))
    return Deployment("az", "azure", name, "https://res.openai.azure.com/", "id", api_version="2024-10-21", **kw)


def test_azure_urls_and_api_key_header():
    dep = azure_dep()
    req = AZURE.build_chat(REQ, dep)
    assert req.url == "https://res.openai.azure.com/openai/deployments/my-gpt-4o/chat/completions?api-version=2024-10-21"
    assert req.headers["api-key"] == "k" and "authorization" not in req.headers
    assert AZURE.build_embeddings({"input": "a"}, dep).url.endswith("/deployments/my-gpt-4o/embeddings?api-version=2024-10-21")
    assert AZURE.media_url("speech", dep).endswith("/deployments/my-gpt-4o/audio/speech?api-version=2024-10-21")
    assert AZURE.media_url("images", dep).endswith("/images/generations?api-version=2024-10-21")
    assert AZURE.media_url("rerank", dep) is None


def test_azure_entra_token_header():
    dep = azure_dep(api_key=None, extra_headers={"authorization": "Bearer tok"})
    headers = AZURE.build_chat(REQ, dep).headers
    assert headers["authorization"] == "Bearer tok" and "api-key" not in headers


def test_azure_content_filter_400_is_a_content_policy_violation():
    reply = AzureFormat().error(Fault("content-policy", status=400), "x")
    error = AZURE.classify_error(reply.status, {}, reply.body)
    assert isinstance(error, ContentPolicyViolation) and error.param == "prompt"
    reply = AzureFormat().error(Fault("ctx-overflow", status=400), "x")
    assert isinstance(AZURE.classify_error(reply.status, {}, reply.body), ContextWindowExceeded)


def test_azure_filtered_answer_is_a_content_policy_violation():
    answer = decide("deploy-filtered", 10, "hi", None, None)
    body = AzureFormat().completion(answer).body
    with pytest.raises(ContentPolicyViolation) as caught:
        AZURE.parse_chat(body, REQ, azure_dep())
    assert caught.value.usage is not None and caught.value.usage.prompt_tokens > 0


def frames(body: bytes) -> list[SSEEvent]:
    return [SSEEvent(f.removeprefix(b"data: ").decode()) for f in body.split(b"\n\n") if f]


def test_azure_stream_drops_the_prompt_filter_chunk_and_fails_a_filtered_start():
    fmt = AzureFormat()
    plan = fmt.stream(decide("deploy-4o", 10, "hi", None, None), {"stream_options": {"include_usage": True}})
    parser = AZURE.stream_parser(REQ, azure_dep())
    out = [p for e in frames(b"".join(plan.frames)) for p in parser.feed(e)] + parser.finish()
    assert all(orjson.loads(p)["choices"] for p in out) and parser.usage and parser.provider_model == "deploy-4o"
    assert "".join(orjson.loads(p)["choices"][0]["delta"].get("content") or "" for p in out) == "Echo: hi"
    filtered = fmt.stream(decide("deploy-filtered", 10, "hi", None, None), {})
    parser = AZURE.stream_parser(REQ, azure_dep())
    with pytest.raises(ContentPolicyViolation):
        for event in frames(b"".join(filtered.frames)):
            assert parser.feed(event) == []  # nothing reaches the client before the error


def test_azure_ai_foundry_urls_and_headers():
    adapter = PROVIDERS["azure_ai"].adapter
    foundry = Deployment("m", "azure_ai", "mistral-large", "https://x.services.ai.azure.com", "id", api_key=Secret("k"))
    req = adapter.build_chat(REQ, foundry)
    assert req.url == "https://x.services.ai.azure.com/models/chat/completions" and req.headers["api-key"] == "k"
    serverless = Deployment("m", "azure_ai", "m", "https://m.eastus2.models.ai.azure.com", "id", api_key=Secret("k"),
                            api_version="2024-05-01-preview")
    req = adapter.build_chat(REQ, serverless)
    assert req.url == "https://m.eastus2.models.ai.azure.com/chat/completions?api-version=2024-05-01-preview"
    assert req.headers["authorization"] == "Bearer k"


def test_cloudflare_url_bearer_and_error_envelope():
    adapter = PROVIDERS["cloudflare"].adapter
    dep = Deployment("cf", "cloudflare", "@cf/meta/llama-3.1-8b-instruct",
                     "https://api.cloudflare.com/client/v4/accounts/ab/ai/run/", "id", api_key=Secret("t"))
    req = adapter.build_chat(REQ, dep)
    assert req.url == "https://api.cloudflare.com/client/v4/accounts/ab/ai/v1/chat/completions"  # LiteLLM's base
    assert req.headers["authorization"] == "Bearer t" and orjson.loads(req.body)["model"] == dep.provider_model
    reply = CloudflareFormat().error(Fault("status", status=401), "x")
    error = adapter.classify_error(reply.status, {}, reply.body)
    assert error.upstream_status == 401 and not error.retryable


@pytest.fixture(scope="module")
def gw(fake, tmp_path_factory):
    az = {"api_version": "2024-10-21"}
    config = {
        "model_list": [
            deployment("filtered-prompt", "azure/content-policy", fake.azure_base, "AZURE_API_KEY", **az),
            deployment("filtered-answer", "azure/deploy-filtered", fake.azure_base, "AZURE_API_KEY", **az),
            deployment("safe", "azure/deploy-4o", fake.azure_base, "AZURE_API_KEY", **az),
            deployment("trimmed", "azure/deploy-trim", fake.azure_base, "AZURE_API_KEY",
                       drop_params=["user", "logit_bias"], **az),
        ],
        "router_settings": {"num_retries": 0, "timeout": 10, "allowed_fails": 1000,
                            "content_policy_fallbacks": [{"filtered-prompt": ["safe"]}, {"filtered-answer": ["safe"]}]},
    }
    with Gateway(config, tmp_path_factory.mktemp("azure"), env={**KEYS, "AZURE_API_KEY": "az-key"}) as gateway:
        yield gateway


@pytest.mark.parametrize("model", ["filtered-prompt", "filtered-answer"])
@pytest.mark.parametrize("stream", [False, True])
def test_content_filter_falls_back(gw, fake, model, stream):
    fake.reset()
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    status, headers, raw = gw.request("POST", "/v1/chat/completions", body)
    assert status == 200, raw
    assert headers["x-rin-model"] == "azure/deploy-4o"
    assert b"Echo: hi" in raw if not stream else (b"\"finish_reason\":\"stop\"" in raw and raw.endswith(DONE)), raw
    assert [r.headers["api-key"] for r in fake.requests] == ["az-key", "az-key"]


def test_drop_params_list_never_reaches_the_provider(gw, fake):
    fake.reset()
    body = {"model": "trimmed", "messages": [{"role": "user", "content": "hi"}], "user": "ann",
            "logit_bias": {"50256": -100}, "seed": 7}
    status, _, raw = gw.request("POST", "/v1/chat/completions", body)
    assert status == 200, raw
    [sent] = fake.requests
    assert "user" not in sent.json and "logit_bias" not in sent.json and sent.json["seed"] == 7
