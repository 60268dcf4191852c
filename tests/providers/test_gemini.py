"""The native Gemini adapter: request bodies, answers and streams in the documented shapes
(ai.google.dev/api/generate-content), Google's error envelopes, safety blocks; then the fake
through a real `rin serve` with the openai SDK (text, stream, tool call, content-policy fallback)."""

from __future__ import annotations

import re

from typing import Any

import orjson
import pytest

from rin.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from rin.providers import PROVIDERS
from rin.providers.gemini import GeminiAdapter
from rin.providers.sse import SSEDecoder
from rin.types import ChatRequest, Deployment, Secret
from tests.e2e.conftest import KEYS, deployment as config_entry
from tests.fakes.faults import Fault
from tests.fakes.gemini_fmt import GeminiFormat, envelope
from tests.gateway import Gateway

#: the id RIN gives a call Gemini gave none, as OpenAI's look
CALL_ID = re.compile(r"call_[0-9a-f]{24}")

adapter = GeminiAdapter()
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def dep(**overrides: Any) -> Deployment:
    fields: dict[str, Any] = {
        "model_name": "flash", "provider": "gemini", "provider_model": "gemini-2.5-flash",
        "api_base": "https://generativelanguage.googleapis.com/v1beta", "id": "dep-1", "api_key": Secret("g-key"),
    }
    fields.update(overrides)
    return Deployment(**fields)


def request(body: dict[str, Any], **req: Any) -> ChatRequest:
    body = {"model": "flash", "messages": [{"role": "user", "content": "Hi"}], **body}
    return ChatRequest(body=body, model="flash", **req)


def build(body: dict[str, Any], **req: Any) -> dict[str, Any]:
    return orjson.loads(adapter.build_chat(request(body, **req), dep()).body)


# requests


def test_url_header_and_registry():
    up = adapter.build_chat(request({}), dep())
    assert up.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert up.headers["x-goog-api-key"] == "g-key" and "authorization" not in up.headers
    streamed = adapter.build_chat(request({}, stream=True), dep())
    assert streamed.url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse") and streamed.stream
    spec = PROVIDERS["gemini"]
    assert isinstance(spec.adapter, GeminiAdapter)
    assert spec.default_api_base == "https://generativelanguage.googleapis.com/v1beta"
    assert spec.api_base_env == "GEMINI_API_BASE"


def test_openai_compatible_base_goes_through_the_openai_adapter():
    compat = dep(api_base="https://generativelanguage.googleapis.com/v1beta/openai/")
    up = adapter.build_chat(request({}), compat)
    assert up.url == "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"
    assert up.headers["authorization"] == "Bearer g-key"
    assert orjson.loads(up.body)["messages"] == [{"role": "user", "content": "Hi"}]


def test_system_multi_turn_and_images():
    png = "data:image/png;base64,iVBORw0KGgo="
    body = build({"messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": png}},
                                     {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}}]},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": "Sure?"},
        {"role": "user", "content": "Really?"},
    ]})
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}, {"text": "Use metric."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "What is this?"},
                                   {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                                   {"fileData": {"fileUri": "https://x.test/cat.jpg", "mimeType": "image/jpeg"}}]},
        {"role": "model", "parts": [{"text": "A cat."}]},
        {"role": "user", "parts": [{"text": "Sure?"}, {"text": "Really?"}]},  # merged: one role per turn
    ]


