"""The fake upstream, checked with the real OpenAI and Anthropic SDKs pointed straight at it."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import anthropic
import openai
import pytest

from tests.fakes import FakeUpstream

USER = [{"role": "user", "content": "What is the capital of the UK?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_capital",
            "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
        },
    }
]


def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """Raw HTTP, for asserting bytes and headers the SDKs hide."""
    headers = {"Content-Type": "application/json", **(headers or {"Authorization": "Bearer k"})}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def sse_data(raw: bytes) -> list:
    return [json.loads(line[6:]) for line in raw.decode().split("\n") if line.startswith("data: {")]


def test_openai_chat_has_the_real_field_set(oai):
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    body = json.loads(raw.text)
    assert list(body) == ["id", "object", "created", "model", "choices", "usage", "service_tier", "system_fingerprint"]
    assert body["id"].startswith("chatcmpl-") and body["model"] == "gpt-4o-mini"
    assert body["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "Echo: What is the capital of the UK?", "refusal": None, "annotations": []},
        "logprobs": None,
        "finish_reason": "stop",
    }
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert set(usage["completion_tokens_details"]) == {"reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"}
    assert raw.headers["x-request-id"].startswith("req_")


def test_openai_stream_sends_usage_chunk_only_when_asked(fake, oai):
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: What is the capital of the UK?"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 3
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])

    status, headers, raw = post(fake.openai_base + "/chat/completions", {"model": "gpt-4o", "messages": USER, "stream": True})
    assert status == 200 and headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert raw.endswith(b"data: [DONE]\n\n") and b'"usage"' not in raw


def test_openai_tool_call_plain_and_streamed(oai):
    msg = oai.chat.completions.create(model="gpt-4o-tool", messages=USER, tools=TOOLS).choices[0]
    assert msg.finish_reason == "tool_calls" and msg.message.content is None
    call = msg.message.tool_calls[0]
    assert call.function.name == "get_capital" and json.loads(call.function.arguments) == {"country": USER[0]["content"][:40]}

    stream = list(oai.chat.completions.create(model="gpt-4o-tool", messages=USER, tools=TOOLS, stream=True))
    deltas = [tc for c in stream if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id and deltas[0].function.name == "get_capital" and len(deltas) > 2
    assert "".join(d.function.arguments or "" for d in deltas) == call.function.arguments
    assert stream[-1].choices[0].finish_reason == "tool_calls"
    # Without "tool" in the model name, tools are ignored and the answer is text.
    assert oai.chat.completions.create(model="gpt-4o", messages=USER, tools=TOOLS).choices[0].message.content


def test_openai_embeddings_and_models(oai):
    b64 = oai.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])  # SDK asks for base64
    floats = oai.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float")
    assert [len(d.embedding) for d in floats.data] == [8, 8] and floats.data[0].embedding != floats.data[1].embedding
    assert b64.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0
    assert len(oai.embeddings.create(model="text-embedding-3-small", input="one").data) == 1
    assert "gpt-4o" in [m.id for m in oai.models.list().data]


@pytest.mark.parametrize(("model", "retry_after"), [("gpt-4o-fail-429", "1"), ("gpt-4o-fail-429-ra7", "7")])
def test_openai_rate_limit_has_retry_after(oai, model, retry_after):
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(model=model, messages=USER)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == retry_after
    assert info.value.body["type"] == "requests" and info.value.body["code"] == "rate_limit_exceeded"


def test_openai_error_bodies(fake, oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="gpt-4o-ctx-overflow", messages=USER)
    assert info.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="gpt-4o-fail-529", messages=USER)
    assert info.value.status_code == 503
    status, _, raw = post(fake.openai_base + "/chat/completions", {"model": "gpt-4o", "messages": USER}, {"Authorization": "Bearer bad-key"})
    assert status == 401 and json.loads(raw)["error"]["code"] == "invalid_api_key"


def test_anthropic_message_and_cache_usage(claude):
    msg = claude.messages.create(model="claude-test", max_tokens=64, messages=USER)
    assert msg.id.startswith("msg_") and msg.model == "claude-test" and msg.stop_reason == "end_turn"
    assert msg.content[0].text == "Echo: What is the capital of the UK?"
    assert msg.usage.cache_read_input_tokens == 0 and msg.usage.output_tokens > 0
    cached = claude.messages.create(model="claude-test-cache", max_tokens=64, messages=USER)
    assert cached.usage.cache_read_input_tokens > 0


def test_anthropic_stream_events(fake, claude):
    with claude.messages.stream(model="claude-test", max_tokens=64, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Echo: What is the capital of the UK?" and final.usage.output_tokens > 0

    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    status, _, raw = post(fake.anthropic_base + "/v1/messages", {"model": "c", "max_tokens": 9, "messages": USER, "stream": True}, headers)
    names = [line[7:] for line in raw.decode().split("\n") if line.startswith("event: ")]
    assert status == 200 and names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_anthropic_529_and_request_checks(fake, claude):
    with pytest.raises(anthropic.APIStatusError) as info:
        claude.messages.create(model="claude-fail-529", max_tokens=64, messages=USER)
    assert info.value.status_code == 529 and info.value.body["error"]["type"] == "overloaded_error"

    url = fake.anthropic_base + "/v1/messages"
    status, _, raw = post(url, {"model": "c", "messages": USER}, {"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert status == 400 and json.loads(raw)["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    status, _, raw = post(url, {"model": "c", "max_tokens": 9, "messages": USER}, {"anthropic-version": "2023-06-01"})
    assert status == 401 and json.loads(raw)["error"]["type"] == "authentication_error"


def test_openrouter_stream_catalog_and_attribution(fake):
    headers = {"Authorization": "Bearer k", "HTTP-Referer": "http://localhost:3000", "X-Title": "RIN"}
    status, _, raw = post(fake.openrouter_base + "/chat/completions", {"model": "openai/gpt-4o", "messages": USER, "stream": True}, headers)
    assert status == 200 and raw.startswith(b": OPENROUTER PROCESSING\n\n") and raw.endswith(b"data: [DONE]\n\n")
    chunks = sse_data(raw)
    assert all(c["provider"] == "OpenAI" and c["id"].startswith("gen-") for c in chunks)
    usage = chunks[-1]["usage"]
    assert usage["cost"] == pytest.approx(usage["prompt_tokens"] * 1e-6 + usage["completion_tokens"] * 2e-6)
    assert usage["is_byok"] is False
    recorded = fake.requests[-1]
    assert (recorded.headers["http-referer"], recorded.headers["x-title"], recorded.model) == ("http://localhost:3000", "RIN", "openai/gpt-4o")

    with urllib.request.urlopen(fake.openrouter_base + "/models", timeout=5) as resp:
        ids = [m["id"] for m in json.load(resp)["data"]]
    assert "openai/gpt-4o" in ids and "openrouter/auto" in ids


def test_openrouter_error_inside_200_stream(fake):
    body = {"model": "openai/gpt-4o-error-in-stream", "messages": USER, "stream": True}
    status, _, raw = post(fake.openrouter_base + "/chat/completions", body)
    chunks = sse_data(raw)
    assert status == 200 and raw.endswith(b"data: [DONE]\n\n")
    assert chunks[-1]["error"] == {"code": 502, "message": "Provider returned error"}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["Echo: ", "What "]


def test_connection_faults_and_flaky_counter(fake, oai):
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="gpt-4o-reset", messages=USER)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(model="gpt-4o-cut-mid", messages=USER, stream=True):
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "Echo: ", "What "]
    status, headers, raw = post(fake.openai_base + "/chat/completions", {"model": "gpt-4o-garbage", "messages": USER})
    assert status == 200 and headers["Content-Type"] == "application/json" and not raw.startswith(b"{")

    statuses = [post(fake.openai_base + "/chat/completions", {"model": "m-flaky2", "messages": USER})[0] for _ in range(3)]
    assert statuses == [500, 500, 200] and fake.count("m-flaky2") == 3
    fake.reset()
    fake.set_fault("plain-model", "fail-503")
    assert post(fake.openai_base + "/chat/completions", {"model": "m-flaky2", "messages": USER})[0] == 500
    assert post(fake.openai_base + "/chat/completions", {"model": "plain-model", "messages": USER})[0] == 503
    fake.set_fault("plain-model", None)
    assert post(fake.openai_base + "/chat/completions", {"model": "plain-model", "messages": USER})[0] == 200
    assert fake.count(path_contains="/chat/completions") == 3


def test_hung_requests_block_nothing_and_stop_promptly():
    server = FakeUpstream().start()
    client = openai.OpenAI(base_url=server.openai_base, api_key="k", max_retries=0, timeout=30)
    errors: list[Exception] = []

    def hang(model: str) -> None:
        try:
            list(client.chat.completions.create(model=model, messages=USER, stream=True))
        except openai.APIConnectionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hang, args=(m,)) for m in ("x-silent", "x-stall-mid", "x-slow60000")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while server.count() < 3 and time.monotonic() < deadline:  # until all three have arrived
        time.sleep(0.01)
    assert client.chat.completions.create(model="gpt-4o", messages=USER).choices[0].message.content
    started = time.monotonic()
    server.stop()
    for t in threads:
        t.join(timeout=5)
    assert time.monotonic() - started < 3 and len(errors) == 3
