"""The gateway end to end: the real `openai` SDK -> `rin serve` -> fake providers on 127.0.0.1."""

from __future__ import annotations

import json

import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]


def test_models_list_carries_metadata_and_hides_disabled(core_gateway):
    models = core_gateway.openai().models.list()
    ids = {m.id for m in models.data}
    assert {"gpt-4o", "claude", "or-gpt", "embed"} <= ids
    assert "needs-key" not in ids
    status, _, body = core_gateway.request("GET", "/models")
    assert status == 200
    entry = next(m for m in orjson.loads(body)["data"] if m["id"] == "gpt-4o")
    assert entry["object"] == "model"
    assert entry["rin"]["capabilities"] == {
        "vision": True, "function_calling": True, "reasoning": False, "response_format": False}
    assert entry["rin"]["context_length"] == 128000
    assert entry["rin"]["max_output_tokens"] == 16384
    assert entry["rin"]["pricing"]["input_per_token"] == "0.0000025"
    # no model_info prices: the built-in table's, which the ledger bills at, and their source
    claude = next(m for m in orjson.loads(body)["data"] if m["id"] == "claude")["rin"]["pricing"]
    assert claude["source"] == "builtin" and claude["input_per_token"] == "0.000003"
    assert claude["output_per_token"] == "0.000015"


def test_disabled_model_is_named_in_log_and_model_info(core_gateway):
    assert "RIN_TEST_UNSET_KEY" in core_gateway.log()
    status, _, body = core_gateway.request("GET", "/model/info")
    assert status == 200
    entry = next(d for d in orjson.loads(body)["data"] if d["model_name"] == "needs-key")
    assert entry["model_info"]["status"] == "disabled"
    assert "RIN_TEST_UNSET_KEY" in entry["model_info"]["disabled_reason"]


def test_plain_chat(core_gateway, upstream):
    raw = core_gateway.openai().chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    completion = raw.parse()
    assert "capital of France" in completion.choices[0].message.content
    assert completion.usage.total_tokens > 0
    assert raw.headers["x-rin-model"] == "openai/gpt-4o"
    assert raw.headers["x-rin-attempts"] == "1"
    assert raw.headers["x-rin-request-id"]
    sent = upstream.requests[-1]
    assert sent.json["model"] == "gpt-4o"
    assert sent.headers["authorization"] == "Bearer " + KEYS["OPENAI_API_KEY"]


def test_config_defaults_apply_but_request_values_win(core_gateway, upstream):
    client = core_gateway.openai()
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert upstream.requests[-1].json["temperature"] == 0.3
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=1.1)
    assert upstream.requests[-1].json["temperature"] == 1.1


def test_streaming_with_usage(core_gateway, upstream):
    stream = core_gateway.openai().chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "capital of France" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert upstream.requests[-1].json["stream_options"] == {"include_usage": True}


def test_streaming_without_usage_drops_the_usage_chunk_but_still_asks_upstream(core_gateway, upstream):
    chunks = list(core_gateway.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert upstream.requests[-1].json["stream_options"]["include_usage"] is True


def test_tool_call(core_gateway):
    completion = core_gateway.openai().chat.completions.create(model="gpt-tool", messages=MESSAGES, tools=TOOLS)
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments), dict)


def test_streamed_tool_call(core_gateway):
    chunks = list(core_gateway.openai().chat.completions.create(
        model="gpt-tool", messages=MESSAGES, tools=TOOLS, stream=True))
    args = "".join(tc.function.arguments or "" for c in chunks if c.choices
                   for tc in (c.choices[0].delta.tool_calls or []))
    names = [tc.function.name for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])
             if tc.function and tc.function.name]
    assert names == ["get_weather"]
    assert isinstance(json.loads(args), dict)


def test_embeddings(core_gateway, upstream):
    result = core_gateway.openai().embeddings.create(model="embed", input=["hello", "world"])
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    assert result.usage.prompt_tokens > 0
    assert upstream.requests[-1].json["model"] == "text-embedding-3-small"


