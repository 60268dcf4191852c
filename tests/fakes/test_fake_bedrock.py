"""The Bedrock fake against botocore itself: its event-stream frames decode with botocore's decoder,
and AWS's own client (botocore's bedrock-runtime, which signs and parses as boto3 does) talks to it:
Converse, ConverseStream, InvokeModel, errors, and a wrong secret refused."""

from __future__ import annotations

import orjson
import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from botocore.exceptions import ClientError
from botocore.session import Session

from tests.fakes.bedrock_fmt import event, exception, frame, secret_for

KEY = "AKIAFAKEFAKETEST"


def client(fake, secret: str | None = None):
    return Session().create_client(
        "bedrock-runtime", region_name="eu-west-1", endpoint_url=fake.bedrock_base,
        aws_access_key_id=KEY, aws_secret_access_key=secret or secret_for(KEY),
        config=Config(retries={"max_attempts": 1}),
    )


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_frames_round_trip_through_botocores_decoder():
    frames = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "héllo"}})
    frames += exception("throttlingException", {"message": "slow down"})
    frames += frame({":message-type": "event", ":event-type": "metadata"}, b"")
    buffer = EventStreamBuffer()
    messages = []
    for i in range(len(frames)):  # byte by byte: frames split anywhere still decode
        buffer.add_data(frames[i:i + 1])
        messages.extend(buffer)
    assert [m.headers.get(":event-type") or m.headers[":exception-type"] for m in messages] == [
        "contentBlockDelta", "throttlingException", "metadata"]
    assert orjson.loads(messages[0].payload)["delta"] == {"text": "héllo"}
    assert messages[1].headers[":message-type"] == "exception" and messages[2].payload == b""
    broken = bytearray(event("messageStart", {"role": "assistant"}))
    broken[-1] ^= 0xFF
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(broken))
    with pytest.raises(ChecksumMismatch):
        list(buffer)


def test_converse_with_botocore(fake):
    answer = client(fake).converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=user("hi there"),
                                   system=[{"text": "be brief"}], inferenceConfig={"maxTokens": 64})
    assert answer["output"]["message"]["content"] == [{"text": "Echo: hi there"}]
    assert answer["stopReason"] == "end_turn" and answer["usage"]["inputTokens"] > 0
    [seen] = fake.requests
    assert seen.model == "anthropic.claude-3-haiku-20240307-v1:0"
    assert "Credential=AKIAFAKEFAKETEST/" in seen.headers["authorization"]


def test_converse_stream_with_botocore(fake):
    stream = client(fake).converse_stream(modelId="us.amazon.nova-tool-v1:0", messages=user("Paris"), toolConfig={
        "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}}]})["stream"]
    events = list(stream)
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather"
    arguments = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert orjson.loads(arguments) == {"city": "Paris"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


def test_exception_mid_stream_with_botocore(fake):
    stream = client(fake).converse_stream(modelId="meta.llama-error-in-stream", messages=user("a b c d e"))["stream"]
    with pytest.raises(Exception) as raised:
        list(stream)
    assert "modelStreamErrorException" in str(raised.value)


def test_embeddings_with_botocore(fake):
    bedrock = client(fake)
    titan = orjson.loads(bedrock.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                                              body=orjson.dumps({"inputText": "hello"}))["body"].read())
    assert len(titan["embedding"]) > 0 and titan["inputTextTokenCount"] > 0
    cohere = orjson.loads(bedrock.invoke_model(modelId="cohere.embed-english-v3", body=orjson.dumps(
        {"texts": ["a", "b"], "input_type": "search_query"}))["body"].read())
    assert len(cohere["embeddings"]) == 2


@pytest.mark.parametrize(("model", "code", "status"), [
    ("anthropic.claude-fail-429", "ThrottlingException", 429),
    ("anthropic.claude-fail-403", "AccessDeniedException", 403),
    ("anthropic.claude-fail-502", "ModelErrorException", 424),
    ("anthropic.claude-ctx-overflow", "ValidationException", 400),
])
def test_errors_parse_as_botocore_reads_them(fake, model, code, status):
    with pytest.raises(ClientError) as raised:
        client(fake).converse(modelId=model, messages=user("hi"))
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_a_wrong_secret_is_refused(fake):
    with pytest.raises(ClientError) as raised:
        client(fake, secret="not-the-secret").converse(modelId="anthropic.claude-x", messages=user("hi"))
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_arn_model_id_is_signed_and_routed(fake):
    arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0"
    answer = client(fake).converse(modelId=arn, messages=user("hi"))
    assert answer["output"]["message"]["content"] == [{"text": "Echo: hi"}]
    assert fake.requests[-1].model == arn
