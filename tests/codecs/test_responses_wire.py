"""The Responses API codec, pure: requests to chat bodies, chat answers and chunk streams to
Responses objects and events, each checked against the `openai` SDK's own types."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pydantic
import pytest
from openai.types import responses as rt

from rin.codecs.responses_stream import ChatToResponsesStream
from rin.codecs.responses_wire import (
    chat_to_response, input_items, output_as_input, responses_to_chat,
)
from rin.errors import InvalidRequest, UpstreamProtocolError, UpstreamServerError
from rin.providers.sse import SSEDecoder
from rin.types import Usage
from tests.conftest import shared_fixture

try:  # the installed SDK is built on httpx2; older ones on httpx
    import httpx2 as httpx
except ImportError:
    import httpx

EVENTS = pydantic.TypeAdapter(rt.ResponseStreamEvent)
RID = "resp_abc123"


def chat_of(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return responses_to_chat({"model": "m", **body}, history)


def invalid(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        chat_of(body, history)
    return info.value


def completion(message: dict[str, Any], finish: str = "stop", usage: dict | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
            "usage": usage or {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
                         "choices": choices, **extra})


def parse_frames(frames: list[bytes]) -> list[dict[str, Any]]:
    """Splits SSE frames, checks each against the SDK's event union, returns the payloads."""
    payloads = []
    for frame in frames:
        assert frame.endswith(b"\n\n")
        event_line, data_line = frame[:-2].split(b"\n")
        data = orjson.loads(data_line.removeprefix(b"data: "))
        assert event_line == b"event: " + data["type"].encode()
        event = EVENTS.validate_python(data)
        assert event.type == data["type"]
        payloads.append(data)
    return payloads


def run_stream(chunks: list[bytes], usage: Usage | None = None, request: dict | None = None,
               ) -> tuple[ChatToResponsesStream, list[dict[str, Any]]]:
    stream = ChatToResponsesStream(request or {"model": "m", "input": "hi"}, RID, 1700000000, "gpt-test")
    frames: list[bytes] = []
    for payload in chunks:
        frames += stream.feed(payload)
    frames += stream.close(usage)
    events = parse_frames(frames)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return stream, events


# --- requests -------------------------------------------------------------------------------------

def test_string_input_and_instructions():
    chat = chat_of({"input": "Hello", "instructions": "Be brief."})
    assert chat == {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                               {"role": "user", "content": "Hello"}]}


@pytest.mark.parametrize("body, param", [
    ({"input": "hi", "model": None}, "model"),
    ({"input": "hi", "model": 3}, "model"),
    ({}, "input"),
    ({"input": 42}, "input"),
    ({"input": []}, "input"),
    ({"input": ["text"]}, "input[0]"),
    ({"input": "hi", "instructions": ["x"]}, "instructions"),
    ({"input": "hi", "text": "json"}, "text"),
    ({"input": "hi", "reasoning": "high"}, "reasoning"),
])
def test_model_and_input_are_validated(body, param):
    with pytest.raises(InvalidRequest) as info:
        responses_to_chat({"model": "m", **body})
    assert info.value.param == param and info.value.status == 400


def test_message_items_roles_and_parts():
    chat = chat_of({"input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Rule 1"},
                                                             {"type": "input_text", "text": "Rule 2"}]},
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "https://x/cat.png", "detail": "high"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "A ", "annotations": []},
                     {"type": "output_text", "text": "cat."}]},
    ]})
    assert chat["messages"] == [
        {"role": "system", "content": "Rule 1\nRule 2"},
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "auto"}}]},
        {"role": "assistant", "content": "A cat."},
    ]


