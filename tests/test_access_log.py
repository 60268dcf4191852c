"""The access log's cap and its lines (rin.access_log), with an injected clock."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import pytest

from rin.access_log import AccessLog
from rin.errors import UpstreamServerError
from rin.router import Attempt, RequestState
from rin.types import ChatRequest, Deployment, Usage

KEY_HASH = "4f0cf9be66d1" + "a" * 52


class Clock:
    def __init__(self) -> None:
        self.now = 100.25

    def __call__(self) -> float:
        return self.now


def state(n: int = 1, **request) -> RequestState:  # type: ignore[no-untyped-def]
    st = RequestState(ChatRequest({}, "gpt-4o", request_id=f"r{n}", **request))
    st.deployment = Deployment("gpt-4o", "openai", "gpt-4o", "http://x/v1", "d1")
    st.model_group = "gpt-4o"
    return st


def access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "rin.access"]


def test_at_most_rate_lines_a_second_then_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = AccessLog(3, clock=clock)
    for n in range(10):
        log.write(state(n), None, "success", None, Decimal(0), None)
    assert [r.request_id for r in access(caplog)] == ["r0", "r1", "r2"]  # type: ignore[attr-defined]
    assert log.dropped == 7
    clock.now += 1  # the next second: its first request reports the last one's drops, then logs
    log.write(state(10), None, "success", None, Decimal(0), None)
    summary, line = access(caplog)[3:]
    assert summary.skipped == 7 and summary.rate == 3  # type: ignore[attr-defined]
    assert "skipped 7 request lines in the last second" in summary.getMessage()
    assert line.request_id == "r10"  # type: ignore[attr-defined]
    clock.now += 5
    log.write(state(11), None, "success", None, Decimal(0), None)
    assert len(access(caplog)) == 6 and log.dropped == 7  # no drops, no summary


def test_the_summary_comes_at_the_end_of_the_second_without_another_request(
        caplog: pytest.LogCaptureFixture) -> None:
    async def burst() -> None:
        log = AccessLog(1, clock=Clock())  # 100.25: the second ends 0.75 s later
        for n in range(4):
            log.write(state(n), None, "success", None, Decimal(0), None)
        deadline = time.monotonic() + 10
        while not any(hasattr(r, "skipped") for r in access(caplog)) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    asyncio.run(burst())
    (summary,) = [r for r in access(caplog) if hasattr(r, "skipped")]
    assert summary.skipped == 3  # type: ignore[attr-defined]


def test_a_line_has_the_request_and_no_key(caplog: pytest.LogCaptureFixture) -> None:
    st = state(7, user="alice", api_key_hash=KEY_HASH, endpoint="messages", stream=True)
    st.attempts = [Attempt("openai/fail-503", "gpt-4o", "UpstreamServerError", 503, 0.1),
                   Attempt("openai/gpt-4o", "gpt-4o", None, 200, 0.2)]
    st.fallback_from = "claude"
    AccessLog(50).write(st, Usage(prompt_tokens=11, completion_tokens=5), "success", None, Decimal("0.000125"), None)
    (line,) = access(caplog)
    assert line.levelname == "INFO"
    fields = {k: getattr(line, k) for k in ("request_id", "endpoint", "requested_model", "model", "deployment",
                                            "status", "error", "attempts", "fallback_from", "prompt_tokens",
                                            "completion_tokens", "cost", "cache_hit", "stream", "user", "key_hash")}
    assert fields == {"request_id": "r7", "endpoint": "messages", "requested_model": "gpt-4o", "model": "gpt-4o",
                      "deployment": "openai/gpt-4o", "status": "success", "error": None, "attempts": 2,
                      "fallback_from": "claude", "prompt_tokens": 11, "completion_tokens": 5, "cost": 0.000125,
                      "cache_hit": False, "stream": True, "user": "alice", "key_hash": "4f0cf9be66d1"}
    assert line.getMessage().startswith("request r7 messages gpt-4o -> gpt-4o (openai/gpt-4o) success attempts=2 ")
    assert KEY_HASH not in line.getMessage()


def test_a_failed_request_names_its_last_deployment_and_error(caplog: pytest.LogCaptureFixture) -> None:
    st = RequestState(ChatRequest({}, "gpt-4o", request_id="r1"))
    st.attempts = [Attempt("openai/fail-503", "gpt-4o", "UpstreamServerError", 503, 0.1)]
    err = UpstreamServerError("down", upstream_status=503)
    AccessLog(50).write(st, None, "error", err, Decimal(0), None)
    (line,) = access(caplog)
    assert (line.deployment, line.error, line.status) == (  # type: ignore[attr-defined]
        "openai/fail-503", "UpstreamServerError", "error")
    assert "error UpstreamServerError attempts=1" in line.getMessage()


def test_it_shows_whatever_the_log_level(caplog: pytest.LogCaptureFixture) -> None:
    root, before = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.WARNING)  # rin --log-level warning
    logging.getLogger("rin.access").setLevel(logging.NOTSET)
    try:
        AccessLog(50).write(state(), None, "success", None, Decimal(0), None)
    finally:
        root.setLevel(before)
    assert len(access(caplog)) == 1


def test_a_refused_request_has_a_line_of_its_own_under_the_same_cap(caplog: pytest.LogCaptureFixture) -> None:
    from rin.errors import AuthenticationFailed

    clock = Clock()
    log = AccessLog(2, clock=clock)
    log.refused("r1", "POST", "/v1/chat/completions", AuthenticationFailed("Missing API key."))
    log.write(state(2), None, "success", None, Decimal(0), None)
    log.refused("r3", "GET", "/nope", AuthenticationFailed("Missing API key."))  # over the cap of 2
    (line, _) = access(caplog)
    assert {k: getattr(line, k) for k in ("request_id", "method", "path", "status", "http_status", "error")} == {
        "request_id": "r1", "method": "POST", "path": "/v1/chat/completions", "status": "refused",
        "http_status": 401, "error": "AuthenticationFailed"}
    assert line.getMessage() == "request r1 POST /v1/chat/completions refused 401 AuthenticationFailed"
    assert log.dropped == 1