def test_anthropic_model_plain_and_streaming(core_gateway, upstream):
    client = core_gateway.openai()
    completion = client.chat.completions.create(
        model="claude", messages=[{"role": "system", "content": "Be brief."}, *MESSAGES])
    assert "capital of France" in completion.choices[0].message.content
    assert completion.usage.prompt_tokens > 0
    sent = upstream.requests[-1]
    assert sent.path.endswith("/v1/messages")
    assert sent.json["system"] == "Be brief." and sent.json["max_tokens"] == 1024
    assert sent.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]
    chunks = list(client.chat.completions.create(
        model="claude", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert "capital of France" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage.completion_tokens > 0


def test_anthropic_streamed_tool_call(core_gateway):
    chunks = list(core_gateway.openai().chat.completions.create(
        model="claude-tool", messages=MESSAGES, tools=TOOLS, stream=True))
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather" and calls[0].id
    assert isinstance(json.loads("".join(tc.function.arguments or "" for tc in calls)), dict)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_openrouter_attribution_headers(core_gateway, upstream):
    core_gateway.openai().chat.completions.create(model="or-gpt", messages=MESSAGES)
    sent = upstream.requests[-1]
    assert sent.headers["http-referer"] == "http://localhost:3000"
    assert sent.headers["x-title"] == "RIN - Rhyzomic Intelligence Node"
    assert sent.headers["x-openrouter-title"] == "RIN - Rhyzomic Intelligence Node"
    assert sent.json["model"] == "openai/gpt-4o"


def test_error_inside_a_200_stream_reaches_the_client(core_gateway):
    stream = core_gateway.openai().chat.completions.create(model="or-error-stream", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        list(stream)


def test_stream_cut_mid_answer_ends_with_an_error_not_done(core_gateway):
    status, _, body = core_gateway.request(
        "POST", "/v1/chat/completions", {"model": "cut", "messages": MESSAGES, "stream": True})
    assert status == 200
    assert b'"error"' in body
    assert b"[DONE]" not in body


def test_unknown_model_is_404_naming_the_model_list(core_gateway):
    with pytest.raises(openai.NotFoundError) as info:
        core_gateway.openai().chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert "/v1/models" in info.value.message
    assert info.value.body["code"] == "model_not_found"


def test_bad_json_is_400(core_gateway):
    status, _, body = core_gateway.request("POST", "/v1/chat/completions", raw=b"{not json")
    assert status == 400
    assert orjson.loads(body)["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("param,value,allowed", [
    ("temperature", 3, "0 to 2"), ("top_p", 1.5, "0 to 1"), ("max_tokens", 0, "at least 1"),
    ("max_tokens", 20000, "between 1 and 16384")])
def test_out_of_range_parameter_is_400_before_any_upstream_call(core_gateway, upstream, param, value, allowed):
    with pytest.raises(openai.BadRequestError) as info:
        core_gateway.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES, **{param: value})
    assert info.value.body["param"] == param
    assert allowed in info.value.message
    assert upstream.count() == 0


def test_anthropic_temperature_limit(core_gateway, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        core_gateway.openai().chat.completions.create(model="claude", messages=MESSAGES, temperature=1.5)
    assert info.value.body["param"] == "temperature"
    assert upstream.count() == 0


def test_upstream_500_is_an_openai_shaped_502(core_gateway):
    with pytest.raises(openai.APIStatusError) as info:
        core_gateway.openai().chat.completions.create(model="broken", messages=MESSAGES)
    assert info.value.status_code == 502
    assert "openai" in info.value.message and "500" in info.value.message


def test_upstream_auth_failure_never_echoes_a_key(core_gateway):
    status, _, body = core_gateway.request(
        "POST", "/v1/chat/completions", {"model": "unauthorized", "messages": MESSAGES})
    assert status == 502
    assert b"rejected the API key" in body
    for key in KEYS.values():
        assert key.encode() not in body


def test_garbage_upstream_is_a_clear_502(core_gateway):
    status, _, body = core_gateway.request(
        "POST", "/v1/chat/completions", {"model": "garbage", "messages": MESSAGES})
    assert status == 502
    assert orjson.loads(body)["error"]["type"] == "upstream_protocol_error"


def test_request_body_cannot_redirect_upstream(core_gateway, upstream):
    core_gateway.openai().chat.completions.create(
        model="gpt-4o", messages=MESSAGES, extra_body={"api_base": "http://127.0.0.2:9/steal"})
    assert upstream.count() == 1
    assert "api_base" not in upstream.requests[-1].json


def test_unknown_route_is_openai_shaped_404(core_gateway):
    status, _, body = core_gateway.request("GET", "/v2/nothing")
    assert status == 404
    assert set(orjson.loads(body)["error"]) == {"message", "type", "param", "code"}


def test_health_endpoints(core_gateway):
    status, _, body = core_gateway.request("GET", "/health")
    health = orjson.loads(body)
    assert status == 200 and health["healthy_count"] >= 5
    assert any("RIN_TEST_UNSET_KEY" in e["reason"] for e in health["unhealthy_endpoints"])
    assert core_gateway.request("GET", "/health/liveliness")[0] == 200
    assert core_gateway.request("GET", "/health/readiness")[0] == 200


def test_keys_never_reach_the_log(core_gateway):
    log = core_gateway.log()
    for key in KEYS.values():
        assert key not in log


def test_disabled_model_request_says_which_variable_to_set(core_gateway):
    with pytest.raises(openai.APIStatusError) as info:
        core_gateway.openai().chat.completions.create(model="needs-key", messages=MESSAGES)
    assert info.value.status_code == 503
    assert "RIN_TEST_UNSET_KEY is not set" in info.value.message


def test_master_key_guards_every_route_but_health(fake, tmp_path):
    from tests.e2e.conftest import core_config
    from tests.gateway import Gateway

    config = core_config(fake)
    config["general_settings"] = {"master_key": "os.environ/RIN_MASTER_KEY"}
    with Gateway(config, tmp_path, env={**KEYS, "RIN_MASTER_KEY": "sk-master-canary-42"}) as gw:
        with pytest.raises(openai.AuthenticationError):
            gw.openai(api_key="wrong").chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert gw.request("GET", "/v1/models")[0] == 401
        assert gw.request("GET", "/model/info")[0] == 401
        assert gw.request("GET", "/health")[0] == 200
        ok = gw.openai(api_key="sk-master-canary-42").chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert ok.choices[0].message.content
        assert "sk-master-canary-42" not in gw.log()


def test_oversized_body_is_413(fake, tmp_path):
    from tests.e2e.conftest import core_config
    from tests.gateway import Gateway

    config = core_config(fake)
    config["general_settings"] = {"max_request_size_mb": 0.01}
    with Gateway(config, tmp_path, env=KEYS) as gw:
        status, _, body = gw.request("POST", "/v1/chat/completions", {
            "model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 20000}]})
        assert status == 413
        assert "max_request_size_mb" in orjson.loads(body)["error"]["message"]
