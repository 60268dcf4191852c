"""The facade's rules: controls honoured, a fallback's answer never stored, only whole answers."""

from __future__ import annotations

import asyncio
from typing import Any

from rin.cache import CacheKey, LocalCache, ResponseCache, cache_scope, cacheable
from tests.cache.support import Clock, answer, stream_answer

BODY: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
SCOPE = cache_scope("key-hash", None)


def make(clock: Clock, **kw: Any) -> ResponseCache:
    return ResponseCache(LocalCache(10_000_000, clock), clock=clock, **kw)


def key_for(cache: ResponseCache, cache_field: Any = None, header: str | None = None) -> CacheKey:
    body = dict(BODY, cache=cache_field) if cache_field is not None else BODY
    return cache.key(SCOPE, "gpt-4o", body, cache.controls(body, header))


def test_a_stored_answer_is_found_by_the_same_request() -> None:
    cache = make(Clock())
    k = key_for(cache)
    assert asyncio.run(cache.lookup(k)) is None
    assert asyncio.run(cache.store(k, answer()))
    hit = asyncio.run(cache.lookup(key_for(cache)))
    assert hit is not None and hit.body == answer().body
    assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1 and cache.stats()["stored"] == 1


def test_a_fallbacks_answer_is_never_stored_under_the_primarys_key() -> None:
    cache = make(Clock())
    k = key_for(cache)  # the client asked for gpt-4o...
    fallback_answer = answer(group="claude-3-5-sonnet")  # ...and claude answered
    assert not asyncio.run(cache.store(k, fallback_answer))
    assert asyncio.run(cache.lookup(k)) is None
    assert cache.stats()["refused"] == 1


def test_no_cache_skips_the_lookup_but_still_stores_the_fresh_answer() -> None:
    cache = make(Clock())
    asyncio.run(cache.store(key_for(cache), answer("old")))
    k = key_for(cache, {"no-cache": True})
    assert asyncio.run(cache.lookup(k)) is None
    assert asyncio.run(cache.store(k, answer("new")))
    hit = asyncio.run(cache.lookup(key_for(cache)))
    assert hit is not None and b"new" in hit.body


def test_no_store_keeps_the_answer_out() -> None:
    cache = make(Clock())
    assert not asyncio.run(cache.store(key_for(cache, header="no-store"), answer()))
    assert asyncio.run(cache.lookup(key_for(cache))) is None


def test_the_ttl_is_the_requests_else_the_configured_one() -> None:
    clock = Clock()
    cache = make(clock, ttl=100)
    other = dict(BODY, messages=[{"role": "user", "content": "other"}])
    asyncio.run(cache.store(key_for(cache, {"ttl": 5}), answer()))
    asyncio.run(cache.store(cache.key(SCOPE, "gpt-4o", other, cache.controls(other)), answer()))
    clock.advance(6)
    assert asyncio.run(cache.lookup(key_for(cache))) is None
    assert asyncio.run(cache.lookup(cache.key(SCOPE, "gpt-4o", other, cache.controls(other)))) is not None
    clock.advance(95)
    assert asyncio.run(cache.lookup(cache.key(SCOPE, "gpt-4o", other, cache.controls(other)))) is None


def test_s_maxage_refuses_an_answer_older_than_the_client_accepts() -> None:
    clock = Clock()
    cache = make(clock)
    asyncio.run(cache.store(key_for(cache), answer()))
    clock.advance(30)
    assert asyncio.run(cache.lookup(key_for(cache, {"s-maxage": 60}))) is not None
    assert asyncio.run(cache.lookup(key_for(cache, {"s-maxage": 20}))) is None
    assert asyncio.run(cache.lookup(key_for(cache, header="max-age=29"))) is None
    assert cache.stats()["stale"] == 2


def test_a_namespace_separates_entries() -> None:
    cache = make(Clock(), namespace="prod")
    asyncio.run(cache.store(key_for(cache), answer()))
    assert key_for(cache).value.startswith("rin:cache:prod:")
    assert asyncio.run(cache.lookup(key_for(cache, {"namespace": "experiment"}))) is None
    assert asyncio.run(cache.lookup(key_for(cache))) is not None


def test_default_off_mode_caches_only_opted_in_requests() -> None:
    cache = make(Clock(), default_on=False)
    assert not asyncio.run(cache.store(key_for(cache), answer()))
    assert asyncio.run(cache.store(key_for(cache, {"use-cache": True}), answer()))
    assert asyncio.run(cache.lookup(key_for(cache))) is None
    assert asyncio.run(cache.lookup(key_for(cache, {"use-cache": True}))) is not None


def test_answers_past_the_entry_limit_are_refused() -> None:
    cache = make(Clock(), max_entry_bytes=2000)
    assert not asyncio.run(cache.store(key_for(cache), answer("x" * 3000)))
    assert cache.recorder().limit == 2000


def test_a_stream_replays_from_the_cache() -> None:
    cache = make(Clock())
    body = dict(BODY, stream=True)
    k = cache.key(SCOPE, "gpt-4o", body, cache.controls(body))
    rec = cache.recorder()
    original = stream_answer()
    for chunk in original.chunks:
        rec.add([chunk])
    entry = rec.answer(original.usage_chunk, original.usage, "openai/gpt-4o", "gpt-4o")
    assert entry is not None and asyncio.run(cache.store(k, entry))
    hit = asyncio.run(cache.lookup(k))
    assert hit is not None and hit.sse(include_usage=True) == original.sse(include_usage=True)
    assert asyncio.run(cache.lookup(key_for(cache))) is None  # the JSON request has its own entry


def test_only_whole_successful_answers_are_cacheable() -> None:
    assert cacheable(200, True)
    assert not cacheable(200, False)  # a stream that broke off or whose client left
    assert not cacheable(429, True)
    assert not cacheable(500, True)
    assert not cacheable(400, True)