def test_generation_config_and_thinking():
    body = build({"temperature": 0.2, "top_p": 0.9, "top_k": 40, "max_tokens": 100, "stop": "END", "n": 2,
                  "reasoning_effort": "medium",
                  "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}})
    assert body["generationConfig"] == {
        "temperature": 0.2, "topP": 0.9, "topK": 40, "candidateCount": 2, "maxOutputTokens": 100,
        "stopSequences": ["END"], "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
        "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
    }
    assert build({"reasoning_effort": "low"})["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 1024
    assert build({"reasoning_effort": "high"})["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 24576
    assert build({"reasoning_effort": "none"})["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    assert "generationConfig" not in build({"n": 1})
    with pytest.raises(InvalidRequest):
        build({"reasoning_effort": "extreme"})
    with pytest.raises(InvalidRequest):
        build({"n": 2}, stream=True)


def test_tools_choice_calls_and_results():
    body = build({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                  "messages": [
                      {"role": "user", "content": "Paris?"},
                      {"role": "assistant", "content": None, "tool_calls": [
                          {"id": "call_1", "type": "function",
                           "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
                      {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
                      {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                  ]})
    assert body["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Weather for a city",
        "parametersJsonSchema": WEATHER["function"]["parameters"]}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert body["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}}]}
    assert body["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}, "id": "call_1"}},
        {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}, "id": "call_1"}}]}
    for choice, mode in (("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")):
        assert build({"tools": [WEATHER], "tool_choice": choice})["toolConfig"]["functionCallingConfig"] == {"mode": mode}
    with pytest.raises(InvalidRequest, match="matches no earlier assistant tool call"):
        build({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]})


# answers


def parse(data: dict[str, Any]) -> dict[str, Any]:
    result = adapter.parse_chat(orjson.dumps(data), request({}), dep())
    assert result.data == orjson.loads(result.body)
    return result.data


USAGE = {"promptTokenCount": 120, "candidatesTokenCount": 30, "thoughtsTokenCount": 50,
         "cachedContentTokenCount": 100, "totalTokenCount": 200}


def test_text_thoughts_and_usage():
    result = adapter.parse_chat(orjson.dumps({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think.", "thought": True}, {"text": "Hello"}, {"text": " there"}]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": USAGE, "modelVersion": "gemini-2.5-flash", "responseId": "abc",
    }), request({}), dep())
    chat = result.data
    assert chat["id"] == "abc" and chat["model"] == "gemini-2.5-flash"
    message = chat["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Hello there", "reasoning_content": "Let me think."}
    assert chat["choices"][0]["finish_reason"] == "stop"
    assert chat["usage"]["completion_tokens"] == 80 and chat["usage"]["total_tokens"] == 200
    assert chat["usage"]["prompt_tokens_details"]["cached_tokens"] == 100
    assert chat["usage"]["completion_tokens_details"]["reasoning_tokens"] == 50
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens) == (120, 80, 100, 50)


def test_function_calls_and_max_tokens():
    chat = parse({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_time", "args": {}, "id": "fc-9"}}]}, "finishReason": "STOP"}]})
    choice = chat["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    made, given = choice["message"]["tool_calls"]
    assert [(c["function"]["name"], orjson.loads(c["function"]["arguments"])) for c in (made, given)] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {})]
    assert given["id"] == "fc-9" and CALL_ID.fullmatch(made["id"])  # Gemini gave none: a unique one
    again = parse({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}, "finishReason": "STOP"}]})
    assert again["choices"][0]["message"]["tool_calls"][0]["id"] != made["id"]  # never repeated across turns
    cut = parse({"candidates": [{"content": {"parts": [{"text": "Once"}]}, "finishReason": "MAX_TOKENS"}]})
    assert cut["choices"][0]["finish_reason"] == "length"


def test_thought_signatures_go_out_in_the_ids_and_come_back():
    """Gemini 3 refuses a replayed function call without the thoughtSignature it came with: RIN puts
    it in the tool call's id (what every client sends back) and in extra_content, and restores it."""
    chat = parse({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]}, "finishReason": "STOP"}]})
    first, second = chat["choices"][0]["message"]["tool_calls"]
    one, _, signature = first["id"].partition("__thought__")
    assert CALL_ID.fullmatch(one) and signature == "c2lnLTE="
    assert first["extra_content"] == {"google": {"thought_signature": "c2lnLTE="}}
    two = second["id"]
    assert CALL_ID.fullmatch(two) and two != one and "extra_content" not in second
    history = [{"role": "user", "content": "Paris and Rome?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": first["id"], "type": "function", "function": first["function"]},
                   {"id": second["id"], "type": "function", "function": second["function"]}]},
               {"role": "tool", "tool_call_id": first["id"], "content": "21"},
               {"role": "tool", "tool_call_id": second["id"], "content": "25"}]
    body = build({"tools": [WEATHER], "messages": history})
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": one},
         "thoughtSignature": "c2lnLTE="},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}, "id": two}}]
    assert [p["functionResponse"]["id"] for p in body["contents"][2]["parts"]] == [one, two]
    # a signature kept only in extra_content (a client that echoes whole messages) is restored too
    echoed = dict(history[1], tool_calls=[{"id": one, "type": "function", "function": first["function"],
                                           "extra_content": first["extra_content"]}])
    body = build({"messages": [history[0], echoed]})
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == "c2lnLTE="
    # history without signatures, to a Gemini 3 model: Google's documented marker on the first call
    unsigned = dict(history[1], tool_calls=[{"id": "a", "type": "function", "function": first["function"]},
                                            {"id": "b", "type": "function", "function": second["function"]}])
    req = request({"messages": [history[0], unsigned]})
    parts = orjson.loads(adapter.build_chat(req, dep(provider_model="gemini-3-pro-preview")).body)["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == ["skip_thought_signature_validator", None]
    # older models take the history as it is
    assert all("thoughtSignature" not in p for p in build({"messages": [history[0], unsigned]})["contents"][1]["parts"])


def test_stream_tool_call_keeps_its_signature():
    _, chunks = replay([frame([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                "thoughtSignature": "c2ln"}], "STOP", USAGE)])
    [call] = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert CALL_ID.fullmatch(call["id"].removesuffix("__thought__c2ln")) and call["index"] == 0
    assert call["extra_content"] == {"google": {"thought_signature": "c2ln"}}


