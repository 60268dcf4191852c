"""The Anthropic adapter against recorded Anthropic answers and the documented request format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rin.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from rin.providers.anthropic import AnthropicAdapter
from rin.providers.sse import SSEDecoder
from rin.types import ChatRequest, Deployment, ModelInfo, Secret

DATA = Path(__file__).parent / "data"
TRANSCRIPTS = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "transcripts"

adapter = AnthropicAdapter()


def deployment(**overrides: Any) -> Deployment:
    fields: dict[str, Any] = {
        "model_name": "claude-sonnet", "provider": "anthropic", "provider_model": "claude-sonnet-4-5",
        "api_base": "https://api.anthropic.com", "id": "dep-1", "api_key": Secret("sk-ant-test"),
    }
    fields.update(overrides)
    return Deployment(**fields)


def build(body: dict[str, Any], dep: Deployment | None = None, **req: Any) -> dict[str, Any]:
    body = {"model": "claude-sonnet", "messages": [{"role": "user", "content": "Hi"}], **body}
    upstream = adapter.build_chat(ChatRequest(body=body, model="claude-sonnet", **req), dep or deployment())
    return orjson.loads(upstream.body)


class Replay:
    """One stream through the SSE decoder and the parser, as the transport would feed it."""

    def __init__(self, raw: bytes, piece: int | None = None) -> None:
        self.parser = adapter.stream_parser(ChatRequest(body={}, model="claude-sonnet"), deployment())
        decoder = SSEDecoder()
        events = []
        step = piece or len(raw)
        for start in range(0, len(raw), step):
            events += decoder.feed(raw[start:start + step])
        events += decoder.flush()
        self.chunks = [orjson.loads(c) for e in events for c in self.parser.feed(e)]
        self.chunks += [orjson.loads(c) for c in self.parser.finish()]

    def deltas(self) -> list[dict[str, Any]]:
        return [c["choices"][0]["delta"] for c in self.chunks]

    def joined(self, key: str) -> str:
        return "".join(d.get(key) or "" for d in self.deltas())

    def tool_calls(self) -> dict[int, dict[str, str]]:
        calls: dict[int, dict[str, str]] = {}
        for delta in self.deltas():
            for tc in delta.get("tool_calls") or []:
                call = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] += tc.get("id") or ""
                call["name"] += tc["function"].get("name") or ""
                call["arguments"] += tc["function"].get("arguments") or ""
        return calls

    def finish_reasons(self) -> list[str]:
        return [c["choices"][0]["finish_reason"] for c in self.chunks if c["choices"][0]["finish_reason"]]


def check_stream_shape(replay: Replay) -> None:
    first = replay.chunks[0]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {(c["id"], c["created"], c["model"]) for c in replay.chunks} == {
        (first["id"], first["created"], first["model"])
    }
    assert all(c["object"] == "chat.completion.chunk" and c["choices"] for c in replay.chunks)
    assert len(replay.finish_reasons()) == 1 and replay.chunks[-1]["choices"][0]["finish_reason"]
    assert replay.parser.done
    usage_chunk = orjson.loads(replay.parser.usage_chunk)
    assert usage_chunk["choices"] == [] and usage_chunk["id"] == first["id"]
    usage = replay.parser.usage
    assert usage_chunk["usage"]["prompt_tokens"] == usage.prompt_tokens
    assert usage_chunk["usage"]["completion_tokens"] == usage.completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_with_thinking_gives_reasoning_then_text() -> None:
    replay = Replay((DATA / "anthropic_stream_thinking_excerpt.txt").read_bytes())
    check_stream_shape(replay)
    assert replay.chunks[0]["id"] == "msg_01ALwQ87pTS7hH1PjSdC9wJD"
    assert replay.chunks[0]["model"] == "claude-sonnet-4-20250514"
    assert replay.joined("reasoning_content") == "This is a straightforward question about pedestrian safety"
    assert replay.joined("content") == "Here are the basic"
    assert replay.finish_reasons() == ["stop"]
    assert (replay.parser.usage.prompt_tokens, replay.parser.usage.completion_tokens) == (43, 282)


def test_stream_with_compaction_counts_every_iteration_and_cache_reads() -> None:
    replay = Replay((DATA / "anthropic_stream_compaction_cache_usage.txt").read_bytes())
    check_stream_shape(replay)
    assert replay.joined("content") == "Hello! 👋"  # the compaction summary is not part of the answer
    usage = replay.parser.usage
    # iterations: compaction (100 in + 55096 cache read, 83 out) and message (181 in, 8 out)
    assert usage.cached_tokens == 55096
    assert usage.prompt_tokens == 100 + 55096 + 181
    assert usage.completion_tokens == 83 + 8
    details = orjson.loads(replay.parser.usage_chunk)["usage"]["prompt_tokens_details"]
    assert details["cached_tokens"] == 55096


def test_stream_tool_calls_are_indexed_from_zero_with_whole_arguments() -> None:
    replay = Replay((DATA / "anthropic_stream_tool_use.txt").read_bytes())
    check_stream_shape(replay)
    assert replay.joined("content") == "Checking both cities."
    calls = replay.tool_calls()
    assert calls == {
        0: {"id": "toolu_01Paris", "name": "get_weather", "arguments": '{"location": "Paris, FR"}'},
        1: {"id": "toolu_02Clock", "name": "get_time", "arguments": "{}"},
    }
    assert orjson.loads(calls[0]["arguments"]) == {"location": "Paris, FR"}
    assert replay.finish_reasons() == ["tool_calls"]
    usage = replay.parser.usage
    assert (usage.prompt_tokens, usage.cache_write_tokens, usage.completion_tokens) == (412 + 1200, 1200, 74)


def test_stream_parses_the_same_when_bytes_arrive_in_small_pieces() -> None:
    raw = (DATA / "anthropic_stream_tool_use.txt").read_bytes()
    whole, pieces = Replay(raw), Replay(raw, piece=7)
    assert pieces.deltas() == whole.deltas()
    assert pieces.parser.usage == whole.parser.usage


def test_error_event_in_a_stream_is_a_retryable_overload() -> None:
    raw = (DATA / "anthropic_stream_overloaded.txt").read_bytes()
    parser = adapter.stream_parser(ChatRequest(body={}, model="claude-sonnet"), deployment())
    decoder = SSEDecoder()
    sent = []
    with pytest.raises(UpstreamServerError) as info:
        for event in decoder.feed(raw):
            sent += parser.feed(event)
    assert orjson.loads(sent[-1])["choices"][0]["delta"] == {"content": "Hel"}
    err = info.value
    assert err.upstream_status == 529 and err.retryable
    assert "Anthropic" in err.message and "Overloaded" in err.message
    assert err.usage.prompt_tokens == 25  # what was spent before the failure is still known


def test_stream_that_stops_before_message_stop_is_a_protocol_error() -> None:
    raw = (DATA / "anthropic_stream_tool_use.txt").read_bytes()
    cut = raw[: raw.index(b"event: message_delta")]
    parser = adapter.stream_parser(ChatRequest(body={}, model="claude-sonnet"), deployment())
    decoder = SSEDecoder()
    for event in decoder.feed(cut) + decoder.flush():
        parser.feed(event)
    assert not parser.done and parser.usage_chunk is None
    with pytest.raises(UpstreamProtocolError):
        parser.finish()


def shared(pattern: str) -> list[Path]:
    if not TRANSCRIPTS.is_dir():
        return []
    return sorted(p for p in TRANSCRIPTS.glob(pattern) if not p.name.endswith(".source.txt"))


def need_shared(name: str) -> Path:
    path = TRANSCRIPTS / name
    if not path.is_file():
        pytest.skip("../shared/fixtures is not present")
    return path


@pytest.mark.parametrize("path", shared("anthropic_stream_*.txt"), ids=lambda p: p.stem)
def test_every_shared_anthropic_stream_translates(path: Path) -> None:
    replay = Replay(path.read_bytes())
    check_stream_shape(replay)
    assert replay.joined("content")
    assert replay.parser.usage.prompt_tokens > 0 and replay.parser.usage.completion_tokens > 0


def test_shared_minimal_stream() -> None:
    replay = Replay(need_shared("anthropic_stream_minimal_text.txt").read_bytes())
    assert replay.joined("content") == "2"
    assert (replay.parser.usage.prompt_tokens, replay.parser.usage.completion_tokens) == (20, 5)


def test_shared_thinking_stream_keeps_reasoning_apart() -> None:
    replay = Replay(need_shared("anthropic_stream_thinking_text.txt").read_bytes())
    reasoning, text = replay.joined("reasoning_content"), replay.joined("content")
    assert reasoning.startswith("This is a straightforward question") and reasoning.endswith("accidents.")
    assert text.startswith("Here are the basic steps for safely crossing the street")
    assert "straightforward" not in text


def test_shared_redacted_thinking_is_skipped() -> None:
    replay = Replay(need_shared("anthropic_stream_redacted_thinking.txt").read_bytes())
    assert replay.joined("reasoning_content") == ""
    assert replay.joined("content").startswith("I notice that you've sent")
    assert replay.parser.usage.completion_tokens == 189


def test_shared_server_tool_use_is_not_offered_to_the_client_as_a_tool_call() -> None:
    replay = Replay(need_shared("anthropic_stream_server_tool_use.txt").read_bytes())
    assert replay.tool_calls() == {}
    assert replay.finish_reasons() == ["stop"]
    text = replay.joined("content")
    assert "at the same time!\n\nNo worries" in text  # text blocks split by tool blocks stay apart
    assert text.endswith("The file contains the text you specified.")
    assert (replay.parser.usage.prompt_tokens, replay.parser.usage.completion_tokens) == (7621, 384)


def test_shared_error_bodies_classify() -> None:
    bad = adapter.classify_error(400, {}, need_shared("anthropic_error_400_invalid_request.txt").read_bytes())
    assert type(bad) is UpstreamBadRequest and bad.upstream_status == 400 and not bad.retryable
    assert "effort level 'xhigh'" in bad.message
    missing = adapter.classify_error(404, {}, need_shared("anthropic_error_404_not_found.txt").read_bytes())
    assert isinstance(missing, UpstreamNotFound) and "claude-does-not-exist" in missing.message


def test_not_found_body_from_the_committed_copy() -> None:
    err = adapter.classify_error(404, {}, (DATA / "anthropic_error_404_not_found.json").read_bytes())
    assert isinstance(err, UpstreamNotFound) and err.upstream_status == 404
    assert err.message.startswith("Anthropic") and "model: claude-does-not-exist" in err.message


def envelope(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})


def test_rate_limit_carries_retry_after_seconds() -> None:
    err = adapter.classify_error(429, {"retry-after": "17"}, envelope("rate_limit_error", "Slow down"))
    assert isinstance(err, UpstreamRateLimited) and err.retry_after == 17.0 and err.retryable


@pytest.mark.parametrize(("status", "kind", "cls"), [
    (401, "authentication_error", UpstreamAuthError),
    (403, "permission_error", UpstreamAuthError),
    (413, "request_too_large", UpstreamBadRequest),
    (500, "api_error", UpstreamServerError),
    (529, "overloaded_error", UpstreamServerError),
])
def test_error_types_classify(status: int, kind: str, cls: type) -> None:
    err = adapter.classify_error(status, {}, envelope(kind, "provider says so"))
    assert type(err) is cls and err.upstream_status == status
    assert "provider says so" in err.message and "sk-ant-test" not in err.message


@pytest.mark.parametrize("message", [
    "prompt is too long: 208656 tokens > 200000 maximum",
    "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease input length "
    "or `max_tokens` and try again",
])
def test_a_prompt_too_long_is_a_context_window_error(message: str) -> None:
    """So that context_window_fallbacks move it to a bigger model, as for OpenAI's code."""
    err = adapter.classify_error(400, {}, envelope("invalid_request_error", message))
    assert type(err) is ContextWindowExceeded and err.code == "context_length_exceeded"
    assert err.status == 400 and not err.retryable and message in err.message
    other = adapter.classify_error(400, {}, envelope("invalid_request_error", "max_tokens: Field required"))
    assert type(other) is UpstreamBadRequest


