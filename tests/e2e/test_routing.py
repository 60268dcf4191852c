"""Retries, fallbacks, cooldowns and timeouts end to end. Attempts are counted from the fake
upstream's own request log, never from RIN's word."""

from __future__ import annotations

import time

import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway

MESSAGES = [{"role": "user", "content": "Say hello"}]


def routing_config(fake) -> dict:
    o, a, r = fake.openai_base, fake.anthropic_base, fake.openrouter_base
    return {
        "model_list": [
            deployment("gpt-4o", "openai/gpt-4o", o),
            deployment("openrouter/gpt-4o", "openrouter/openai/gpt-4o", r, "OPENROUTER_API_KEY"),
            deployment("claude-3-5-sonnet", "anthropic/claude-3-5-sonnet", a, "ANTHROPIC_API_KEY"),
            deployment("openrouter/claude-3-5-sonnet", "openrouter/anthropic/claude-3.5-sonnet", r,
                       "OPENROUTER_API_KEY"),
            deployment("flaky", "openai/flaky2", o),
            deployment("rate-limited", "openai/fail-429-ra1", o),
            deployment("reset", "openai/reset", o),
            deployment("silent", "openai/silent", o, timeout=0.5),
            deployment("stall", "openai/stall-mid", o, stream_timeout=0.5),
            deployment("stall-timeout", "openai/stall-mid-2", o, timeout=0.5),  # no stream_timeout
            deployment("bad-request", "openai/fail-400", o),
            deployment("small-context", "openai/ctx-overflow", o),
            deployment("small-context-claude", "anthropic/claude-ctx-overflow", a, "ANTHROPIC_API_KEY"),
            deployment("small-context-or", "openrouter/openai/ctx-overflow", r, "OPENROUTER_API_KEY"),
            deployment("big-context", "openai/gpt-4o-big", o),
            deployment("ok", "openai/gpt-4o-ok", o),
        ],
        "router_settings": {
            "num_retries": 2,
            "timeout": 20,
            "allowed_fails": 1000,
            "fallbacks": [
                {"gpt-4o": ["openrouter/gpt-4o"]},
                {"claude-3-5-sonnet": ["openrouter/claude-3-5-sonnet", "gpt-4o"]},
                {"reset": ["ok"]},
                {"silent": ["ok"]},
                {"bad-request": ["ok"]},
            ],
            "context_window_fallbacks": [{"small-context": ["big-context"]}, {"small-context-claude": ["big-context"]},
                                         {"small-context-or": ["big-context"]}],
        },
    }


@pytest.fixture(scope="module")
def gw(fake, tmp_path_factory):
    with Gateway(routing_config(fake), tmp_path_factory.mktemp("routing"), env=KEYS) as gateway:
        yield gateway


@pytest.fixture
def up(fake):
    fake.reset()
    yield fake
    for model in ("gpt-4o", "anthropic/claude-3.5-sonnet", "claude-3-5-sonnet", "openai/gpt-4o"):
        fake.set_fault(model, None)


def chat(gw, model: str, **kw):
    return gw.openai().chat.completions.with_raw_response.create(model=model, messages=MESSAGES, **kw)


def test_scenario_api_outage_falls_back_to_openrouter(gw, up):
    up.set_fault("gpt-4o", "fail-503")
    raw = chat(gw, "gpt-4o")
    assert "hello" in raw.parse().choices[0].message.content.lower()
    assert up.count("gpt-4o") == 3  # 1 + num_retries, then fallback
    assert up.count("openai/gpt-4o") == 1
    assert raw.headers["x-rin-model"] == "openrouter/openai/gpt-4o"
    assert raw.headers["x-rin-attempts"] == "4"
    log = gw.log()
    assert "retry" in log and "fallback: gpt-4o -> openrouter/gpt-4o" in log


def test_scenario_rate_limit_falls_through_to_gpt_4o(gw, up):
    up.set_fault("claude-3-5-sonnet", "fail-429-ra0")
    up.set_fault("anthropic/claude-3.5-sonnet", "fail-429-ra0")
    raw = chat(gw, "claude-3-5-sonnet")
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-rin-model"] == "openai/gpt-4o"
    assert up.count("claude-3-5-sonnet") == 3
    assert up.count("anthropic/claude-3.5-sonnet") == 3
    assert up.count("gpt-4o") == 1