@pytest.mark.parametrize("data", [
    {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}},
    {"candidates": [{"finishReason": "SAFETY", "safetyRatings": []}]},
    {"candidates": [{"content": {"parts": [{"text": "It was"}]}, "finishReason": "RECITATION"}]},
    {"candidates": [{"finishReason": "PROHIBITED_CONTENT"}]},
    {"candidates": [{"finishReason": "BLOCKLIST"}]},
], ids=["prompt", "safety", "recitation", "prohibited", "blocklist"])
def test_safety_blocks_are_content_policy_errors(data):
    with pytest.raises(ContentPolicyViolation):
        parse(data)


def test_bodies_that_are_not_answers():
    with pytest.raises(UpstreamProtocolError):
        adapter.parse_chat(b"<html>", request({}), dep())
    with pytest.raises(UpstreamProtocolError):
        parse({"usageMetadata": USAGE})
    with pytest.raises(UpstreamServerError):
        adapter.parse_chat(envelope(503, "UNAVAILABLE", "overloaded"), request({}), dep())


# streams


def replay(frames: list[dict[str, Any]], piece: int = 7) -> tuple[Any, list[dict[str, Any]]]:
    raw = b"".join(b"data: " + orjson.dumps(f) + b"\r\n\r\n" for f in frames)
    parser = adapter.stream_parser(request({}, stream=True), dep())
    decoder, out = SSEDecoder(), []
    for i in range(0, len(raw), piece):
        for event in decoder.feed(raw[i:i + piece]):
            out.extend(parser.feed(event))
    for event in decoder.flush():
        out.extend(parser.feed(event))
    out.extend(parser.finish())
    return parser, [orjson.loads(c) for c in out]


def frame(parts: list[dict[str, Any]], finish: str | None = None, usage: dict | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": usage or {"promptTokenCount": 120},
            "modelVersion": "gemini-2.5-flash", "responseId": "r1"}


def test_stream_text_thoughts_and_held_back_usage():
    parser, chunks = replay([frame([{"text": "Hmm.", "thought": True}]), frame([{"text": "Hel"}]),
                             frame([{"text": "lo"}], "STOP", USAGE)])
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Hmm."
    assert "".join(d.get("content") or "" for d in deltas) == "Hello"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]] == ["stop"]
    assert all(c["choices"] for c in chunks)  # usage is not among the chunks sent
    assert parser.done and parser.usage.completion_tokens == 80 and parser.usage.reasoning_tokens == 50
    usage_chunk = orjson.loads(parser.usage_chunk)
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"] == 100


