"""POST /v1/messages through RIN with the real `anthropic` SDK: to an Anthropic deployment (the body
passes through) and to an OpenAI one (translated both ways), JSON and stream, tools, errors,
count_tokens, fallbacks, budgets and the ledger."""

from __future__ import annotations

import anthropic
import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.fakes.anthropic_fmt import prompt_tokens
from tests.gateway import Gateway

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def protocols_config(fake) -> dict:
    o, a = fake.openai_base, fake.anthropic_base
    return {
        "model_list": [
            deployment("claude", "anthropic/claude-sonnet-4-5", a, "ANTHROPIC_API_KEY", max_tokens=512),
            deployment("claude-tool", "anthropic/claude-tool", a, "ANTHROPIC_API_KEY"),
            deployment("claude-think", "anthropic/claude-think-4", a, "ANTHROPIC_API_KEY"),
            deployment("gpt-4o", "openai/gpt-4o", o, model_info={
                "input_cost_per_token": 0.0000025, "output_cost_per_token": 0.00001}),
            deployment("gpt-tool", "openai/gpt-tool", o),
            deployment("gpt-plain", "openai/gpt-plain", o, model_info={"supports_reasoning": False}),
            deployment("gpt-instruct", "text-completion-openai/gpt-3.5-turbo-instruct", o),
            deployment("broken", "openai/fail-500", o),
            deployment("limited", "openai/fail-429", o),
            deployment("too-long", "openai/ctx-overflow", o),
            deployment("cut", "openai/cut-mid", o),
            deployment("fails", "openai/error-in-stream", o),
        ],
        "router_settings": {"num_retries": 0, "timeout": 10, "allowed_fails": 1000,
                            "fallbacks": [{"broken": ["claude"]}],
                            "context_window_fallbacks": [{"too-long": ["gpt-4o"]}]},
    }


@pytest.fixture(scope="module")
def gw(fake, tmp_path_factory):
    with Gateway(protocols_config(fake), tmp_path_factory.mktemp("messages"), env=KEYS) as gateway:
        yield gateway


def client(gw: Gateway, **kwargs) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.base_url, api_key="sk-anything", max_retries=0, **kwargs)


def ledger_rows(gw: Gateway, **filters: str) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    status, _, body = gw.request("GET", f"/spend/logs?limit=1000&{query}")
    assert status == 200, body
    return orjson.loads(body)


def rows_for(gw: Gateway, request_id: str) -> list[dict]:
    gw.request("POST", "/admin/reload")  # no-op reload: a cheap way to let the ledger flush first
    return [r for r in ledger_rows(gw) if r["request_id"] == request_id]


@pytest.mark.parametrize("model", ["claude", "gpt-4o"])
def test_text_answer_from_either_provider(gw, upstream, model):
    resp = client(gw).messages.with_raw_response.create(
        model=model, max_tokens=100, system="Be brief.",
        messages=[{"role": "user", "content": "hello there"}], metadata={"user_id": "ann"},
        extra_headers={"anthropic-version": "2023-01-01"})
    message = resp.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text == "Echo: hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    [row] = rows_for(gw, resp.headers["x-rin-request-id"])
    assert row["endpoint"] == "messages" and row["status"] == "success" and row["user"] == "ann"
    assert row["model"] == model and row["prompt_tokens"] > 0
    sent = upstream.requests[-1]
    if model == "claude":  # passed through: Anthropic's own shape, the model swapped
        assert sent.path.endswith("/v1/messages") and sent.json["model"] == "claude-sonnet-4-5"
        assert sent.json["system"] == "Be brief." and sent.json["metadata"] == {"user_id": "ann"}
        assert sent.headers["anthropic-version"] == "2023-01-01"  # the client's, forwarded
    else:  # translated to chat
        assert sent.path == "/v1/chat/completions"
        assert sent.json["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent.json["user"] == "ann" and sent.json["max_tokens"] == 100
        assert float(row["cost"]) > 0


def test_beta_header_and_unknown_fields_reach_anthropic_untouched(gw, upstream):
    client(gw).messages.create(
        model="claude", max_tokens=50, messages=[{"role": "user", "content": [
            {"type": "text", "text": "cached prefix", "cache_control": {"type": "ephemeral"}}]}],
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"}, extra_body={"container": "c-1"})
    sent = upstream.requests[-1]
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent.json["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.json["container"] == "c-1"
    assert "x-api-key" in sent.headers and sent.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]


@pytest.mark.parametrize("model", ["claude", "gpt-4o"])
def test_stream_has_anthropics_event_sequence(gw, model):
    with client(gw).messages.stream(model=model, max_tokens=100,
                                    messages=[{"role": "user", "content": "stream me please"}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.content[0].text == "Echo: stream me please"
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds and "message_delta" in kinds
    assert final.usage.output_tokens > 0 and final.stop_reason == "end_turn"


@pytest.mark.parametrize("model", ["claude-tool", "gpt-tool"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(gw, model, stream):
    c = client(gw)
    ask = [{"role": "user", "content": "weather in Paris?"}]
    if stream:
        with c.messages.stream(model=model, max_tokens=200, tools=[WEATHER], messages=ask) as s:
            first = s.get_final_message()
    else:
        first = c.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=ask,
                                  tool_choice={"type": "auto"})
    assert first.stop_reason == "tool_use"
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "weather in Paris?"}
    follow = ask + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]}]
    second = c.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=follow)
    assert second.stop_reason == "end_turn" and second.content[0].text == "Echo: weather in Paris?"


