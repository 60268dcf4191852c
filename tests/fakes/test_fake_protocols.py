"""The fake's newer protocols, driven with the real SDKs: OpenAI Responses and legacy completions,
Anthropic count_tokens and extended thinking (signatures)."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.fakes.test_fake_upstream import post

TOOLS = [
    {
        "type": "function",
        "name": "get_capital",
        "description": "The capital of a country",
        "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
    }
]
QUESTION = "What is the capital of the UK?"
ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
TOOL_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
]


def sse_events(raw: bytes) -> list[tuple[str, dict]]:
    """(event name, data) pairs of a named-event SSE body."""
    out = []
    for frame in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n") if ": " in line)
        if "data" in lines:
            out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


def collapse(names: list[str]) -> list[str]:
    """Event names with runs of the same name folded into one."""
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


# OpenAI Responses


def test_responses_text_body_is_a_real_response(fake, oai):
    raw = oai.responses.with_raw_response.create(
        model="gpt-4o-mini", input=QUESTION, instructions="Be brief.", max_output_tokens=64, metadata={"k": "v"}
    )
    body = json.loads(raw.text)
    resp = Response.model_validate(body)
    assert resp.id.startswith("resp_") and resp.object == "response" and resp.status == "completed"
    assert resp.model == "gpt-4o-mini" and resp.output_text == "Echo: " + QUESTION
    msg = body["output"][0]
    assert msg["type"] == "message" and msg["role"] == "assistant" and msg["id"].startswith("msg_")
    assert msg["content"] == [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Echo: " + QUESTION}]
    assert set(body["usage"]) == {"input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"}
    usage = resp.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens and usage.output_tokens_details.reasoning_tokens == 0
    # echoed request parameters and the defaults of the others
    assert (body["instructions"], body["max_output_tokens"], body["metadata"]) == ("Be brief.", 64, {"k": "v"})
    assert body["error"] is None and body["incomplete_details"] is None and body["previous_response_id"] is None
    assert (body["tool_choice"], body["tools"], body["parallel_tool_calls"], body["store"]) == ("auto", [], True, True)
    assert (body["temperature"], body["top_p"], body["truncation"]) == (1.0, 1.0, "disabled")
    assert body["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    assert body["reasoning"] == {"effort": None, "summary": None}
    assert raw.headers["x-request-id"].startswith("req_")
    # instructions count toward the prompt
    plain = oai.responses.create(model="gpt-4o-mini", input=QUESTION)
    assert resp.usage.input_tokens > plain.usage.input_tokens
    assert fake.requests[-1].path == "/v1/responses"


def test_responses_input_items_and_tool_calls(oai):
    items = [{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}]
    resp = oai.responses.create(model="gpt-4o-tool", input=items, tools=TOOLS)
    call = resp.output[0]
    assert call.type == "function_call" and call.name == "get_capital" and call.status == "completed"
    assert call.id.startswith("fc_") and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"country": QUESTION}
    assert resp.tools[0].name == "get_capital" and resp.tools[0].parameters == TOOLS[0]["parameters"]

    # the tool's result comes back: now the answer is text
    follow = [
        *items,
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "London"},
    ]
    again = oai.responses.create(model="gpt-4o-tool", input=follow, tools=TOOLS)
    assert again.output[0].type == "message" and again.output_text == "Echo: " + QUESTION
    assert again.usage.input_tokens > resp.usage.input_tokens
    # without "tool" in the model name, tools are ignored
    assert oai.responses.create(model="gpt-4o", input=QUESTION, tools=TOOLS).output_text


def test_responses_stream_event_sequence(fake, oai):
    with oai.responses.stream(model="gpt-4o", input=QUESTION) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert collapse([e.type for e in events]) == TEXT_EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 3 and "".join(deltas) == final.output_text == "Echo: " + QUESTION
    assert events[0].response.status == "in_progress" and events[0].response.usage is None
    assert final.status == "completed" and final.usage.total_tokens > 0

    # raw bytes: `event:` names match data types, no [DONE] terminator
    status, headers, raw = post(fake.openai_base + "/responses", {"model": "gpt-4o", "input": QUESTION, "stream": True})
    assert status == 200 and headers["Content-Type"] == "text/event-stream; charset=utf-8"
    pairs = sse_events(raw)
    assert all(name == obj["type"] for name, obj in pairs) and b"[DONE]" not in raw
    for _, obj in pairs:
        TypeAdapter(ResponseStreamEvent).validate_python(obj)
    delta = next(obj for name, obj in pairs if name == "response.output_text.delta")
    assert list(delta) == ["type", "sequence_number", "item_id", "output_index", "content_index", "delta", "logprobs", "obfuscation"]


def test_responses_stream_tool_call(oai):
    events = list(oai.responses.create(model="gpt-4o-tool", input=QUESTION, tools=TOOLS, stream=True))
    assert collapse([e.type for e in events]) == TOOL_EVENTS
    added, done = events[2].item, events[-2].item
    assert added.type == "function_call" and added.arguments == "" and added.status == "in_progress"
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert args == done.arguments == events[-3].arguments and json.loads(args) == {"country": QUESTION}
    assert events[-1].response.output[0].call_id == added.call_id


def test_responses_previous_response_id_is_never_found(fake, oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.responses.create(model="gpt-4o", input="again", previous_response_id="resp_abc123")
    assert info.value.status_code == 400
    assert info.value.body == {
        "message": "Previous response with id 'resp_abc123' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }
    assert fake.requests[-1].json["previous_response_id"] == "resp_abc123"


def test_responses_request_checks(fake, oai):
    chat_style = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    status, _, raw = post(fake.openai_base + "/responses", {"model": "gpt-4o", "input": QUESTION, "tools": chat_style})
    assert status == 400 and json.loads(raw)["error"]["param"] == "tools[0].name"
    status, _, raw = post(fake.openai_base + "/responses", {"model": "gpt-4o", "input": [{"role": "tool", "content": "x"}]})
    assert status == 400 and json.loads(raw)["error"]["code"] == "invalid_value"
    status, _, raw = post(fake.openai_base + "/responses", {"model": "gpt-4o", "input": QUESTION, "max_output_tokens": 8})
    assert status == 400 and json.loads(raw)["error"]["code"] == "integer_below_min_value"
    status, _, raw = post(fake.openai_base + "/responses", {"model": "gpt-4o"})
    assert status == 400 and json.loads(raw)["error"]["code"] == "missing_required_parameter"
    status, _, raw = post(fake.openai_base + "/responses", {"model": "gpt-4o", "input": "x"}, {"Authorization": "Bearer bad-key"})
    assert status == 401 and json.loads(raw)["error"]["code"] == "invalid_api_key"
    status, _, raw = post(fake.openai_base + "/responses", {"model": "gpt-4o", "input": "x"}, {"X-No-Key": "1"})
    assert status == 401


def test_responses_faults(fake, oai):
    with pytest.raises(openai.RateLimitError) as info:
        oai.responses.create(model="gpt-4o-fail-429-ra3", input=QUESTION)
    assert info.value.response.headers["retry-after"] == "3"
    with pytest.raises(openai.APIConnectionError):
        oai.responses.create(model="gpt-4o-reset", input=QUESTION)
    statuses = [post(fake.openai_base + "/responses", {"model": "r-flaky1", "input": "x"})[0] for _ in range(2)]
    assert statuses == [500, 200]

    seen = []
    with pytest.raises(openai.APIConnectionError):
        for e in oai.responses.create(model="gpt-4o-cut-mid", input=QUESTION, stream=True):
            seen.append(e.type)
    assert seen == TEXT_EVENTS[:4] + ["response.output_text.delta"] * 2

    events = list(oai.responses.create(model="gpt-4o-error-in-stream", input=QUESTION, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events))) and len(events) == 7
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.status == "failed"
    assert failed.response.error.code == "server_error"
    # not streamed: a 200 whose Response failed
    resp = oai.responses.create(model="gpt-4o-error-in-stream", input=QUESTION)
    assert resp.status == "failed" and resp.error.code == "server_error"

    status, headers, raw = post(fake.openai_base + "/responses", {"model": "gpt-4o-garbage", "input": "x", "stream": True})
    assert status == 200 and raw.startswith(b"event: response.created\ndata: <html>")


# OpenAI legacy completions


def test_completions_one_choice_per_prompt(fake, oai):
    raw = oai.completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt=["Say hi", "Say bye"], suffix="!")
    body = json.loads(raw.text)
    assert list(body) == ["id", "object", "created", "model", "choices", "usage"]
    assert body["id"].startswith("cmpl-") and body["object"] == "text_completion"
    assert body["choices"] == [
        {"text": "Echo: Say hi", "index": 0, "logprobs": None, "finish_reason": "stop"},
        {"text": "Echo: Say bye", "index": 1, "logprobs": None, "finish_reason": "stop"},
    ]
    parsed = raw.parse()
    assert parsed.usage.total_tokens == parsed.usage.prompt_tokens + parsed.usage.completion_tokens
    assert oai.completions.create(model="davinci-002-completion", prompt="x", max_tokens=1).choices[0].finish_reason == "length"


def test_completions_stream(fake, oai):
    chunks = list(
        oai.completions.create(model="gpt-3.5-turbo-instruct", prompt=QUESTION, stream=True, stream_options={"include_usage": True})
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Echo: " + QUESTION
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens > 0 and all(c.usage is None for c in chunks[:-1])

    status, _, raw = post(fake.openai_base + "/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"], "stream": True})
    assert status == 200 and raw.endswith(b"data: [DONE]\n\n") and b'"usage"' not in raw
    finishes = [c["choices"][0] for c in json.loads("[" + ",".join(
        line[6:] for line in raw.decode().split("\n") if line.startswith("data: {")) + "]") if c["choices"][0]["finish_reason"]]
    assert [(f["index"], f["text"]) for f in finishes] == [(0, ""), (1, "")]


def test_completions_refuse_chat_models_and_take_faults(fake, oai):
    with pytest.raises(openai.NotFoundError) as info:
        oai.completions.create(model="gpt-4o", prompt="x")
    assert info.value.body == {
        "message": "This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
    with pytest.raises(openai.InternalServerError) as err:
        oai.completions.create(model="gpt-3.5-turbo-instruct-fail-503", prompt="x")
    assert err.value.status_code == 503
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for c in oai.completions.create(model="gpt-3.5-turbo-instruct-cut-mid", prompt=QUESTION, stream=True):
            seen.append(c.choices[0].text)
    assert seen == ["Echo: ", "What "]


# Anthropic count_tokens and thinking


def test_count_tokens_matches_messages_usage(fake, claude):
    kwargs = {"model": "claude-test", "system": "You are terse.", "messages": [{"role": "user", "content": QUESTION}]}
    counted = claude.messages.count_tokens(**kwargs)
    used = claude.messages.create(max_tokens=64, **kwargs).usage
    assert counted.input_tokens == used.input_tokens + used.cache_read_input_tokens > 0
    recorded = fake.requests[0]
    assert recorded.path == "/anthropic/v1/messages/count_tokens" and "max_tokens" not in recorded.json

    url = fake.anthropic_base + "/v1/messages/count_tokens"
    status, _, raw = post(url, {"model": "c", "messages": []}, {"anthropic-version": "2023-06-01"})
    assert status == 401 and json.loads(raw)["error"]["type"] == "authentication_error"
    status, _, raw = post(url, {"model": "c", "messages": []}, {"x-api-key": "k"})
    assert status == 400 and json.loads(raw)["error"]["message"] == "anthropic-version: header is required"
    status, _, raw = post(url, {"model": "c"}, ANTHROPIC_HEADERS)
    assert status == 400 and json.loads(raw)["error"]["message"] == "messages: Field required"
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.count_tokens(model="claude-fail-429", messages=[{"role": "user", "content": "x"}])


def test_anthropic_version_and_beta_headers_are_recorded(fake, claude):
    claude.messages.create(
        model="claude-test", max_tokens=9, messages=[{"role": "user", "content": "x"}],
        extra_headers={"anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    headers = fake.requests[-1].headers
    assert headers["anthropic-version"] == "2023-06-01" and headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"


def test_thinking_answer_and_signature_round_trip(fake, claude):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    user = [{"role": "user", "content": QUESTION}]
    msg = claude.messages.create(model="claude-think", max_tokens=2048, thinking=thinking, messages=user)
    block, text = msg.content
    assert block.type == "thinking" and block.thinking and block.signature and text.text == "Echo: " + QUESTION
    plain = claude.messages.create(model="claude-think", max_tokens=2048, messages=user)
    assert [b.type for b in plain.content] == ["text"]
    assert [b.type for b in claude.messages.create(model="claude-test", max_tokens=2048, thinking=thinking, messages=user).content] == ["text"]

    with claude.messages.stream(model="claude-think", max_tokens=2048, thinking=thinking, messages=user) as stream:
        types = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in stream]
        final = stream.get_final_message()
    assert final.content[0].thinking == block.thinking and final.content[0].signature == block.signature
    assert ("content_block_delta", "thinking_delta") in types and ("content_block_delta", "signature_delta") in types
    assert types.index(("content_block_delta", "signature_delta")) < types.index(("content_block_delta", "text_delta"))

    # the signed block goes back intact: accepted
    turn = [*user, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
            {"role": "user", "content": "And of France?"}]
    ok = claude.messages.create(model="claude-think", max_tokens=2048, thinking=thinking, messages=turn)
    assert ok.content[-1].text == "Echo: And of France?"
    opaque = [*user, {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "EvMCCkYICxgC"}]},
              {"role": "user", "content": "x"}]
    assert claude.messages.create(model="claude-test", max_tokens=64, messages=opaque).content

    # stripped, emptied or altered: 400, naming the block
    for change in ({"signature": ""}, {"signature": None}, {"thinking": "edited"}):
        first = {k: v for k, v in {**turn[1]["content"][0], **change}.items() if v is not None}
        bad = [turn[0], {"role": "assistant", "content": [first, turn[1]["content"][1]]}, turn[2]]
        with pytest.raises(anthropic.BadRequestError) as info:
            claude.messages.create(model="claude-think", max_tokens=2048, thinking=thinking, messages=bad)
        assert info.value.body["error"] == {
            "type": "invalid_request_error",
            "message": "messages.1.content.0: Invalid `signature` in `thinking` block",
        }


def test_thinking_stream_bytes(fake):
    body = {"model": "claude-think", "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    status, _, raw = post(fake.anthropic_base + "/v1/messages", body, ANTHROPIC_HEADERS)
    events = sse_events(raw)
    assert status == 200 and [n for n, _ in events][:3] == ["message_start", "content_block_start", "ping"]
    starts = [(obj["index"], obj["content_block"]) for n, obj in events if n == "content_block_start"]
    assert starts == [(0, {"type": "thinking", "thinking": "", "signature": ""}), (1, {"type": "text", "text": ""})]
    deltas = [obj["delta"]["type"] for n, obj in events if n == "content_block_delta" and obj["index"] == 0]
    assert deltas[-1] == "signature_delta" and set(deltas[:-1]) == {"thinking_delta"}


def test_every_new_body_validates_strictly_against_the_sdk_types(fake):
    """model_validate (not the SDKs' lenient construct): every required field present and well typed."""
    events = TypeAdapter(ResponseStreamEvent)
    base = fake.openai_base
    for body in (
        {"model": "gpt-4o-tool", "input": QUESTION, "tools": TOOLS},
        {"model": "gpt-4o-cache", "input": [{"role": "user", "content": QUESTION}]},
        {"model": "gpt-4o-error-in-stream", "input": QUESTION},
    ):
        status, _, raw = post(base + "/responses", body)
        assert status == 200 and Response.model_validate(json.loads(raw))
        status, _, raw = post(base + "/responses", {**body, "stream": True})
        pairs = sse_events(raw)
        assert status == 200 and pairs and all(events.validate_python(obj).type == name for name, obj in pairs)

    for body in ({"prompt": ["a", "b"]}, {"prompt": "x", "stream": True, "stream_options": {"include_usage": True}}):
        status, _, raw = post(base + "/completions", {"model": "gpt-3.5-turbo-instruct", **body})
        if body.get("stream"):
            chunks = [json.loads(line[6:]) for line in raw.decode().split("\n") if line.startswith("data: {")]
        else:
            chunks = [json.loads(raw)]
        # The SDK reuses Completion for stream chunks, whose finish_reason is null (as on the wire) until the end.
        done = [c for c in chunks if all(ch["finish_reason"] for ch in c["choices"])]
        assert status == 200 and done and all(openai.types.Completion.model_validate(c) for c in done)
        assert all(list(ch) == ["text", "index", "logprobs", "finish_reason"] for c in chunks for ch in c["choices"])

    url = fake.anthropic_base + "/v1/messages"
    status, _, raw = post(url + "/count_tokens", {"model": "c", "messages": [{"role": "user", "content": "x"}]}, ANTHROPIC_HEADERS)
    assert status == 200 and anthropic.types.MessageTokensCount.model_validate(json.loads(raw)).input_tokens > 0
    body = {"model": "claude-think-tool", "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": QUESTION}],
            "tools": [{"name": "get_capital", "input_schema": TOOLS[0]["parameters"]}]}
    status, _, raw = post(url, body, ANTHROPIC_HEADERS)
    msg = anthropic.types.Message.model_validate(json.loads(raw))
    assert status == 200 and [b.type for b in msg.content] == ["thinking", "tool_use"] and msg.stop_reason == "tool_use"
    status, _, raw = post(url, {**body, "stream": True}, ANTHROPIC_HEADERS)
    stream_events = TypeAdapter(anthropic.types.RawMessageStreamEvent)
    assert all(stream_events.validate_python(obj).type == name for name, obj in sse_events(raw) if name != "ping")