def test_stream_tool_call():
    _, chunks = replay([frame([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}], "STOP", USAGE)])
    [call] = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert call["index"] == 0 and CALL_ID.fullmatch(call["id"]) and call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_safety_error_and_early_close():
    with pytest.raises(ContentPolicyViolation):
        replay([frame([{"text": "Sure"}]), frame([], "SAFETY")])
    with pytest.raises(ContentPolicyViolation):
        replay([{"promptFeedback": {"blockReason": "OTHER"}}])
    with pytest.raises(UpstreamServerError):
        replay([frame([{"text": "Sure"}]), {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}])
    with pytest.raises(UpstreamProtocolError, match="before a finishReason"):
        replay([frame([{"text": "Sure"}])])


# errors


def classify(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return adapter.classify_error(status, headers or {}, body)


def test_error_classification():
    retry = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
             {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}]
    limited = classify(429, envelope(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota", retry))
    assert isinstance(limited, UpstreamRateLimited) and limited.retry_after == 13.0
    assert classify(429, envelope(429, "RESOURCE_EXHAUSTED", "quota"), {"retry-after": "4"}).retry_after == 4.0
    too_long = envelope(400, "INVALID_ARGUMENT",
                        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).")
    assert isinstance(classify(400, too_long), ContextWindowExceeded)
    plain = classify(400, envelope(400, "INVALID_ARGUMENT", "Request contains an invalid argument."))
    assert type(plain) is UpstreamBadRequest
    bad_key = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    assert isinstance(classify(400, envelope(400, "INVALID_ARGUMENT", "API key not valid.", bad_key)), UpstreamAuthError)
    assert isinstance(classify(403, envelope(403, "PERMISSION_DENIED", "denied")), UpstreamAuthError)
    assert isinstance(classify(400, envelope(400, "FAILED_PRECONDITION", "User location is not supported")),
                      UpstreamAuthError)
    assert isinstance(classify(404, envelope(404, "NOT_FOUND", "models/x is not found")), UpstreamNotFound)
    assert isinstance(classify(503, envelope(503, "UNAVAILABLE", "overloaded")), UpstreamServerError)
    assert isinstance(classify(500, envelope(500, "INTERNAL", "oops")), UpstreamServerError)
    assert isinstance(classify(502, b"<html>bad gateway</html>"), UpstreamServerError)
    # Google's OpenAI-compatible endpoint wraps the envelope in a list
    wrapped = b"[" + envelope(429, "RESOURCE_EXHAUSTED", "quota", retry) + b"]"
    assert classify(429, wrapped).retry_after == 13.0


def test_embeddings_batch():
    up = adapter.build_embeddings({"model": "emb", "input": ["a", "b"], "dimensions": 256},
                                  dep(provider_model="gemini-embedding-001"))
    assert up.url.endswith("/models/gemini-embedding-001:batchEmbedContents")
    assert orjson.loads(up.body) == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 256},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256}]}
    body, _ = adapter.parse_embeddings(orjson.dumps({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3]}]}),
                                       dep(provider_model="gemini-embedding-001"))
    data = orjson.loads(body)
    assert [d["embedding"] for d in data["data"]] == [[0.1, 0.2], [0.3]] and data["data"][1]["index"] == 1
    with pytest.raises(InvalidRequest):
        adapter.build_embeddings({"model": "emb", "input": [[1, 2, 3]]}, dep())


def test_fake_errors_classify():
    fmt = GeminiFormat()
    overflow = fmt.error(Fault("ctx-overflow", status=400), "gemini-x")
    assert isinstance(classify(overflow.status, overflow.body), ContextWindowExceeded)
    blocked = fmt.error(Fault("content-policy", status=400), "gemini-x")
    with pytest.raises(ContentPolicyViolation):
        adapter.parse_chat(blocked.body, request({}), dep())
    bad_key = fmt.auth_error({"x-goog-api-key": "bad-key"})
    assert bad_key is not None and isinstance(classify(bad_key.status, bad_key.body), UpstreamAuthError)


# through a real `rin serve`