@pytest.mark.parametrize("item, param", [
    ({"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}, "input[0].content[0]"),
    ({"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}, "input[0].content[0]"),
    ({"role": "user", "content": [{"type": "input_audio"}]}, "input[0].content[0]"),
    ({"role": "tool", "content": "x"}, "input[0].role"),
    ({"role": "user", "content": 5}, "input[0].content"),
    ({"role": "assistant", "content": [{"type": "input_image", "image_url": "https://x"}]}, "input[0].content"),
    ({"type": "item_reference", "id": "msg_1"}, "input[0]"),
    ({"type": "computer_call_output", "call_id": "c"}, "input[0]"),
    ({"type": "function_call", "call_id": "c", "name": "f"}, "input[0]"),
    ({"type": "function_call_output", "output": "x"}, "input[0]"),
    ({"type": "function_call_output", "call_id": "c", "output": 5}, "input[0].output"),
])
def test_bad_items_are_invalid_requests(item, param):
    assert invalid({"input": [item]}).param == param


def test_function_calls_merge_into_one_assistant_message():
    chat = chat_of({"input": [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather",
         "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
        {"type": "function_call", "call_id": "call_2", "name": "weather", "arguments": "{\"city\":\"Rome\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "21"}, {"type": "input_text", "text": "C"}]},
        {"type": "function_call", "call_id": "call_3", "name": "weather", "arguments": "{}"},
    ]})
    assert chat["messages"][1:] == [
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_3", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
    ]


def test_image_in_tool_output_is_refused():
    err = invalid({"input": [{"type": "function_call_output", "call_id": "c",
                              "output": [{"type": "input_image", "image_url": "https://x"}]}]})
    assert err.param == "input[0].output"


def test_history_goes_between_instructions_and_input():
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "one"}]
    chat = chat_of({"input": "second", "instructions": "Now terse."}, history)
    assert [m["content"] for m in chat["messages"]] == ["Now terse.", "first", "one", "second"]
    assert chat_of({"input": []}, history)["messages"] == history


def test_empty_input_is_fine_before_the_history_is_resolved():
    assert chat_of({"input": [], "previous_response_id": "resp_0"})["messages"] == []


def test_public_api():
    from rin.codecs import responses_wire
    assert sorted(responses_wire.__all__) == ["ChatToResponsesStream", "chat_to_response", "input_items",
                                              "output_as_input", "responses_to_chat"]


def test_errors_point_into_this_request_not_the_history():
    history = [{"role": "user", "content": "a"}, {"type": "mystery"}]
    assert invalid({"input": "b"}, history).param == "previous_response_id"
    assert invalid({"input": [{"type": "mystery"}]}, [{"role": "user", "content": "a"}]).param == "input[0]"


def test_function_tools_and_tool_choice():
    chat = chat_of({"input": "hi", "tool_choice": {"type": "function", "name": "f"}, "tools": [
        {"type": "function", "name": "f", "description": "does f", "strict": True,
         "parameters": {"type": "object", "properties": {}}},
        {"type": "function", "name": "g", "parameters": None, "strict": None}]})
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "f", "description": "does f", "strict": True,
                                          "parameters": {"type": "object", "properties": {}}}},
        {"type": "function", "function": {"name": "g"}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    for choice in ("auto", "none", "required"):
        assert chat_of({"input": "hi", "tool_choice": choice})["tool_choice"] == choice
    assert "tools" not in chat_of({"input": "hi", "tools": []})


@pytest.mark.parametrize("kind", ["web_search", "web_search_preview", "file_search", "computer_use_preview",
                                  "code_interpreter", "mcp", "image_generation", "local_shell", "custom"])
def test_built_in_tools_need_openai(kind):
    err = invalid({"input": "hi", "tools": [{"type": kind}]})
    assert err.param == "tools" and "built-in tools need an OpenAI deployment" in err.message


@pytest.mark.parametrize("choice", [{"type": "web_search_preview"}, "sometimes", {"type": "function"}])
def test_other_tool_choices_are_refused(choice):
    assert invalid({"input": "hi", "tool_choice": choice}).param == "tool_choice"


def test_text_format():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = chat_of({"input": "hi", "text": {"format": {"type": "json_schema", "name": "A", "schema": schema,
                                                       "strict": True, "description": "an A"}}})
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "A", "schema": schema, "strict": True, "description": "an A"}}
    json_object = chat_of({"input": "hi", "text": {"format": {"type": "json_object"}}})
    assert json_object["response_format"] == {"type": "json_object"}
    assert "response_format" not in chat_of({"input": "hi", "text": {"format": {"type": "text"},
                                                                     "verbosity": "low"}})
    assert invalid({"input": "hi", "text": {"format": {"type": "json_schema"}}}).param == "text.format"


def test_sampling_and_other_options():
    chat = chat_of({"input": "hi", "temperature": 0.2, "top_p": 0.9, "user": "u1", "safety_identifier": "s1",
                    "parallel_tool_calls": False, "max_output_tokens": 77, "reasoning": {"effort": "low",
                    "summary": "auto"}, "top_logprobs": 3, "metadata": {"k": "v"}, "store": False,
                    "stream": True, "include": ["reasoning.encrypted_content"], "truncation": "auto"})
    assert chat == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2,
                    "top_p": 0.9, "user": "u1", "parallel_tool_calls": False, "max_tokens": 77,
                    "reasoning_effort": "low", "stream": True, "stream_options": {"include_usage": True}}
    assert chat_of({"input": "hi", "safety_identifier": "s1"})["user"] == "s1"
    assert "stream" not in chat_of({"input": "hi", "stream": False})