def test_unparseable_error_body_falls_back_to_the_status() -> None:
    err = adapter.classify_error(503, {}, b"<html>upstream connect error</html>")
    assert isinstance(err, UpstreamServerError) and err.retryable
    assert "Anthropic returned HTTP 503" in err.message


def test_non_streaming_answer_becomes_a_chat_completion() -> None:
    raw = (DATA / "anthropic_message_tool_use.json").read_bytes()
    result = adapter.parse_chat(raw, ChatRequest(body={}, model="claude-sonnet"), deployment())
    body = orjson.loads(result.body)
    assert body["id"] == "msg_01NonStreamExample00000" and body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["role"] == "assistant" and message["content"] == "Let me look that up."
    assert message["reasoning_content"] == "The user wants the weather in Paris."
    [call] = message["tool_calls"]
    assert call["id"] == "toolu_01Paris" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"location": "Paris, FR", "unit": "celsius"}
    assert body["usage"]["prompt_tokens"] == 310 + 2048
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 2048
    assert body["usage"]["total_tokens"] == 310 + 2048 + 95
    assert result.usage.cached_tokens == 2048 and result.usage.completion_tokens == 95
    assert result.provider_model == "claude-sonnet-4-5-20250929"


@pytest.mark.parametrize(("stop_reason", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "content_filter"),
])