def test_thinking_blocks_and_signatures_pass_through(gw, upstream):
    c = client(gw)
    ask = [{"role": "user", "content": "think about it"}]
    first = c.messages.create(model="claude-think", max_tokens=2048, messages=ask,
                              thinking={"type": "enabled", "budget_tokens": 1024})
    assert first.content[0].type == "thinking" and first.content[0].signature
    history = ask + [{"role": "assistant", "content": [b.model_dump() for b in first.content]},
                     {"role": "user", "content": "and again"}]
    second = c.messages.create(model="claude-think", max_tokens=2048, messages=history,
                               thinking={"type": "enabled", "budget_tokens": 1024})
    assert second.content[-1].text == "Echo: and again"
    sent = upstream.requests[-1].json["messages"][1]["content"][0]
    assert sent["type"] == "thinking" and sent["signature"] == first.content[0].signature


def test_thinking_to_a_model_without_reasoning_is_refused_before_any_call(gw, upstream):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(model="gpt-plain", max_tokens=2048, messages=[{"role": "user", "content": "x"}],
                                   thinking={"type": "enabled", "budget_tokens": 1024})
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "thinking" in caught.value.body["error"]["message"]
    assert upstream.count("gpt-plain") == 0


def test_claudes_temperature_range_is_checked_before_the_pass_through(gw, upstream):
    """Claude takes temperature 0 to 1 (OpenAI 0 to 2): a Messages body bound for an Anthropic
    deployment is refused before any call, with Claude's range in the message."""
    upstream.reset()
    with pytest.raises(anthropic.BadRequestError) as caught:  # this SDK has no temperature argument
        client(gw).messages.create(model="claude", max_tokens=10, extra_body={"temperature": 1.5},
                                   messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "Anthropic models accept temperature from 0 to 1" in caught.value.body["error"]["message"]
    assert upstream.count("claude-sonnet-4-5") == 0
    answer = client(gw).messages.create(model="claude", max_tokens=10, extra_body={"temperature": 1},
                                        messages=[{"role": "user", "content": "x"}])
    assert answer.content[0].text and upstream.requests[-1].json["temperature"] == 1


def test_errors_use_anthropics_shape_and_status(gw, upstream):
    c = client(gw)
    with pytest.raises(anthropic.NotFoundError) as missing:
        c.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["error"]["type"] == "not_found_error"
    status, _, body = gw.request("POST", "/v1/messages", {"model": "claude",
                                                          "messages": [{"role": "user", "content": "x"}]})
    error = orjson.loads(body)
    assert status == 400 and error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in error["error"]["message"]
    with pytest.raises(anthropic.RateLimitError) as limited:
        c.messages.create(model="limited", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    status, _, body = gw.request("POST", "/v1/messages", raw=b"{not json")
    assert status == 400 and orjson.loads(body)["type"] == "error"


def test_a_failing_primary_falls_back_and_is_billed_once(gw, upstream):
    resp = client(gw).messages.with_raw_response.create(
        model="broken", max_tokens=50, messages=[{"role": "user", "content": "fall back"}])
    assert resp.parse().content[0].text == "Echo: fall back"
    assert resp.headers["x-rin-model"] == "anthropic/claude-sonnet-4-5"
    [row] = rows_for(gw, resp.headers["x-rin-request-id"])
    assert row["fallback_from"] == "broken" and row["attempts"] == 2 and row["endpoint"] == "messages"


def test_context_window_fallback_applies(gw):
    message = client(gw).messages.create(model="too-long", max_tokens=50,
                                         messages=[{"role": "user", "content": "long"}])
    assert message.content[0].text == "Echo: long"


def test_a_stream_cut_midway_ends_in_an_error_event_and_one_row(gw):
    with pytest.raises(anthropic.APIError):
        with client(gw).messages.stream(model="cut", max_tokens=50,
                                        messages=[{"role": "user", "content": "a longer answer to cut"}]) as s:
            for _ in s:
                pass
    rows = [r for r in ledger_rows(gw, model="cut") if r["endpoint"] == "messages"]
    assert [r["status"] for r in rows] == ["error"]
    _, _, metrics = gw.request("GET", "/metrics")
    assert b'rin_endpoint_requests_total{endpoint="messages",status="error"} ' in metrics


def test_count_tokens_exact_for_anthropic_and_estimated_elsewhere(gw, upstream):
    c = client(gw)
    messages = [{"role": "user", "content": "count these words please"}]
    raw = c.messages.with_raw_response.count_tokens(model="claude", messages=messages, system="sys")
    assert raw.headers["x-rin-token-count"] == "exact"
    exact = raw.parse().input_tokens
    sent = upstream.requests[-1]
    assert sent.path.endswith("/v1/messages/count_tokens") and sent.json["model"] == "claude-sonnet-4-5"
    assert exact == prompt_tokens(sent.json)  # the upstream's own count, unchanged
    raw = c.messages.with_raw_response.count_tokens(model="gpt-4o", messages=messages, system="sys")
    assert raw.headers["x-rin-token-count"] == "estimate" and raw.parse().input_tokens > 0
    assert upstream.requests[-1].path.endswith("/count_tokens")  # no upstream call for the estimate


def test_x_api_key_authenticates_and_key_limits_apply(fake, tmp_path):
    config = protocols_config(fake)
    config["general_settings"] = {"master_key": "sk-master-msg"}
    with Gateway(config, tmp_path, env=KEYS, api_key="sk-master-msg") as gw:
        status, _, body = gw.request("POST", "/key/generate", {"models": ["gpt-4o"], "max_budget": 0.00026})
        assert status == 200, body
        key = orjson.loads(body)["key"]
        c = anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0)  # sent as x-api-key
        first = c.messages.create(model="gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
        assert first.content[0].text == "Echo: hi"
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            c.messages.create(model="claude", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
        assert denied.value.body["error"]["type"] == "permission_error"
        with pytest.raises(anthropic.PermissionDeniedError):  # counting keeps the key's model limits too
            c.messages.count_tokens(model="claude", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(anthropic.RateLimitError):  # its budget is spent: reserved before the call
            c.messages.create(model="gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=gw.base_url, api_key="sk-wrong", max_retries=0).messages.create(
                model="gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("model", ["claude", "gpt-4o"])
def test_repeats_are_served_from_the_cache_in_anthropics_shape(fake, tmp_path, model):
    config = protocols_config(fake)
    config["litellm_settings"] = {"cache": True, "cache_params": {"type": "local"}}
    ask = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": f"cache {tmp_path.name}"}]}
    with Gateway(config, tmp_path, env=KEYS) as gw:
        c = client(gw)
        for stream in (False, True):
            answers = []
            for _ in range(2):
                raw = c.messages.with_raw_response.create(**ask, stream=stream)
                if stream:
                    events = list(raw.parse())
                    assert events[0].type == "message_start" and events[-1].type == "message_stop"
                    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
                    tokens = next(e.usage.output_tokens for e in events if e.type == "message_delta")
                else:
                    message = raw.parse()
                    text, tokens = message.content[0].text, message.usage.output_tokens
                answers.append((raw.headers["x-rin-cache-hit"], text, tokens))
            (miss, text, tokens), (hit, again, replayed) = answers
            assert (miss, hit) == ("false", "true") and again == text == f"Echo: cache {tmp_path.name}"
            assert replayed == tokens
        # the chat endpoint's cache is not shared: the same question there is a miss
        status, headers, _ = gw.request("POST", "/v1/chat/completions", {
            "model": model, "max_tokens": 50, "messages": ask["messages"]})
        assert status == 200 and headers["x-rin-cache-hit"] == "false"
        rows = [r for r in ledger_rows(gw) if r["endpoint"] == "messages"]
        assert sorted(r["cache_hit"] for r in rows) == [False, False, True, True]


def test_images_translate_to_chat_image_parts(gw, upstream):
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    message = client(gw).messages.create(model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "what is this?"}]}])
    assert message.content[0].text == "Echo: what is this?"
    parts = upstream.requests[-1].json["messages"][0]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + pixel}}
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