@pytest.mark.parametrize("body, param", [
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"background": True}, "background"),
])
def test_openai_only_features_are_refused(body, param):
    assert invalid({"input": "hi", **body}).param == param


def test_input_items_normalises():
    assert input_items({"input": "hi"}) == [{"role": "user", "content": "hi"}]
    items = [{"role": "user", "content": "a"}]
    assert input_items({"input": items}) == items and input_items({"input": items}) is not items


# --- non-streaming answers ------------------------------------------------------------------------

def validated(response: dict[str, Any]) -> rt.Response:
    return rt.Response.model_validate(response)


def test_text_answer_is_a_valid_response():
    chat = completion({"content": "Hello there."}, usage={
        "prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 6}, "completion_tokens_details": {"reasoning_tokens": 2}})
    response = chat_to_response(chat, {"model": "m", "input": "hi"}, RID, 1700000000)
    parsed = validated(response)
    assert parsed.output_text == "Hello there."
    assert parsed.status == "completed" and parsed.incomplete_details is None and parsed.error is None
    assert response["output"] == [{"id": "msg_abc123_0", "type": "message", "status": "completed",
                                   "role": "assistant", "content": [{"type": "output_text", "text": "Hello there.",
                                                                     "annotations": [], "logprobs": []}]}]
    assert response["usage"] == {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 6,
                                 "cache_write_tokens": 0}, "output_tokens": 4,
                                 "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 14}
    assert {k: response[k] for k in ("id", "object", "created_at", "model", "tool_choice", "tools",
                                     "temperature", "top_p", "text", "truncation", "metadata", "store",
                                     "parallel_tool_calls", "reasoning")} == {
        "id": RID, "object": "response", "created_at": 1700000000, "model": "gpt-test", "tool_choice": "auto",
        "tools": [], "temperature": 1.0, "top_p": 1.0, "text": {"format": {"type": "text"}},
        "truncation": "disabled", "metadata": {}, "store": True, "parallel_tool_calls": True,
        "reasoning": {"effort": None, "summary": None}}


def test_request_settings_are_echoed():
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}]
    request = {"model": "m", "input": "hi", "instructions": "Be brief.", "tools": tools, "tool_choice": "required",
               "temperature": 0.3, "top_p": 0.5, "max_output_tokens": 100, "previous_response_id": "resp_0",
               "metadata": {"k": "v"}, "user": "u", "store": False, "parallel_tool_calls": False,
               "reasoning": {"effort": "high"}, "text": {"format": {"type": "json_object"}, "verbosity": "low"}}
    response = chat_to_response(completion({"content": "{}"}), request, RID, 1)
    validated(response)
    for key in ("instructions", "tools", "tool_choice", "temperature", "top_p", "max_output_tokens",
                "previous_response_id", "metadata", "user", "store", "parallel_tool_calls", "text"):
        assert response[key] == request[key], key
    assert response["reasoning"] == {"effort": "high", "summary": None}


def test_tool_calls_and_reasoning_become_output_items():
    chat = completion({"content": None, "reasoning_content": "Need the weather.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"c\":\"Paris\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"c\":\"Rome\"}"}},
    ]}, finish="tool_calls")
    response = chat_to_response(chat, {"model": "m", "input": "hi"}, RID, 1)
    parsed = validated(response)
    assert parsed.output_text == ""
    assert response["output"] == [
        {"id": "rs_abc123_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Need the weather."}]},
        {"id": "fc_abc123_1", "type": "function_call", "status": "completed", "arguments": "{\"c\":\"Paris\"}",
         "call_id": "call_1", "name": "weather"},
        {"id": "fc_abc123_2", "type": "function_call", "status": "completed", "arguments": "{\"c\":\"Rome\"}",
         "call_id": "call_2", "name": "weather"},
    ]
    assert [type(item).__name__ for item in parsed.output] == [
        "ResponseReasoningItem", "ResponseFunctionToolCall", "ResponseFunctionToolCall"]