def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish: str) -> None:
    raw = orjson.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                        "content": [], "stop_reason": stop_reason,
                        "usage": {"input_tokens": 1, "output_tokens": 1}})
    body = orjson.loads(adapter.parse_chat(raw, ChatRequest(body={}, model="m"), deployment()).body)
    assert body["choices"][0]["finish_reason"] == finish
    assert body["choices"][0]["message"]["content"] is None


def test_non_json_answer_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        adapter.parse_chat(b"<html>", ChatRequest(body={}, model="m"), deployment())


@pytest.mark.parametrize("base", [
    "https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1",
    "https://api.anthropic.com/v1/",
])


def test_url_never_doubles_v1(base: str) -> None:
    req = ChatRequest(body={"messages": [{"role": "user", "content": "x"}]}, model="m")
    upstream = adapter.build_chat(req, deployment(api_base=base))
    assert upstream.url == "https://api.anthropic.com/v1/messages" and upstream.method == "POST"


def test_headers_carry_key_version_and_config_headers_win() -> None:
    dep = deployment(extra_headers={"anthropic-beta": "context-1m-2025-08-07",
                                    "anthropic-version": "2099-01-01"})
    req = ChatRequest(body={"messages": [{"role": "user", "content": "x"}]}, model="m")
    upstream = adapter.build_chat(req, dep)
    assert upstream.headers["x-api-key"] == "sk-ant-test"
    assert upstream.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert upstream.headers["anthropic-version"] == "2099-01-01"
    assert upstream.headers["content-type"] == "application/json"
    assert "authorization" not in {k.lower() for k in upstream.headers}


