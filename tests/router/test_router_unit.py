"""The router's decisions, with an injected clock and a scripted `call`: no network, no sleeping."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from rin.config.resolved import Config, RouterSettings
from rin.errors import (
    ContextWindowExceeded, ModelNotFound, NoDeploymentAvailable, UpstreamAuthError, UpstreamBadRequest,
    UpstreamRateLimited, UpstreamServerError,
)
from rin.router import RequestState, Router
from rin.router.cooldown import Cooldowns
from rin.router.strategy import Stats, order
from rin.types import ChatRequest, Deployment


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def dep(name: str, model: str, **kw) -> Deployment:
    return Deployment(name, "openai", model, "http://x/v1", f"{name}:{model}", **kw)


def make_router(deps: list[Deployment], clock: Clock, **settings) -> Router:
    config = Config(path=None, deployments=deps, router=RouterSettings(**settings))
    return Router(config, clock=clock, sleep=clock.sleep, rng=random.Random(7))


def run(router: Router, model: str, script: dict[str, list]) -> tuple[object, RequestState, list[str]]:
    """`script[provider_model]` is consumed one outcome per call: an exception to raise or a value."""
    calls: list[str] = []

    async def call(d: Deployment, timeout: float):
        calls.append(d.provider_model)
        outcome = script[d.provider_model].pop(0) if len(script[d.provider_model]) > 1 else script[d.provider_model][0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    state = RequestState(ChatRequest({}, model))
    try:
        result = asyncio.run(router.run(state, call))
    except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
        result = exc
    return result, state, calls


def err500() -> UpstreamServerError:
    return UpstreamServerError("down", upstream_status=500)


def test_persistent_outage_makes_exactly_one_plus_num_retries_attempts_then_falls_back():
    clock = Clock()
    router = make_router([dep("gpt-4o", "a"), dep("backup", "b")], clock,
                         num_retries=2, fallbacks={"gpt-4o": ["backup"]}, allowed_fails=100)
    result, state, calls = run(router, "gpt-4o", {"a": [err500()], "b": ["ok"]})
    assert result == "ok"
    assert calls == ["a", "a", "a", "b"]
    assert state.fallback_from == "gpt-4o" and state.model_group == "backup"
    assert len(clock.slept) == 2 and all(0 < s < 1 for s in clock.slept)


def test_bad_request_is_neither_retried_nor_fallen_back():
    router = make_router([dep("gpt-4o", "a"), dep("backup", "b")], Clock(), fallbacks={"gpt-4o": ["backup"]})
    result, _, calls = run(router, "gpt-4o", {"a": [UpstreamBadRequest("bad", upstream_status=400)], "b": ["ok"]})
    assert isinstance(result, UpstreamBadRequest) and calls == ["a"]


def test_auth_error_moves_on_without_retrying():
    router = make_router([dep("gpt-4o", "a"), dep("backup", "b")], Clock(), num_retries=3,
                         fallbacks={"gpt-4o": ["backup"]})
    result, _, calls = run(router, "gpt-4o", {"a": [UpstreamAuthError("no", upstream_status=401)], "b": ["ok"]})
    assert result == "ok" and calls == ["a", "b"]


def test_retry_after_is_honoured_when_it_fits_the_deadline():
    clock = Clock()
    router = make_router([dep("m", "a")], clock, num_retries=1, timeout=30, allowed_fails=100)
    result, _, calls = run(router, "m", {"a": [UpstreamRateLimited("slow down", retry_after=2.0), "ok"]})
    assert result == "ok" and calls == ["a", "a"] and clock.slept == [2.0]


def test_retry_after_beyond_the_deadline_moves_on_at_once():
    clock = Clock()
    router = make_router([dep("m", "a"), dep("n", "b")], clock, num_retries=3, timeout=5,
                         fallbacks={"m": ["n"]}, allowed_fails=100)
    result, _, calls = run(router, "m", {"a": [UpstreamRateLimited("slow", retry_after=60.0)], "b": ["ok"]})
    assert result == "ok" and calls == ["a", "b"] and clock.slept == []


def test_context_window_error_switches_to_context_window_fallbacks():
    router = make_router([dep("small", "a"), dep("big", "b")], Clock(),
                         context_window_fallbacks={"small": ["big"]})
    result, state, calls = run(router, "small", {"a": [ContextWindowExceeded("too long")], "b": ["ok"]})
    assert result == "ok" and calls == ["a", "b"] and state.fallback_from == "small"


def test_cooldown_opens_then_half_open_probe_then_closes():
    clock = Clock()
    router = make_router([dep("m", "a"), dep("n", "b")], clock, num_retries=0, allowed_fails=2,
                         cooldown_time=30, fallbacks={"m": ["n"]})
    script = {"a": [err500()], "b": ["ok"]}
    for _ in range(2):
        run(router, "m", script)
    # open: the dead deployment is skipped without a call
    _, _, calls = run(router, "m", script)
    assert calls == ["b"]
    clock.now += 31
    # half-open: one probe goes through; it fails again, so the cooldown is extended
    _, _, calls = run(router, "m", script)
    assert calls == ["a", "b"]
    clock.now += 31
    _, _, calls = run(router, "m", script)
    assert calls == ["b"]  # extended (doubled) cooldown still running
    clock.now += 60
    _, _, calls = run(router, "m", {"a": ["fine"], "b": ["ok"]})
    assert calls == ["a"]
    assert router.cooldowns.cooling_until("m:a") is None


def test_single_deployment_group_in_cooldown_goes_straight_to_fallback():
    clock = Clock()
    router = make_router([dep("m", "a"), dep("n", "b")], clock, num_retries=2, allowed_fails=1,
                         cooldown_time=60, fallbacks={"m": ["n"]})
    _, _, calls = run(router, "m", {"a": [err500()], "b": ["ok"]})
    assert calls == ["a", "b"]  # the first failure cooled it: no retries burnt on a dead provider


def test_everything_cooling_is_a_clear_503():
    clock = Clock()
    router = make_router([dep("m", "a")], clock, num_retries=0, allowed_fails=1, cooldown_time=60)
    run(router, "m", {"a": [err500()]})
    result, _, calls = run(router, "m", {"a": [err500()]})
    assert isinstance(result, NoDeploymentAvailable) and calls == []
    assert "cooling down" in result.message and "openai/a" in result.message
    assert result.retry_after == pytest.approx(60)  # when the cooldown ends: the 503's Retry-After
    clock.now += 45
    result, _, _ = run(router, "m", {})
    assert result.retry_after == pytest.approx(15)


def test_unknown_model_names_the_model_list():
    result, _, _ = run(make_router([dep("m", "a")], Clock()), "nope", {})
    assert isinstance(result, ModelNotFound) and "/v1/models" in result.message


def test_weighted_shuffle_follows_weights():
    deps = [dep("m", "heavy", weight=9), dep("m", "light", weight=1)]
    rng = random.Random(1)
    firsts = Counter(order(deps, "simple-shuffle", Stats(Clock()), rng)[0].provider_model for _ in range(2000))
    assert 0.85 < firsts["heavy"] / 2000 < 0.95


def test_order_priority_comes_before_strategy():
    deps = [dep("m", "second", order=2, weight=100), dep("m", "first", order=1, weight=1)]
    assert order(deps, "simple-shuffle", Stats(Clock()), random.Random(3))[0].provider_model == "first"


def test_rpm_limited_deployment_is_skipped_for_the_rest_of_the_minute():
    clock = Clock()
    router = make_router([dep("m", "limited", rpm=2, order=1), dep("m", "other", order=2)], clock)
    seen = [run(router, "m", {"limited": ["L"], "other": ["O"]})[2][0] for _ in range(4)]
    assert seen == ["limited", "limited", "other", "other"]
    clock.now += 60
    assert run(router, "m", {"limited": ["L"], "other": ["O"]})[2] == ["limited"]


def test_cooldowns_count_failures_per_minute_only():
    clock = Clock()
    cd = Cooldowns(clock, allowed_fails=2, cooldown_time=10)
    assert not cd.record_failure("x")
    clock.now += 61
    assert not cd.record_failure("x")
    assert cd.record_failure("x")
    assert cd.cooling_until("x") == pytest.approx(clock.now + 10)


def test_prompt_clearly_over_the_context_window_goes_to_the_larger_model_without_a_call():
    from rin.types import ModelInfo

    router = make_router([dep("small", "a", info=ModelInfo(context_length=1000)),
                          dep("big", "b", info=ModelInfo(context_length=200000))], Clock(),
                         context_window_fallbacks={"small": ["big"]})
    calls: list[str] = []

    async def call(d, timeout):
        calls.append(d.provider_model)
        return "ok"

    state = RequestState(ChatRequest({}, "small", body_size=40_000))
    assert asyncio.run(router.run(state, call)) == "ok"
    assert calls == ["b"]


def test_allowed_fails_policy_and_per_deployment_cooldown_time():
    clock = Clock()
    router = make_router([dep("m", "a", cooldown_time=120.0), dep("n", "b")], clock, num_retries=0,
                         allowed_fails=100, allowed_fails_policy={"RateLimitErrorAllowedFails": 1},
                         fallbacks={"m": ["n"]})
    run(router, "m", {"a": [UpstreamRateLimited("slow")], "b": ["ok"]})
    assert router.cooldowns.cooling_until("m:a") == pytest.approx(clock.now + 120)


def test_retry_policy_per_error_class():
    clock = Clock()
    router = make_router([dep("m", "a")], clock, num_retries=0, allowed_fails=100,
                         retry_policy={"InternalServerErrorRetries": 3})
    _, _, calls = run(router, "m", {"a": [err500()]})
    assert calls == ["a"] * 4


def test_images_go_to_a_fallback_with_vision_or_get_a_clear_400():
    from rin.errors import CapabilityError
    from rin.types import ModelInfo

    image_body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}
    blind = dep("blind", "a", info=ModelInfo(supports_vision=False))
    seeing = dep("seeing", "b", info=ModelInfo(supports_vision=True))
    calls: list[str] = []

    async def call(d, timeout):
        calls.append(d.provider_model)
        return "ok"

    router = make_router([blind, seeing], Clock(), fallbacks={"blind": ["seeing"]})
    assert asyncio.run(router.run(RequestState(ChatRequest(image_body, "blind")), call)) == "ok"
    assert calls == ["b"]
    alone = make_router([blind], Clock())
    with pytest.raises(CapabilityError) as info:
        asyncio.run(alone.run(RequestState(ChatRequest(image_body, "blind")), call))
    assert info.value.status == 400 and "vision" in info.value.message
    # text-only requests still reach the model without vision
    assert asyncio.run(alone.run(RequestState(ChatRequest({"messages": []}, "blind")), call)) == "ok"


def test_tools_to_a_model_without_function_calling_are_refused():
    from rin.errors import CapabilityError
    from rin.types import ModelInfo

    router = make_router([dep("m", "a", info=ModelInfo(supports_function_calling=False))], Clock())
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}

    async def call(d, timeout):
        return "ok"

    with pytest.raises(CapabilityError) as info:
        asyncio.run(router.run(RequestState(ChatRequest(body, "m")), call))
    assert info.value.param == "tools"


def test_failures_in_flight_when_the_breaker_opens_do_not_extend_it():
    clock = Clock()
    cd = Cooldowns(clock, allowed_fails=1, cooldown_time=5)
    assert cd.record_failure("x") == 5
    until = cd.cooling_until("x")
    for _ in range(10):
        assert cd.record_failure("x") == 0
    assert cd.cooling_until("x") == until
