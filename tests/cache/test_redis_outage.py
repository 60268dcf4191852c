"""Redis stopped, frozen and restarted mid-test: a private redis-server on a free port (never the
shared one), the breaker on an injected clock. No request waits past the budget; the local cache
answers while Redis is away; one log line when it goes, one when it is back."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Iterator

import pytest

from rin.cache import CachedAnswer, RedisCache
from rin.types import Secret
from tests.cache.support import Clock, RedisServer, answer
from tests.conftest import require_service

pytestmark = pytest.mark.services


def own_server(*args: str) -> Iterator[RedisServer]:
    require_service("Redis", shutil.which("redis-server") is not None, "redis-server is not on PATH")
    server = RedisServer(*args)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def server() -> Iterator[RedisServer]:
    yield from own_server()


def cache_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rin.cache"]


async def bounded_get(cache: RedisCache, key: str) -> CachedAnswer | None:
    """A get that must finish within the cache's budget (plus scheduling slack), or the test fails."""
    started = time.perf_counter()
    async with asyncio.timeout(cache.budget + 0.25):
        got = await cache.get(key)
    assert time.perf_counter() - started < cache.budget + 0.2
    return got


def test_redis_killed_then_restarted(server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()

    async def run() -> None:
        cache = RedisCache("127.0.0.1", server.port, socket_timeout=0.25, failure_threshold=2, cooldown=30,
                           clock=clock)
        other = RedisCache("127.0.0.1", server.port, clock=clock)
        try:
            await cache.set("before", answer("before"), 60)
            assert await other.get("before") is not None  # shared while Redis is up

            server.kill()
            assert await bounded_get(cache, "before") is None  # gone with the server; local is empty
            await cache.set("during", answer("during"), 60)  # second failure: the breaker opens
            assert cache.breaker.is_open
            during = await bounded_get(cache, "during")
            assert during is not None and b"during" in during.body  # the local cache answered
            errors = cache.errors

            server.start()  # same port, empty
            assert await bounded_get(cache, "during") is not None  # still open: Redis not tried yet
            assert cache.errors == errors
            clock.advance(30)  # the cooldown is over: the next call probes Redis and closes the breaker
            assert await bounded_get(cache, "during") is None  # from Redis now, which never saw it
            assert not cache.breaker.is_open
            await cache.set("after", answer("after"), 60)
            shared = await other.get("after")
            assert shared is not None and b"after" in shared.body  # writes reach Redis again
        finally:
            await cache.close()
            await other.close()

    with caplog.at_level(logging.INFO, logger="rin.cache"):
        asyncio.run(run())
    lines = cache_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"cache: redis unavailable (127.0.0.1:{server.port}: ")
    assert lines[0].endswith(", using local cache")
    assert lines[1] == f"cache: redis recovered (127.0.0.1:{server.port})"


def test_redis_frozen_then_thawed(server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()

    async def run() -> None:
        cache = RedisCache("127.0.0.1", server.port, socket_timeout=0.2, failure_threshold=2, cooldown=5,
                           clock=clock)
        try:
            await cache.set("k", answer(), 60)
            server.freeze()  # the process stops; its sockets stay open and silent
            try:
                assert await bounded_get(cache, "k") is None
                assert await bounded_get(cache, "k") is None
                assert cache.breaker.is_open
                clock.advance(5)
                assert await bounded_get(cache, "k") is None  # the probe times out too: still open
                assert cache.breaker.is_open
            finally:
                server.thaw()
            clock.advance(5)
            hit = await bounded_get(cache, "k")
            assert hit is not None and hit.body == answer().body  # the entry outlived the freeze
            assert not cache.breaker.is_open
        finally:
            await cache.close()

    with caplog.at_level(logging.INFO, logger="rin.cache"):
        asyncio.run(run())
    lines = cache_lines(caplog)
    assert [line.split(" (")[0] for line in lines] == ["cache: redis unavailable", "cache: redis recovered"]
    assert "TimeoutError" in lines[0] or "no answer within" in lines[0]


@pytest.fixture
def guarded() -> Iterator[RedisServer]:
    yield from own_server("--requirepass", "right-password")


def test_a_wrong_password_opens_the_breaker_and_is_never_logged(
    guarded: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        wrong = RedisCache("127.0.0.1", guarded.port, Secret("wrong-password-123"), failure_threshold=1)
        right = RedisCache("127.0.0.1", guarded.port, Secret("right-password"), failure_threshold=1)
        try:
            assert await wrong.get("k") is None
            assert wrong.breaker.is_open
            await right.set("k", answer(), 60)
            assert await right.get("k") is not None
            assert not right.breaker.is_open
        finally:
            await wrong.close()
            await right.close()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(run())
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "cache: redis unavailable" in text
    assert "wrong-password-123" not in text and "right-password" not in text
