"""POST /v1/responses and /v1/completions through RIN with the real `openai` SDK: natively to OpenAI
and translated to Anthropic, JSON and stream, tools, stored responses and their owners, the ledger."""

from __future__ import annotations

import json

import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.e2e.test_messages_api import ledger_rows, protocols_config, rows_for
from tests.gateway import Gateway

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
MASTER = "sk-master-resp"


@pytest.fixture(scope="module")
def gw(fake, tmp_path_factory):
    config = protocols_config(fake)
    config["general_settings"] = {"master_key": MASTER}
    with Gateway(config, tmp_path_factory.mktemp("responses"), env=KEYS, api_key=MASTER) as gateway:
        yield gateway


@pytest.mark.parametrize("model", ["gpt-4o", "claude"])
def test_create_answers_a_response_from_either_provider(gw, upstream, model):
    raw = gw.openai().responses.with_raw_response.create(
        model=model, instructions="Be brief.", input="hello responses", max_output_tokens=100, store=False)
    response = raw.parse()
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == "Echo: hello responses"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["endpoint"] == "responses" and row["model"] == model and row["status"] == "success"
    sent = upstream.requests[-1]
    if model == "gpt-4o":  # OpenAI speaks the Responses API: passed through, never stored upstream
        assert sent.path == "/v1/responses" and sent.json["model"] == "gpt-4o"
        assert sent.json["store"] is False and "previous_response_id" not in sent.json
        assert sent.json["instructions"] == "Be brief."
    else:
        assert sent.path.endswith("/v1/messages") and sent.json["system"] == "Be brief."
        assert sent.json["max_tokens"] == 100


@pytest.mark.parametrize("model", ["gpt-4o", "claude"])
def test_stream_event_sequence(gw, model):
    with gw.openai().responses.stream(model=model, input="stream this", store=False) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.output_item.added" in kinds
    assert final.output_text == "Echo: stream this" and final.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["gpt-tool", "claude-tool"])
def test_function_call_round_trip(gw, model):
    c = gw.openai()
    first = c.responses.create(model=model, input="weather in Rome?", tools=[WEATHER])
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "weather in Rome?"}
    second = c.responses.create(model=model, previous_response_id=first.id, tools=[WEATHER],
                                input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21C"}])
    assert second.output_text == "Echo: weather in Rome?"


@pytest.mark.parametrize("model", ["gpt-4o", "claude"])
def test_previous_response_id_chains_turns(gw, upstream, model):
    c = gw.openai()
    first = c.responses.create(model=model, input="my name is Ada")
    assert c.responses.retrieve(first.id).output_text == "Echo: my name is Ada"
    second = c.responses.create(model=model, previous_response_id=first.id, input="what is my name?")
    assert second.output_text == "Echo: what is my name?"
    sent = upstream.requests[-1].json
    text = orjson.dumps(sent).decode()
    assert "my name is Ada" in text and "Echo: my name is Ada" in text  # the first turn, inlined
    assert "previous_response_id" not in sent


def test_a_chain_may_change_provider(gw):
    c = gw.openai()
    first = c.responses.create(model="claude", input="remember 42")
    second = c.responses.create(model="gpt-4o", previous_response_id=first.id, input="what number?")
    assert second.output_text == "Echo: what number?"


def test_stored_responses_belong_to_their_key(gw):
    keys = []
    for _ in range(2):
        status, _, body = gw.request("POST", "/key/generate", {})
        assert status == 200, body
        keys.append(orjson.loads(body)["key"])
    mine, theirs = gw.openai(api_key=keys[0]), gw.openai(api_key=keys[1])
    stored = mine.responses.create(model="gpt-4o", input="private")
    assert mine.responses.retrieve(stored.id).id == stored.id
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(stored.id)
    with pytest.raises(openai.BadRequestError) as caught:
        theirs.responses.create(model="gpt-4o", previous_response_id=stored.id, input="peek")
    assert caught.value.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        theirs.responses.delete(stored.id)
    mine.responses.delete(stored.id)
    with pytest.raises(openai.NotFoundError):
        mine.responses.retrieve(stored.id)


def test_json_schema_and_reasoning_reach_the_chat_provider(gw, upstream):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
              "additionalProperties": False}
    gw.openai().responses.create(model="claude", input="json please", reasoning={"effort": "low"},
                                 max_output_tokens=4096,
                                 text={"format": {"type": "json_schema", "name": "thing", "schema": schema}})
    sent = upstream.requests[-1].json
    assert sent["thinking"]["type"] == "enabled"  # reasoning.effort -> reasoning_effort -> thinking
    assert sent["output_config"]["format"] == {"type": "json_schema", "schema": schema}