def test_system_and_developer_messages_become_top_level_system() -> None:
    out = build({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
    ]})
    assert out["system"] == "Be brief.\n\nAnswer in French."
    assert out["messages"] == [{"role": "user", "content": "Hello"}]
    assert out["model"] == "claude-sonnet-4-5"


def test_system_parts_with_cache_control_stay_blocks() -> None:
    part = {"type": "text", "text": "Long manual", "cache_control": {"type": "ephemeral"}}
    out = build({"messages": [{"role": "system", "content": [part]}, {"role": "user", "content": "Q"}]})
    assert out["system"] == [part]


def test_images_as_data_urls_and_web_urls() -> None:
    out = build({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
    ]}]})
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_tool_round_trip_and_tool_definitions() -> None:
    out = build({
        "messages": [
            {"role": "user", "content": "Weather in Paris and the time?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}},
                {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, cloudy"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "14:05"},
            {"role": "user", "content": "Thanks, and tomorrow?"},
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        }}, {"type": "function", "function": {"name": "get_time"}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
    })
    assert out["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
    ]}
    # both tool results and the next user text form one user turn, results first
    assert out["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, cloudy"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "14:05"},
        {"type": "text", "text": "Thanks, and tomorrow?"},
    ]}
    assert len(out["messages"]) == 3
    assert out["tools"] == [
        {"name": "get_weather", "description": "Current weather",
         "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert out["tool_choice"] == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"}),
])