def test_text_with_tool_call_and_openrouter_reasoning():
    chat = completion({"content": "Let me look.", "reasoning": "hmm", "tool_calls": [
        {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
    output = chat_to_response(chat, {"model": "m"}, RID, 1)["output"]
    assert [(o["type"], o["id"]) for o in output] == [
        ("reasoning", "rs_abc123_0"), ("message", "msg_abc123_1"), ("function_call", "fc_abc123_2")]


def test_refusal_is_a_refusal_part():
    response = chat_to_response(completion({"content": None, "refusal": "I can't."}), {"model": "m"}, RID, 1)
    parsed = validated(response)
    assert parsed.output[0].content[0].type == "refusal"


@pytest.mark.parametrize("finish, reason", [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_truncated_answers_are_incomplete(finish, reason):
    response = chat_to_response(completion({"content": "Once upon"}, finish), {"model": "m"}, RID, 1)
    parsed = validated(response)
    assert parsed.status == "incomplete" and parsed.incomplete_details.reason == reason
    assert response["output"][-1]["status"] == "incomplete"


def test_model_falls_back_to_the_request_and_usage_may_be_absent():
    chat = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
    response = chat_to_response(chat, {"model": "route-name"}, "resp_x", 1)
    assert response["model"] == "route-name" and response["usage"] is None
    validated(response)


def test_output_as_input_chains_the_next_turn():
    chat = completion({"content": "Checking.", "reasoning_content": "r", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
    request = {"model": "m", "input": "go"}
    response = chat_to_response(chat, request, RID, 1)
    stored = input_items(request) + output_as_input(response)
    assert stored == [{"role": "user", "content": "go"}, {"role": "assistant", "content": "Checking."},
                      {"type": "function_call", "arguments": "{}", "call_id": "call_1", "name": "f"}]
    follow_up = chat_of({"input": [{"type": "function_call_output", "call_id": "call_1", "output": "done"}]},
                        stored)
    assert follow_up["messages"] == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"}]


# --- streams --------------------------------------------------------------------------------------

TEXT_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
               "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
               "response.output_text.done", "response.content_part.done", "response.output_item.done",
               "response.completed"]


def test_text_stream_events_in_order():
    stream, events = run_stream([
        chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}), chunk({"content": "lo"}),
        chunk({}, "stop"), chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})])
    assert [e["type"] for e in events] == TEXT_EVENTS
    created, in_progress = events[0]["response"], events[1]["response"]
    assert created["status"] == in_progress["status"] == "in_progress" and created["output"] == []
    assert events[2]["item"] == {"id": "msg_abc123_0", "type": "message", "status": "in_progress",
                                 "role": "assistant", "content": []}
    assert events[3]["part"] == {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    assert {k: events[4][k] for k in ("item_id", "output_index", "content_index", "delta", "logprobs")} == {
        "item_id": "msg_abc123_0", "output_index": 0, "content_index": 0, "delta": "Hel", "logprobs": []}
    assert events[6]["text"] == "Hello" and events[7]["part"]["text"] == "Hello"
    assert events[8]["item"]["status"] == "completed"
    final = events[-1]["response"]
    assert final == stream.response
    assert validated(final).output_text == "Hello" and final["status"] == "completed"
    assert final["usage"]["total_tokens"] == 5  # from the usage chunk: close() had none


def test_event_payloads_are_the_right_sdk_classes():
    _, events = run_stream([chunk({"content": "Hi"}, "stop")])
    classes = [type(EVENTS.validate_python(e)).__name__ for e in events]
    assert classes == ["ResponseCreatedEvent", "ResponseInProgressEvent", "ResponseOutputItemAddedEvent",
                       "ResponseContentPartAddedEvent", "ResponseTextDeltaEvent", "ResponseTextDoneEvent",
                       "ResponseContentPartDoneEvent", "ResponseOutputItemDoneEvent", "ResponseCompletedEvent"]


def test_tool_call_stream_events_in_order():
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    stream, events = run_stream([
        chunk({"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"c\":"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                               "function": {"name": "time", "arguments": "{}"}}]}),
        chunk({}, "tool_calls")], usage=Usage(prompt_tokens=7, completion_tokens=9, total_tokens=16))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert events[2]["item"] == {"id": "fc_abc123_0", "type": "function_call", "status": "in_progress",
                                 "arguments": "", "call_id": "call_1", "name": "weather"}
    assert events[5] | {"sequence_number": 0} == {"type": "response.function_call_arguments.done",
                                                 "sequence_number": 0, "item_id": "fc_abc123_0",
                                                 "output_index": 0, "arguments": "{\"c\":\"Paris\"}"}
    assert events[7]["output_index"] == 1 and events[7]["item"]["call_id"] == "call_2"
    final = validated(stream.response)
    assert [(o.call_id, o.arguments, o.status) for o in final.output] == [
        ("call_1", "{\"c\":\"Paris\"}", "completed"), ("call_2", "{}", "completed")]
    assert stream.response["usage"]["input_tokens"] == 7  # close(usage) is used


def test_reasoning_then_text_stream():
    stream, events = run_stream([chunk({"reasoning_content": "Think"}), chunk({"reasoning_content": "ing."}),
                                 chunk({"content": "Answer."}, "stop")])
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
        "response.output_item.done", *TEXT_EVENTS[2:4], "response.output_text.delta", *TEXT_EVENTS[6:]]
    assert events[2]["item"] == {"id": "rs_abc123_0", "type": "reasoning", "summary": []}
    assert events[8]["item"]["summary"] == [{"type": "summary_text", "text": "Thinking."}]
    assert events[9]["output_index"] == 1 and events[9]["item"]["id"] == "msg_abc123_1"
    assert validated(stream.response).output_text == "Answer."


def test_length_stream_ends_incomplete():
    stream, events = run_stream([chunk({"content": "Once upon"}), chunk({}, "length")])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-2]["item"]["status"] == "incomplete"
    assert stream.response["status"] == "incomplete"
    assert stream.response["incomplete_details"] == {"reason": "max_output_tokens"}


