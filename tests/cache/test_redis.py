"""The Redis cache against the shared Redis on 127.0.0.1:6379 (each test in its own namespace,
whose keys are deleted afterwards), and against addresses where nothing answers."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from rin.cache import CacheKey, RedisCache, ResponseCache, build_cache, cache_scope
from rin.config.resolved import LiteLLMSettings, RouterSettings
from tests.cache.support import Clock, answer, claimed_keys, free_port, stream_answer

pytestmark = pytest.mark.services
BODY: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "What is 2+2?"}]}


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    for _ in claimed_keys(f"rin:cache:{name}:*"):
        yield name


def redis_cache(namespace: str, **kw: Any) -> ResponseCache:
    cache = build_cache(LiteLLMSettings(cache=True, cache_params={"type": "redis", "namespace": namespace, **kw}),
                        RouterSettings(redis_host="127.0.0.1", redis_port=6379))
    assert cache is not None and isinstance(cache.backend, RedisCache)
    return cache


def key(cache: ResponseCache, body: dict[str, Any] = BODY, **cache_field: Any) -> CacheKey:
    if cache_field:
        body = dict(body, cache=cache_field)
    return cache.key(cache_scope("key-hash", None), "gpt-4o", body, cache.controls(body))


def test_set_then_get_round_trips_json_and_stream_answers(namespace: str) -> None:
    async def run() -> None:
        cache = redis_cache(namespace)
        try:
            k = key(cache)
            assert await cache.lookup(k) is None
            assert await cache.store(k, answer())
            hit = await cache.lookup(k)
            assert hit is not None and hit.body == answer().body and hit.deployment == "openai/gpt-4o"
            stream_body = dict(BODY, stream=True)
            sk = key(cache, stream_body)
            assert await cache.store(sk, stream_answer())
            replay = await cache.lookup(sk)
            assert replay is not None and replay.sse(True) == stream_answer().sse(True)
            assert cache.backend.stats()["errors"] == 0
        finally:
            await cache.close()

    asyncio.run(run())


def test_entries_carry_the_ttl_in_redis(namespace: str) -> None:
    async def run() -> tuple[int, int]:
        cache = redis_cache(namespace, ttl=300)
        try:
            other = dict(BODY, messages=[{"role": "user", "content": "And 3+3?"}])
            default_key, short_key = key(cache), key(cache, other, ttl=7)
            assert default_key.value != short_key.value
            await cache.store(default_key, answer())
            await cache.store(short_key, answer("short"))
        finally:
            await cache.close()
        client = redis.Redis("127.0.0.1", 6379)
        try:
            return client.pttl(default_key.value), client.pttl(short_key.value)
        finally:
            client.close()

    default_ms, short_ms = asyncio.run(run())
    assert 299_000 < default_ms <= 300_000
    assert 6_000 < short_ms <= 7_000


def test_an_entry_is_gone_once_its_ttl_has_passed(namespace: str) -> None:
    async def run() -> None:
        cache = redis_cache(namespace)
        try:
            k = key(cache)
            await cache.backend.set(k.value, answer(), 0.05)
            assert await cache.lookup(k) is not None
            await asyncio.sleep(0.15)  # Redis's own clock decides: nothing to inject here
            assert await cache.lookup(k) is None
        finally:
            await cache.close()

    asyncio.run(run())


def test_two_instances_share_entries(namespace: str) -> None:
    async def run() -> None:
        first, second = redis_cache(namespace), redis_cache(namespace)
        try:
            assert await second.lookup(key(second)) is None
            await first.store(key(first), answer("from the first instance"))
            hit = await second.lookup(key(second))
            assert hit is not None and b"from the first instance" in hit.body
            other_user = second.key(cache_scope("key-hash", "bob"), "gpt-4o", BODY, second.controls(BODY))
            assert await second.lookup(other_user) is None
        finally:
            await first.close()
            await second.close()

    asyncio.run(run())


def test_an_unreadable_value_is_a_miss_not_an_error(namespace: str) -> None:
    async def run() -> None:
        cache = redis_cache(namespace)
        k = key(cache)
        client = redis.Redis("127.0.0.1", 6379)
        client.set(k.value, b"not an entry", ex=60)
        client.close()
        try:
            assert await cache.lookup(k) is None
            assert cache.backend.stats()["errors"] == 0
        finally:
            await cache.close()

    asyncio.run(run())


def unreachable(clock: Clock, port: int, **kw: Any) -> RedisCache:
    return RedisCache("127.0.0.1", port, socket_timeout=0.25, failure_threshold=3, cooldown=30, clock=clock, **kw)


def cache_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rin.cache"]


def test_a_closed_port_never_hangs_and_the_local_cache_takes_over(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    port = free_port()

    async def run() -> None:
        cache = unreachable(clock, port)
        try:
            for i in range(5):
                async with asyncio.timeout(cache.budget):  # each call is over within its own budget
                    assert await cache.get(f"k{i}") is None
            assert cache.breaker.is_open
            assert cache.stats()["errors"] == 3  # after the third failure Redis was not tried again
            async with asyncio.timeout(cache.budget):
                await cache.set("k", answer(), 60)
                got = await cache.get("k")
            assert got is not None and got.body == answer().body  # served by the local fallback
        finally:
            await cache.close()

    with caplog.at_level(logging.INFO, logger="rin.cache"):
        asyncio.run(run())
    lines = cache_lines(caplog)
    assert len(lines) == 1
    assert lines[0].startswith(f"cache: redis unavailable (127.0.0.1:{port}: ConnectionRefusedError")
    assert lines[0].endswith("using local cache")


def test_a_server_that_accepts_but_never_answers_costs_one_budget_per_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()

    async def run() -> None:
        held: list[asyncio.StreamWriter] = []

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # read nothing, answer nothing

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        cache = unreachable(clock, port, password=None)
        try:
            for _ in range(3):
                started = time.perf_counter()
                async with asyncio.timeout(cache.budget + 0.25):
                    assert await cache.get("k") is None
                assert time.perf_counter() - started < cache.budget + 0.2
            assert cache.breaker.is_open
            started = time.perf_counter()
            assert await cache.get("k") is None
            assert time.perf_counter() - started < 0.01  # open: Redis is not even tried
        finally:
            await cache.close()
            server.close()
            for writer in held:
                writer.close()

    with caplog.at_level(logging.INFO, logger="rin.cache"):
        asyncio.run(run())
    assert [line.split(" (")[0] for line in cache_lines(caplog)] == ["cache: redis unavailable"]