def test_tool_choice_words(choice: str, expected: dict[str, str]) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert build({"tools": tools, "tool_choice": choice})["tool_choice"] == expected


def test_invalid_tool_call_arguments_name_the_message() -> None:
    with pytest.raises(InvalidRequest) as info:
        build({"messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]},
        ]})
    assert "messages[1]" in info.value.message


def test_consecutive_user_messages_merge() -> None:
    out = build({"messages": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]})
    assert out["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}]


def test_sampling_stop_user_and_stream() -> None:
    out = build({"temperature": 0.2, "top_k": 40, "stop": "END", "user": "u-42", "stream": True,
                 "stream_options": {"include_usage": True}, "seed": 7, "logit_bias": {"1": 2},
                 "presence_penalty": 0.5, "frequency_penalty": 0.5, "logprobs": True, "n": 1},
                stream=True)
    assert out["temperature"] == 0.2 and out["top_k"] == 40
    assert out["stop_sequences"] == ["END"]
    assert out["metadata"] == {"user_id": "u-42"}
    assert out["stream"] is True
    assert not {"stream_options", "seed", "logit_bias", "presence_penalty", "frequency_penalty", "logprobs",
                "n", "stop", "user"} & set(out)
    assert build({"stop": ["a", "b"]})["stop_sequences"] == ["a", "b"]


def test_only_one_of_temperature_and_top_p_is_sent() -> None:
    defaults = deployment(defaults={"temperature": 0.7, "top_p": 1.0})
    assert build({}, defaults)["temperature"] == 0.7 and "top_p" not in build({}, defaults)
    chose_top_p = build({"top_p": 0.8}, defaults)
    assert chose_top_p["top_p"] == 0.8 and "temperature" not in chose_top_p
    assert build({"top_p": 0.8})["top_p"] == 0.8


def test_max_tokens_request_then_deployment_then_model_limit_then_4096() -> None:
    assert build({"max_tokens": 300}, deployment(defaults={"max_tokens": 900}))["max_tokens"] == 300
    assert build({"max_completion_tokens": 250})["max_tokens"] == 250
    assert build({}, deployment(defaults={"max_tokens": 900}))["max_tokens"] == 900
    assert build({}, deployment(info=ModelInfo(max_output_tokens=64000)))["max_tokens"] == 64000
    assert build({})["max_tokens"] == 4096


def test_temperature_above_one_is_refused_with_the_range() -> None:
    with pytest.raises(InvalidRequest) as info:
        build({"temperature": 1.5})
    assert info.value.param == "temperature"
    assert "0 to 1" in info.value.message and "1.5" in info.value.message


def test_more_than_one_choice_is_refused() -> None:
    with pytest.raises(InvalidRequest) as info:
        build({"n": 2})
    assert info.value.param == "n"


def test_reasoning_effort_becomes_a_thinking_budget_without_default_sampling() -> None:
    dep = deployment(defaults={"temperature": 0.7})
    out = build({"reasoning_effort": "medium"}, dep)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert out["max_tokens"] > 4096  # room for the answer after the thinking
    assert "temperature" not in out  # Anthropic refuses temperature with thinking
    small = build({"reasoning_effort": "high", "max_tokens": 2000})
    assert small["max_tokens"] == 2000 and small["thinking"]["budget_tokens"] == 1999


def test_json_schema_response_format_becomes_structured_output() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    out = build({"response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "response_format" not in build({"response_format": {"type": "json_object"}})


def test_embeddings_are_refused_with_advice() -> None:
    with pytest.raises(InvalidRequest) as info:
        adapter.build_embeddings({"model": "claude-sonnet", "input": "x"}, deployment())
    assert "embedding" in info.value.message and "Anthropic" in info.value.message