def test_bad_input_names_the_field(gw, upstream):
    before = upstream.total
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().responses.create(model="claude", input=[{"type": "mystery"}])
    assert caught.value.param is not None and "input" in caught.value.param
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().responses.create(model="claude", input="x", tools=[{"type": "web_search"}])
    assert caught.value.param == "tools"
    assert upstream.total == before


def test_unknown_previous_response_is_a_400_before_any_call(gw, upstream):
    before = upstream.total
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().responses.create(model="gpt-4o", previous_response_id="resp_nope", input="x")
    assert caught.value.code == "previous_response_not_found" and upstream.total == before


def test_a_failed_response_is_an_error_never_a_stored_or_cached_success(gw, upstream):
    """OpenAI answers 200 with a Response whose status is `failed`: the client gets an error in
    OpenAI's shape (as the stream's response.failed), the ledger an error row, and nothing is kept."""
    for _ in range(2):  # a cached failure would answer the second without a call
        with pytest.raises(openai.APIStatusError) as caught:
            gw.openai().responses.create(model="fails", input="x", store=True)
        assert caught.value.status_code >= 500 and caught.value.body["message"]
    assert upstream.count("error-in-stream") == 2
    [row] = rows_for(gw, caught.value.response.headers["x-rin-request-id"])
    assert row["endpoint"] == "responses" and row["status"] == "error"


def test_fallback_from_responses(gw):
    raw = gw.openai().responses.with_raw_response.create(model="broken", input="fall back", store=False)
    assert raw.parse().output_text == "Echo: fall back"
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["fallback_from"] == "broken" and row["endpoint"] == "responses"


# legacy completions

@pytest.mark.parametrize("model", ["gpt-instruct", "gpt-4o", "claude"])
def test_completions_natively_or_through_chat(gw, upstream, model):
    raw = gw.openai().completions.with_raw_response.create(model=model, prompt="complete me", max_tokens=50)
    completion = raw.parse()
    assert completion.object == "text_completion" and completion.choices[0].text == "Echo: complete me"
    assert completion.usage.total_tokens > 0
    sent = upstream.requests[-1]
    assert sent.path.endswith("/completions" if model == "gpt-instruct" else
                              ("/chat/completions" if model == "gpt-4o" else "/v1/messages"))
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["endpoint"] == "completions"


@pytest.mark.parametrize("model", ["gpt-instruct", "gpt-4o"])
def test_completions_stream(gw, model):
    chunks = list(gw.openai().completions.create(model=model, prompt="stream text", max_tokens=50, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Echo: stream text"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_suffix_needs_a_completion_model(gw, upstream):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().completions.create(model="gpt-4o", prompt="def f(", suffix="return x", max_tokens=5)
    assert caught.value.param == "suffix"
    assert upstream.count("gpt-4o") == 0
    done = gw.openai().completions.create(model="gpt-instruct", prompt=["a", "b"], suffix=")", max_tokens=5)
    assert sorted(c.index for c in done.choices) == [0, 1]
    assert ledger_rows(gw, endpoint="completions")


@pytest.mark.parametrize("model", ["gpt-4o", "claude"])
def test_a_streamed_response_is_stored_for_the_next_turn(gw, upstream, model):
    c = gw.openai()
    with c.responses.stream(model=model, input="streamed turn one") as stream:
        for _ in stream:
            pass
        first = stream.get_final_response()
    assert c.responses.retrieve(first.id).output_text == "Echo: streamed turn one"
    second = c.responses.create(model=model, previous_response_id=first.id, input="turn two")
    assert second.output_text == "Echo: turn two"
    assert "Echo: streamed turn one" in orjson.dumps(upstream.requests[-1].json).decode()


def test_built_in_tools_pass_through_to_openai_and_are_refused_elsewhere(gw, upstream):
    tools = [WEATHER, {"type": "web_search", "external_web_access": False}]
    answer = gw.openai().responses.create(model="gpt-4o", input="search", tools=tools, store=False)
    assert answer.output_text == "Echo: search"
    assert upstream.requests[-1].json["tools"][1]["type"] == "web_search"
    before = upstream.total
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().responses.create(model="claude", input="search", tools=tools, store=False)
    assert caught.value.param == "tools" and "web_search" in caught.value.message
    assert upstream.total == before


def test_a_server_without_the_responses_api_is_not_cooled_for_chat(fake, tmp_path):
    config = {"model_list": [deployment("local", "openai/llama", fake.base_url + "/vllm-without-responses/v1")],
              "router_settings": {"num_retries": 0, "allowed_fails": 0, "cooldown_time": 600}}
    with Gateway(config, tmp_path, env=KEYS) as gw:
        for _ in range(2):
            with pytest.raises(openai.NotFoundError) as caught:
                gw.openai().responses.create(model="local", input="hi", store=False)
            assert "may not serve the responses API" in caught.value.message
        health = orjson.loads(gw.request("GET", "/health")[2])
        assert health["unhealthy_count"] == 0 and health["healthy_count"] == 1