def test_empty_stream_and_explicit_start():
    stream = ChatToResponsesStream({"model": "m", "input": "hi"}, RID, 1, "gpt-test")
    first = stream.start()
    assert stream.start() == []
    events = parse_frames(first + stream.close(None))
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.completed"]
    assert stream.response["output"] == [] and stream.response["usage"] is None


def test_error_frame_continues_the_sequence():
    stream = ChatToResponsesStream({"model": "m", "input": "hi"}, RID, 1, "gpt-test")
    frames = stream.feed(chunk({"content": "Hi"}))
    frames.append(stream.error_frame(UpstreamServerError("the provider failed", code="server_error")))
    events = parse_frames(frames)
    assert events[-1] == {"type": "error", "sequence_number": len(events) - 1, "code": "server_error",
                          "message": "the provider failed", "param": None}


def test_other_choices_and_non_json_chunks():
    stream = ChatToResponsesStream({"model": "m"}, RID, 1, "gpt-test")
    assert len(stream.feed(orjson.dumps({"choices": [{"index": 1, "delta": {"content": "x"}}]}))) == 2
    with pytest.raises(UpstreamProtocolError):
        stream.feed(b"not json")


def transcript_chunks(name: str) -> list[bytes]:
    raw = shared_fixture("transcripts", name).read_bytes()
    decoder = SSEDecoder()
    events = decoder.feed(raw) + decoder.flush()
    return [e.data.encode() for e in events if e.data and e.data != "[DONE]"]


def test_recorded_openai_tool_call_stream():
    stream, events = run_stream(transcript_chunks("openai_chat_stream_tool_call_with_usage.txt"))
    final = validated(stream.response)
    assert [o.type for o in final.output] == ["function_call"]
    assert final.output[0].name == "get_capital" and orjson.loads(final.output[0].arguments)
    assert final.usage is not None and final.usage.output_tokens > 0


def test_recorded_openrouter_reasoning_stream():
    stream, events = run_stream(transcript_chunks("openrouter_stream_anthropic_reasoning.txt"))
    final = validated(stream.response)
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text and final.output_text


# --- the real SDK, end to end over a mock transport --------------------------------------------------

def sdk_client(handler) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url="http://rin.test/v1", max_retries=0,
                         http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_sdk_create_reads_the_response():
    body = chat_to_response(completion({"content": "Paris."}), {"model": "m", "input": "hi"}, RID, 1)
    client = sdk_client(lambda request: httpx.Response(200, json=body))
    response = client.responses.create(model="m", input="Capital of France?")
    assert response.output_text == "Paris." and response.usage.total_tokens == 14


def test_sdk_stream_accumulates_the_events():
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}
    stream = ChatToResponsesStream({"model": "m", "input": "hi"}, RID, 1, "gpt-test")
    frames = []
    for payload in (chunk({"reasoning_content": "r"}), chunk({"content": "Sure, "}), chunk({"content": "calling."}),
                    chunk({"tool_calls": [call]}), chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
                    chunk({}, "tool_calls")):
        frames += stream.feed(payload)
    frames += stream.close(Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3))
    body = b"".join(frames)
    client = sdk_client(lambda request: httpx.Response(
        200, content=body, headers={"content-type": "text/event-stream"}))
    with client.responses.stream(model="m", input="hi") as events:
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        final = events.get_final_response()
    assert deltas == ["Sure, ", "calling."]
    assert final.output_text == "Sure, calling."
    assert final.output[2].arguments == "{\"a\":1}" and final.usage.total_tokens == 3
