"""The OpenAI and OpenRouter adapters, pure: recorded real responses in, typed results out."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from rin.errors import (
    ContextWindowExceeded, UpstreamAuthError, UpstreamBadRequest, UpstreamProtocolError,
    UpstreamRateLimited, UpstreamServerError,
)
from rin.providers import PROVIDERS, split_model
from rin.providers.openai import parse_retry_after
from rin.providers.sse import SSEDecoder
from rin.types import ChatRequest, Deployment, Secret
from tests.conftest import shared_fixture


def dep(provider: str = "openai", model: str = "gpt-4o", **kw) -> Deployment:
    return Deployment("m", provider, model, "https://api.example/v1", "id1", api_key=Secret("sk-test"), **kw)


def request(**body) -> ChatRequest:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return ChatRequest(body={"model": "m", **body}, model="m", stream=bool(body.get("stream")))


def relay(adapter_name: str, raw: bytes, chunk_size: int = 37) -> tuple[list[dict], object]:
    """Feeds a recorded stream in odd-sized pieces, as the network would."""
    adapter = PROVIDERS[adapter_name].adapter
    parser = adapter.stream_parser(request(stream=True), dep(adapter_name))
    decoder = SSEDecoder()
    out: list[bytes] = []
    for i in range(0, len(raw), chunk_size):
        for event in decoder.feed(raw[i:i + chunk_size]):
            out.extend(parser.feed(event))
    for event in decoder.flush():
        out.extend(parser.feed(event))
    out.extend(parser.finish())
    return [orjson.loads(p) for p in out], parser


def text_of(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_sse_decoder_handles_crlf_comments_and_split_lines():
    decoder = SSEDecoder()
    events = decoder.feed(b": OPENROUTER PROCESSING\r\n\r\ndata: {\"a\"")
    assert events == []
    events = decoder.feed(b":1}\r\n\r\nevent: ping\ndata: x\n\n")
    assert [(e.event, e.data) for e in events] == [(None, '{"a":1}'), ("ping", "x")]


def test_build_request_sets_model_stream_usage_and_auth():
    up = PROVIDERS["openai"].adapter.build_chat(request(stream=True, temperature=0.2), dep())
    body = orjson.loads(up.body)
    assert up.url == "https://api.example/v1/chat/completions"
    assert up.headers["authorization"] == "Bearer sk-test"
    assert body["model"] == "gpt-4o" and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.2


def test_max_completion_tokens_as_litellm_does():
    adapter = PROVIDERS["openai"].adapter
    body = orjson.loads(adapter.build_chat(request(max_tokens=50), dep(model="o3-mini")).body)
    assert body.get("max_completion_tokens") == 50 and "max_tokens" not in body
    body = orjson.loads(adapter.build_chat(request(max_completion_tokens=50), dep("groq", "llama")).body)
    assert body.get("max_tokens") == 50 and "max_completion_tokens" not in body


def test_drop_gateway_fields_that_could_redirect():
    up = PROVIDERS["openai"].adapter.build_chat(
        request(api_base="http://evil", base_url="http://evil", extra_headers={"x": "y"}), dep())
    body = orjson.loads(up.body)
    assert not {"api_base", "base_url", "extra_headers"} & set(body)


def test_openai_stream_transcript_text_and_usage():
    raw = shared_fixture("transcripts", "openai_chat_stream_text_with_usage.txt").read_bytes()
    chunks, parser = relay("openai", raw)
    assert text_of(chunks).startswith("The capital of the UK")
    assert parser.usage is not None and parser.usage.completion_tokens > 0
    assert parser.usage_chunk is not None and orjson.loads(parser.usage_chunk)["choices"] == []
    assert all(c["choices"] for c in chunks)


def test_trailing_chunk_after_usage_is_kept():
    raw = shared_fixture("transcripts", "openai_chat_stream_trailing_moderation_chunk.txt").read_bytes()
    chunks, parser = relay("openai", raw)
    assert text_of(chunks) == "Paris."
    assert parser.usage is not None and parser.done


def test_openrouter_comments_skipped_and_midstream_error_raised():
    raw = shared_fixture("transcripts", "openrouter_stream_midstream_error.txt").read_bytes()
    with pytest.raises(UpstreamBadRequest) as info:
        relay("openrouter", raw)
    assert "Token limit reached" in info.value.message
    assert info.value.usage is not None and info.value.usage.total_tokens == 53


def test_openrouter_nonstream_usage_and_reported_cost():
    raw = shared_fixture("transcripts", "openrouter_nonstream_usage_cost.txt").read_bytes()
    result = PROVIDERS["openrouter"].adapter.parse_chat(raw, request(), dep("openrouter"))
    assert result.usage is not None and result.usage.reasoning_tokens == 704
    assert result.usage.provider_cost is None  # this recording carries no usage.cost
    priced = orjson.loads(raw)
    priced["usage"]["cost"] = 0.00123
    result = PROVIDERS["openrouter"].adapter.parse_chat(orjson.dumps(priced), request(), dep("openrouter"))
    assert result.usage.provider_cost == Decimal("0.00123")


def test_openrouter_stream_cost_is_kept():
    raw = shared_fixture("transcripts", "openrouter_stream_server_tool_cost.txt").read_bytes()
    _, parser = relay("openrouter", raw)
    assert parser.usage.provider_cost is not None and parser.usage.provider_cost > 0


@pytest.mark.parametrize("name", [
    "openrouter_stream_processing_comments_reasoning.txt", "openrouter_stream_web_search_usage.txt",
    "openrouter_stream_anthropic_reasoning.txt", "openrouter_stream_server_tool_cost.txt",
    "openai_chat_stream_tool_call_with_usage.txt"])
def test_every_recorded_stream_relays_to_completion(name):
    chunks, parser = relay("openrouter" if name.startswith("openrouter") else "openai",
                           shared_fixture("transcripts", name).read_bytes())
    assert chunks and parser.done and parser.usage is not None


def test_truncated_stream_is_an_error_not_a_clean_end():
    raw = b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    with pytest.raises(UpstreamProtocolError):
        relay("openai", raw)


@pytest.mark.parametrize("status,body,cls", [
    (429, b'{"error":{"code":429,"message":"Provider returned error"}}', UpstreamRateLimited),
    (400, b'{"error":{"message":"too long","type":"invalid_request_error","param":"messages",'
          b'"code":"context_length_exceeded"}}', ContextWindowExceeded),
    (401, b'{"error":{"message":"Incorrect API key provided: sk-abc","type":"invalid_request_error",'
          b'"code":"invalid_api_key"}}', UpstreamAuthError),
    (503, b"<html>bad gateway</html>", UpstreamServerError),
    # vLLM: no code, the message says it
    (400, b'{"object":"error","message":"This model\'s maximum context length is 4096 tokens. However, you '
          b'requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length '
          b'of the messages or completion.","type":"BadRequestError","param":null,"code":400}',
     ContextWindowExceeded),
    # OpenAI's max_tokens error is not a context overflow: no fallback to a bigger model for it
    (400, b'{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 '
          b'completion tokens, whereas you provided 100000.","type":"invalid_request_error",'
          b'"param":"max_tokens","code":"invalid_value"}}', UpstreamBadRequest),
])
def test_error_classification_by_status_and_body(status, body, cls):
    err = PROVIDERS["openai"].adapter.classify_error(status, {"retry-after": "3"}, body)
    assert type(err) is cls
    assert "sk-abc" not in err.message


def test_recorded_errors_classify():
    raw = shared_fixture("transcripts", "openrouter_error_429_upstream_rate_limited.txt").read_bytes()
    err = PROVIDERS["openrouter"].adapter.classify_error(429, {}, raw)
    assert isinstance(err, UpstreamRateLimited) and err.retryable
    raw = shared_fixture("transcripts", "openai_error_400_unsupported_system_role.txt").read_bytes()
    err = PROVIDERS["openai"].adapter.classify_error(400, {}, raw)
    assert isinstance(err, UpstreamBadRequest) and err.param == "messages[0].role"


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("model,expected", [
    ("openai/gpt-4o", ("openai", "gpt-4o")), ("gpt-4o", ("openai", "gpt-4o")),
    ("claude-3-opus", ("anthropic", "claude-3-opus")),
    ("openrouter/anthropic/claude-3.5-sonnet", ("openrouter", "anthropic/claude-3.5-sonnet")),
    ("groq/llama-3.1-8b-instant", ("groq", "llama-3.1-8b-instant")), ("bedrock/x", ("bedrock", "x"))])
def test_split_model(model, expected):
    assert split_model(model) == expected