def test_claude_codes_request_shape_works_on_a_smaller_chat_model(fake, tmp_path, upstream):
    """Claude Code asks for adaptive thinking, 32,000 output tokens, and may send a system message
    mid-conversation; a chat model without reasoning and with a smaller output limit still answers."""
    config = protocols_config(fake)
    config["model_list"].append(deployment("small", "openai/gpt-small", fake.openai_base, model_info={
        "supports_reasoning": False, "max_output_tokens": 16384}))
    with Gateway(config, tmp_path, env=KEYS) as gw:
        message = client(gw, timeout=60).messages.create(  # an explicit timeout: the SDK wants a stream
            model="small", max_tokens=32000, thinking={"type": "adaptive"},
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                      {"role": "system", "content": "tools changed"}, {"role": "user", "content": "go on"}])
        assert message.content[0].text == "Echo: go on"
        sent = upstream.requests[-1].json
        assert sent["max_tokens"] == 16384 and "reasoning_effort" not in sent
        assert sent["messages"][2] == {"role": "system", "content": "tools changed"}


def test_pass_through_defaults_add_one_sampling_setting_and_the_cache_keys_the_clients_body(fake, tmp_path, upstream):
    config = protocols_config(fake)
    config["model_list"].append(deployment("claude-defaults", "anthropic/claude-sonnet-4-6", fake.anthropic_base,
                                           "ANTHROPIC_API_KEY", temperature=0.7, top_p=1.0))
    config["litellm_settings"] = {"cache": True, "cache_params": {"type": "local"}}
    with Gateway(config, tmp_path, env=KEYS) as gw:
        client(gw).messages.create(model="claude-defaults", max_tokens=20, messages=[{"role": "user", "content": "x"}])
        sent = upstream.requests[-1].json
        assert sent["temperature"] == 0.7 and "top_p" not in sent  # current Claude models refuse both
        client(gw).messages.create(model="claude-defaults", max_tokens=20, extra_body={"top_p": 0.5},
                                   messages=[{"role": "user", "content": "y"}])
        sent = upstream.requests[-1].json
        assert sent["top_p"] == 0.5 and "temperature" not in sent
        # two completions that differ only in `suffix` are two questions, not one cached answer
        c = gw.openai()
        hits = [c.completions.with_raw_response.create(model="gpt-instruct", prompt="def f(", suffix=s,
                                                       max_tokens=5).headers["x-rin-cache-hit"] for s in ("a", "b")]
        assert hits == ["false", "false"]


def test_claude_codes_json_user_id_is_recorded_as_its_account(gw):
    ids = '{"device_id":"dev-42","account_uuid":"","session_id":"s-1"}'
    raw = client(gw).messages.with_raw_response.create(model="claude", max_tokens=20, metadata={"user_id": ids},
                                                       messages=[{"role": "user", "content": "who"}])
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["user"] == "dev-42"  # the account is blank: the device stands for the person