@pytest.fixture(scope="module")
def gw(fake, tmp_path_factory):
    def entry(name: str, model: str) -> dict[str, Any]:
        return config_entry(name, f"gemini/{model}", fake.gemini_base, "GEMINI_API_KEY")

    config = {
        "model_list": [entry("flash", "gemini-flash"), entry("tool", "gemini-tool"),
                       entry("think", "gemini-think"), entry("guarded", "gemini-content-policy"),
                       entry("three", "gemini-3-tool")],
        "router_settings": {"num_retries": 0, "timeout": 10, "content_policy_fallbacks": [{"guarded": ["flash"]}]},
    }
    with Gateway(config, tmp_path_factory.mktemp("gemini"), env={**KEYS, "GEMINI_API_KEY": "g-canary"}) as gateway:
        yield gateway


def test_sdk_text_stream_and_tool_call(gw, fake):
    fake.reset()
    client = gw.openai()
    answer = client.chat.completions.create(model="flash", messages=[
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello gemini"}])
    assert answer.choices[0].message.content == "Echo: hello gemini" and answer.usage.prompt_tokens > 0
    sent = fake.requests[-1]
    assert sent.path == "/gemini/v1beta/models/gemini-flash:generateContent" and sent.model == "gemini-flash"
    assert sent.headers["x-goog-api-key"] == "g-canary"
    assert sent.json["systemInstruction"] == {"parts": [{"text": "Be terse."}]}

    chunks = list(client.chat.completions.create(model="flash", messages=[{"role": "user", "content": "stream it"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: stream it"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert fake.requests[-1].path.endswith(":streamGenerateContent")

    called = client.chat.completions.create(model="tool", messages=[{"role": "user", "content": "Paris"}],
                                            tools=[WEATHER])
    [call] = called.choices[0].message.tool_calls
    assert called.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert orjson.loads(call.function.arguments) == {"city": "Paris"}


def test_sdk_thinking_and_content_policy_fallback(gw, fake):
    client = gw.openai()
    answer = client.chat.completions.create(model="think", messages=[{"role": "user", "content": "why"}],
                                            reasoning_effort="low")
    assert answer.choices[0].message.content == "Echo: why"
    assert answer.usage.completion_tokens_details.reasoning_tokens > 0
    status, headers, _ = gw.request("POST", "/v1/chat/completions",
                                    {"model": "guarded", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200 and headers["x-rin-model"] == "gemini/gemini-flash"


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_gemini_3_tool_round_trip_keeps_the_thought_signature(gw, fake, stream):
    """Gemini 3 answers a replayed function call without its signature with a 400: the round trip
    works through the openai SDK because the signature travels in the tool call's id."""
    client = gw.openai()
    question = [{"role": "user", "content": "Paris"}]
    if stream:
        chunks = list(client.chat.completions.create(model="three", messages=question, tools=[WEATHER], stream=True))
        [delta] = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
        call = {"id": delta.id, "type": "function",
                "function": {"name": delta.function.name, "arguments": delta.function.arguments}}
    else:
        message = client.chat.completions.create(model="three", messages=question, tools=[WEATHER]).choices[0].message
        call = {"id": message.tool_calls[0].id, "type": "function",
                "function": {"name": message.tool_calls[0].function.name,
                             "arguments": message.tool_calls[0].function.arguments}}
    assert "__thought__" in call["id"]
    history = [*question, {"role": "assistant", "content": None, "tool_calls": [call]},
               {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21}'}]
    final = client.chat.completions.create(model="three", messages=history, tools=[WEATHER])
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.content
    sent = fake.requests[-1].json["contents"]
    assert sent[1]["parts"][0]["thoughtSignature"]
    assert sent[1]["parts"][0]["functionCall"]["id"] == call["id"].partition("__thought__")[0]
    # the same history with the signature stripped (a client that rebuilt the ids) still works
    bare = [history[0], {**history[1], "tool_calls": [{**call, "id": "call_x"}]},
            {**history[2], "tool_call_id": "call_x"}]
    again = client.chat.completions.create(model="three", messages=bare, tools=[WEATHER])
    assert again.choices[0].message.content
    assert fake.requests[-1].json["contents"][1]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"