def test_streaming_falls_back_before_the_first_byte(gw, up):
    up.set_fault("gpt-4o", "fail-500")
    chunks = list(gw.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert up.count("openai/gpt-4o") == 1


def test_500_then_success_is_retried_on_the_same_deployment(gw, up):
    raw = chat(gw, "flaky")
    assert raw.parse().choices[0].message.content
    assert up.count("flaky2") == 3
    assert raw.headers["x-rin-attempts"] == "3"


def test_retry_after_is_honoured(gw, up):
    with pytest.raises(openai.RateLimitError) as info:
        chat(gw, "rate-limited")
    times = [r.time for r in up.requests if r.model == "fail-429-ra1"]
    assert len(times) == 3
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:]))
    assert info.value.response.headers.get("retry-after") == "1"


def test_connection_reset_before_headers_is_retried_then_falls_back(gw, up):
    raw = chat(gw, "reset")
    assert raw.headers["x-rin-model"] == "openai/gpt-4o-ok"
    assert up.count("reset") == 3


def test_silent_upstream_times_out_and_falls_back(gw, up):
    raw = chat(gw, "silent")
    assert raw.headers["x-rin-model"] == "openai/gpt-4o-ok"
    assert up.count("silent") == 3


def test_stream_stalled_mid_way_ends_with_an_error_event(gw, up):
    status, _, body = gw.request("POST", "/v1/chat/completions",
                                 {"model": "stall", "messages": MESSAGES, "stream": True})
    assert status == 200
    events = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] != "[DONE]"
    assert orjson.loads(events[-1])["error"]["type"] == "timeout"
    assert up.count("stall-mid") == 1  # no retry once bytes reached the client


def test_a_stalled_stream_without_a_stream_timeout_ends_after_the_request_timeout(gw, up):
    """No stream_timeout anywhere: the wait between two reads is bounded by the request's timeout
    (0.5 s here), as an HTTP client's read timeout is: the stream ends with an error event."""
    status, _, body = gw.request("POST", "/v1/chat/completions",
                                 {"model": "stall-timeout", "messages": MESSAGES, "stream": True})
    assert status == 200
    events = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
    assert len(events) > 1 and events[-1] != "[DONE]"
    assert orjson.loads(events[-1])["error"]["type"] == "timeout"


def test_bad_request_is_not_retried_nor_fallen_back(gw, up):
    with pytest.raises(openai.BadRequestError):
        chat(gw, "bad-request")
    assert up.count("fail-400") == 1
    assert up.count("gpt-4o-ok") == 0


@pytest.mark.parametrize(("model", "upstream_model"), [("small-context", "ctx-overflow"),
                                                      ("small-context-claude", "claude-ctx-overflow"),
                                                      ("small-context-or", "openai/ctx-overflow")])
def test_context_window_error_uses_context_window_fallbacks(gw, up, model, upstream_model):
    """OpenAI's code, Anthropic's "prompt is too long: ..." and OpenRouter's "maximum context
    length" message all move the request to the bigger model, once, without retrying."""
    raw = chat(gw, model)
    assert raw.headers["x-rin-model"] == "openai/gpt-4o-big"
    assert up.count(upstream_model) == 1


def test_cooldown_skips_a_dead_deployment_until_it_recovers(fake, tmp_path):
    config = {
        "model_list": [deployment("primary", "openai/cool-primary", fake.openai_base),
                       deployment("backup", "openai/cool-backup", fake.openai_base)],
        "router_settings": {"num_retries": 0, "allowed_fails": 2, "cooldown_time": 1,
                            "fallbacks": [{"primary": ["backup"]}]},
    }
    fake.reset()
    fake.set_fault("cool-primary", "fail-500")
    with Gateway(config, tmp_path, env=KEYS) as gw:
        client = gw.openai()
        for _ in range(4):
            client.chat.completions.create(model="primary", messages=MESSAGES)
        assert fake.count("cool-primary") == 2  # cooled after allowed_fails: later requests skip it
        assert fake.count("cool-backup") == 4
        status, _, body = gw.request("GET", "/model/info")
        info = {d["litellm_params"]["model"]: d["model_info"] for d in orjson.loads(body)["data"]}
        assert info["openai/cool-primary"]["status"] == "cooling_down"
        fake.set_fault("cool-primary", None)
        # after the cooldown a single probe goes through, succeeds, and closes the breaker
        # (bounded by time, not by a request count: a fast machine sends 400 requests within 1 s)
        deadline = time.monotonic() + 10
        while fake.count("cool-primary") == 2 and time.monotonic() < deadline:
            client.chat.completions.create(model="primary", messages=MESSAGES)
        assert fake.count("cool-primary") == 3
        raw = client.chat.completions.with_raw_response.create(model="primary", messages=MESSAGES)
        assert raw.headers["x-rin-model"] == "openai/cool-primary"
