"""AWS Bedrock's adapter without a network: the Converse translation, SigV4 signing, event-stream
parsing, error classification, and what loading a config makes of Bedrock models (regions, prices,
capabilities). Through a real gateway: test_bedrock_gateway.py."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from rin.config import load_config
from rin.cost import price_for
from rin.credentials import Credential
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
    UpstreamTimeout,
)
from rin.providers.bedrock import BedrockAdapter, model_url
from rin.providers.bedrock_response import chat_completion
from rin.providers.bedrock_stream import ConverseStreamParser, EventStreamDecoder
from rin.types import ChatRequest, Deployment, ModelInfo
from tests.fakes.answer import Answer, ToolCall
from tests.fakes.bedrock_fmt import BedrockFormat, event, exception, secret_for
from tests.fakes.media_fmt import PNG

ADAPTER = BedrockAdapter()
STATIC_KEY = "AKIAFAKESTATIC01"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


class Static(Credential):
    def fetch(self) -> tuple[Any, float | None]:
        from botocore.credentials import Credentials

        return Credentials(STATIC_KEY, secret_for(STATIC_KEY)).get_frozen_credentials(), None


def dep(model: str = "converse/us.anthropic.claude-3-5-sonnet-20240620-v1:0", region: str = "us-west-2") -> Deployment:
    credential = Static("test keys")
    credential.refresh()
    model_id = model.removeprefix("converse/")
    return Deployment("m", "bedrock", model, "https://bedrock-runtime.us-west-2.amazonaws.com", "d1",
                      credential=credential, options={"region": region, "model_id": model_id})


def build(body: dict[str, Any], d: Deployment | None = None) -> dict[str, Any]:
    up = ADAPTER.build_chat(ChatRequest(body, "m", stream=bool(body.get("stream"))), d or dep())
    return orjson.loads(up.body)


# requests


def test_a_chat_request_becomes_converse():
    png = "data:image/png;base64," + base64.b64encode(PNG).decode()
    sent = build({"model": "m", "max_tokens": 100, "temperature": 0.2, "stop": ["END"], "tools": [WEATHER],
                  "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "seed": 7,
                  "messages": [
                      {"role": "system", "content": "Be brief."},
                      {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                                   {"type": "image_url", "image_url": {"url": png}}]},
                      {"role": "assistant", "content": None, "tool_calls": [{"id": "tooluse_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
                      {"role": "tool", "tool_call_id": "tooluse_1", "content": '{"temp_c": 21}'},
                  ]})
    assert sent == {
        "system": [{"text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [{"text": "Weather?"}, {"image": {"format": "png", "source": {
                "bytes": base64.b64encode(PNG).decode()}}}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather",
                                                           "input": {"city": "Paris"}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1",
                                                         "content": [{"text": '{"temp_c": 21}'}]}}]},
        ],
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "stopSequences": ["END"]},
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather for a city",
                                               "inputSchema": {"json": WEATHER["function"]["parameters"]}}}],
                       "toolChoice": {"tool": {"name": "get_weather"}}},
    }


def test_images_must_be_inline():
    with pytest.raises(InvalidRequest, match="Bedrock needs it inline"):
        build({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})


def test_reasoning_effort_is_claude_thinking_without_the_default_temperature():
    d = dep()
    d.defaults = {"temperature": 0.7}
    sent = build({"messages": [{"role": "user", "content": "think"}], "reasoning_effort": "medium"}, d)
    assert sent["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 4096}}
    assert sent["inferenceConfig"] == {"maxTokens": 4096 + 4096}


def test_urls_quote_cross_region_ids_and_arns_as_sent():
    assert model_url(dep(), "converse") == ("https://bedrock-runtime.us-west-2.amazonaws.com/model/"
                                            "us.anthropic.claude-3-5-sonnet-20240620-v1:0/converse")
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0"
    assert model_url(dep(arn), "converse-stream").endswith(
        "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus.amazon.nova-pro-v1:0/converse-stream")


def test_requests_are_signed_for_the_region():
    up = ADAPTER.build_chat(ChatRequest({"messages": [{"role": "user", "content": "hi"}]}, "m"), dep(region="eu-west-3"))
    assert re.match(rf"AWS4-HMAC-SHA256 Credential={STATIC_KEY}/\d{{8}}/eu-west-3/bedrock/aws4_request, "
                    r"SignedHeaders=accept;content-type;host;x-amz-date, Signature=[0-9a-f]{64}$",
                    up.headers["Authorization"])


def test_a_json_schema_answer_is_a_forced_tool_call_whose_input_is_the_content():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    body = {"messages": [{"role": "user", "content": "where?"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}}
    sent = build(body)
    assert sent["toolConfig"] == {"tools": [{"toolSpec": {"name": "json_tool_call", "description": "Respond with a "
                                                          "JSON object.", "inputSchema": {"json": schema}}}],
                                  "toolChoice": {"tool": {"name": "json_tool_call"}}}
    answer = {"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "t1", "name": "json_tool_call", "input": {"city": "Lyon"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 3}}
    result = ADAPTER.parse_chat(orjson.dumps(answer), ChatRequest(body, "m"), dep())
    choice = result.data["choices"][0]
    assert orjson.loads(choice["message"]["content"]) == {"city": "Lyon"}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    frames = b"".join([
        event("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t1",
                                                                                  "name": "json_tool_call"}}}),
        *[event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": f}}})
          for f in ('{"city"', ': "Lyon"}')],
        event("contentBlockStop", {"contentBlockIndex": 0}), event("messageStop", {"stopReason": "tool_use"})])
    decoder, parser = EventStreamDecoder(), ADAPTER.stream_parser(ChatRequest(body, "m", stream=True), dep())
    chunks = [orjson.loads(p) for ev in decoder.feed(frames) for p in parser.feed(ev)] + parser.finish()
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == '{"city": "Lyon"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    with pytest.raises(InvalidRequest, match="cannot be combined"):
        build({**body, "tools": [WEATHER]})


# answers


def test_a_converse_answer_becomes_a_chat_completion():
    data = {"output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "Paris, so...", "signature": "c2ln"}}},
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_9", "name": "get_weather", "input": {"city": "Paris"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 35,
                                            "cacheReadInputTokens": 20, "cacheWriteInputTokens": 0}}
    chat, usage = chat_completion(data, "m", 1)
    message = chat["choices"][0]["message"]
    assert chat["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] == "Let me check." and message["reasoning_content"] == "Paris, so..."
    assert message["thinking_blocks"] == [{"type": "thinking", "thinking": "Paris, so...", "signature": "c2ln"}]
    assert message["tool_calls"] == [{"id": "tooluse_9", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city":"Paris"}'}}]
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (30, 20, 5)
    assert chat["usage"]["prompt_tokens_details"]["cached_tokens"] == 20


@pytest.mark.parametrize("stop", ["guardrail_intervened", "content_filtered"])
def test_a_withheld_answer_is_a_content_policy_violation(stop):
    data = {"output": {"message": {"role": "assistant", "content": [{"text": "Sorry."}]}}, "stopReason": stop,
            "usage": {"inputTokens": 9, "outputTokens": 0}}
    with pytest.raises(ContentPolicyViolation):
        chat_completion(data, "m", 1)


def _fmt_error(status: int, type_: str, message: str, namespace: str = "x") -> tuple[int, dict, bytes]:
    return status, {"x-amzn-errortype": f"{type_}:{namespace}"}, orjson.dumps({"message": message})


@pytest.mark.parametrize(("reply", "kind"), [
    (_fmt_error(400, "ValidationException", "Input is too long for requested model."), ContextWindowExceeded),
    (_fmt_error(400, "ValidationException", "The model returned the following errors: prompt is too long: "
                                            "204318 tokens > 199999 maximum"), ContextWindowExceeded),
    (_fmt_error(400, "ValidationException", "Malformed input request"), UpstreamBadRequest),
    (_fmt_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
     UpstreamAuthError),
    (_fmt_error(403, "AccessDeniedException", "You don't have access to the model"), UpstreamAuthError),
    (_fmt_error(404, "ResourceNotFoundException", "Model not found"), UpstreamNotFound),
    (_fmt_error(408, "ModelTimeoutException", "Model timed out"), UpstreamTimeout),
    (_fmt_error(424, "ModelErrorException", "The model returned an error"), UpstreamServerError),
    (_fmt_error(429, "ThrottlingException", "Too many requests"), UpstreamRateLimited),
    (_fmt_error(400, "ServiceQuotaExceededException", "quota"), UpstreamRateLimited),
    (_fmt_error(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
     UpstreamServerError),
    ((400, {}, b'{"__type": "com.amazon.coral.validate#ValidationException", "message": "too many input tokens"}'),
     ContextWindowExceeded),
    ((502, {}, b"<html>Bad Gateway</html>"), UpstreamServerError),
])
def test_errors_are_classified_by_their_type(reply, kind):
    status, headers, body = reply
    error = ADAPTER.classify_error(status, headers, body)
    assert type(error) is kind and error.upstream_status == status


def test_a_throttle_carries_retry_after_when_sent():
    error = ADAPTER.classify_error(429, {"x-amzn-errortype": "ThrottlingException:x", "retry-after": "3"},
                                   b'{"message": "slow down"}')
    assert isinstance(error, UpstreamRateLimited) and error.retry_after == 3.0


def _parse(frames: bytes, chunk: int = 1) -> tuple[ConverseStreamParser, list[dict]]:
    decoder, parser = EventStreamDecoder(), ConverseStreamParser("m")
    out: list[bytes] = []
    for i in range(0, len(frames), chunk):
        for ev in decoder.feed(frames[i:i + chunk]):
            out.extend(parser.feed(ev))
    out.extend(parser.finish())
    return parser, [orjson.loads(p) for p in out]


def test_a_stream_of_event_frames_becomes_chunks():
    fmt = BedrockFormat()
    answer = Answer("m", "", ToolCall("tooluse_1", "get_weather", '{"city": "Paris"}'), 12, 6, 4, False,
                    thinking="Hmm.")
    parser, chunks = _parse(b"".join(fmt.stream(answer, {}).frames))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Hmm."
    assert [d["thinking_blocks"][0]["signature"] for d in deltas if "thinking_blocks" in d]  # kept for the next turn
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0]["id"] == "tooluse_1" and calls[0]["function"]["name"] == "get_weather"
    assert orjson.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]] == ["tool_calls"]
    assert parser.done and (parser.usage.prompt_tokens, parser.usage.cached_tokens) == (12, 4)
    assert orjson.loads(parser.usage_chunk)["usage"]["completion_tokens"] == 6


def test_stream_exceptions_garbage_and_cuts():
    start = event("messageStart", {"role": "assistant"}) + event(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}})
    with pytest.raises(UpstreamRateLimited):
        _parse(start + exception("throttlingException", {"message": "Too many requests"}))
    with pytest.raises(UpstreamServerError, match="modelStreamErrorException|ModelStreamErrorException"):
        _parse(start + exception("modelStreamErrorException", {"message": "boom", "originalStatusCode": 500}))
    with pytest.raises(UpstreamProtocolError, match="not an AWS event stream"):
        _parse(b"<html><body>502 Bad Gateway</body></html>", chunk=64)
    with pytest.raises(UpstreamProtocolError, match="messageStop never came"):
        _parse(start)
    with pytest.raises(ContentPolicyViolation):
        _parse(BedrockFormat().blocked("m", stream=True))


# prices and capabilities, from the config as served


def _load(tmp_path: Path, config: dict[str, Any], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return load_config(path, env={"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", **(env or {})})


def test_prices_are_found_under_litellms_names_for_a_cross_region_id(tmp_path):
    base, geo = "anthropic.claude-3-5-sonnet-20240620-v1:0", "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
    config = _load(tmp_path, {
        "model_list": [{"model_name": "a", "litellm_params": {"model": f"bedrock/converse/{geo}"}},
                       {"model_name": "b", "litellm_params": {"model": f"bedrock/{geo.replace('us.', 'eu.')}"}}],
        "general_settings": {"model_cost": {
            f"bedrock/{base}": {"input_cost_per_token": 0.000003, "output_cost_per_token": 0.000015},
            geo: {"input_cost_per_token": 0.0000033, "output_cost_per_token": 0.0000165}}},
    })
    [a], [b] = config.groups["a"], config.groups["b"]
    assert str(price_for("a", a, config.general.model_cost)[0].input_cost_per_token) == "0.0000033"  # its own
    info, source = price_for("b", b, config.general.model_cost)
    assert source == "config" and str(info.input_cost_per_token) == "0.000003"  # the base model's
    unknown = Deployment("c", "bedrock", "meta.llama3-70b-instruct-v1:0", "x", "c", options=a.options | {
        "price_keys": ("meta.llama3-70b-instruct-v1:0",)})
    assert price_for("c", unknown, config.general.model_cost) == (None, "unpriced")  # never invented


def test_capabilities_are_known_for_claude_and_nova_unless_model_info_says(tmp_path):
    config = _load(tmp_path, {"model_list": [
        {"model_name": "claude", "litellm_params": {"model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0"}},
        {"model_name": "micro", "litellm_params": {"model": "bedrock/us.amazon.nova-micro-v1:0"}},
        {"model_name": "llama", "litellm_params": {"model": "bedrock/meta.llama3-1-8b-instruct-v1:0"}},
        {"model_name": "blind", "litellm_params": {"model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0"},
         "model_info": {"supports_vision": False}},
    ]})
    info = {name: deps[0].info for name, deps in config.groups.items()}
    assert (info["claude"].supports_vision, info["claude"].supports_function_calling) == (True, True)
    assert (info["micro"].supports_vision, info["micro"].supports_function_calling) == (None, True)
    assert info["llama"] == ModelInfo(price_source=None)
    assert info["blind"].supports_vision is False and info["blind"].supports_function_calling is True


def test_regions_come_from_params_arns_variables_and_profiles(tmp_path):
    aws_config = tmp_path / "aws_config"
    aws_config.write_text("[profile far]\nregion = ap-southeast-2\n")
    config = _load(tmp_path, {"model_list": [
        {"model_name": "param", "litellm_params": {"model": "bedrock/x.y", "aws_region_name": "eu-west-1"}},
        {"model_name": "arn", "litellm_params": {
            "model": "bedrock/arn:aws:bedrock:ca-central-1:123456789012:inference-profile/x.y"}},
        {"model_name": "env", "litellm_params": {"model": "bedrock/x.y"}},
        {"model_name": "profile", "litellm_params": {"model": "bedrock/x.y", "aws_profile_name": "far"}},
    ]}, env={"AWS_REGION": "", "AWS_DEFAULT_REGION": "sa-east-1", "AWS_CONFIG_FILE": str(aws_config)})
    regions = {name: deps[0].options["region"] for name, deps in config.groups.items()}
    assert regions == {"param": "eu-west-1", "arn": "ca-central-1", "env": "sa-east-1", "profile": "sa-east-1"}
    config = _load(tmp_path, {"model_list": [
        {"model_name": "profile", "litellm_params": {"model": "bedrock/x.y", "aws_profile_name": "far"}}]},
        env={"AWS_REGION": "", "AWS_CONFIG_FILE": str(aws_config)})
    [d] = config.groups["profile"]
    assert d.options["region"] == "ap-southeast-2"
    assert d.api_base == "https://bedrock-runtime.ap-southeast-2.amazonaws.com"


def test_a_gateway_without_bedrock_models_never_imports_botocore(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("model_list:\n  - model_name: gpt\n    litellm_params:\n      model: openai/gpt-4o\n"
                      "      api_key: sk-test\n")
    code = ("import sys; from rin.config import load_config; import rin.server.app; "
            f"load_config({str(config)!r}); print(sorted(m for m in sys.modules if m.startswith('botocore')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
