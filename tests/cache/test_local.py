"""The in-process cache: LRU bounded in bytes, TTL on an injected clock, stats."""

from __future__ import annotations

import asyncio
import gc

import pytest

from rin.cache import CachedAnswer, LocalCache
from tests.cache.support import Clock, answer


def size_of(key: str, entry: CachedAnswer) -> int:
    return len(key) + entry.nbytes


def test_get_returns_what_was_set_and_counts_hits_and_misses() -> None:
    cache = LocalCache(1_000_000, Clock())
    entry = answer()
    asyncio.run(cache.set("k1", entry, 60))
    assert asyncio.run(cache.get("k1")) == entry
    assert asyncio.run(cache.get("k2")) is None
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 1, 1)
    assert stats["bytes"] == size_of("k1", entry)


def test_the_byte_bound_evicts_the_least_recently_used_entries() -> None:
    entries = {f"key{i}": answer("x" * 500 + str(i)) for i in range(4)}
    one = size_of("key0", entries["key0"])
    cache = LocalCache(3 * one + one // 2, Clock())  # room for three, not four
    for k in ("key0", "key1", "key2"):
        cache.set_nowait(k, entries[k], 60)
    assert cache.get_nowait("key0") == entries["key0"]  # key0 is now the most recent: key1 is the oldest
    cache.set_nowait("key3", entries["key3"], 60)
    assert cache.get_nowait("key1") is None
    assert [cache.get_nowait(k) is not None for k in ("key0", "key2", "key3")] == [True, True, True]
    stats = cache.stats()
    assert stats["evictions"] == 1
    assert stats["entries"] == 3
    assert stats["bytes"] <= cache.max_bytes
    assert stats["bytes"] == sum(size_of(k, entries[k]) for k in ("key0", "key2", "key3"))


def test_one_big_entry_evicts_as_many_small_ones_as_it_needs() -> None:
    small = [answer(str(i)) for i in range(10)]
    one = size_of("s0", small[0])
    cache = LocalCache(10 * one + 50, Clock())
    for i, entry in enumerate(small):
        cache.set_nowait(f"s{i}", entry, 60)
    big = answer("y" * (6 * one))
    cache.set_nowait("big", big, 60)
    assert cache.get_nowait("big") == big
    assert cache.stats()["bytes"] <= cache.max_bytes
    present = [i for i in range(10) if cache.get_nowait(f"s{i}") is not None]
    assert present == list(range(10 - len(present), 10))  # the oldest went first
    assert 0 < len(present) < 10
    assert cache.stats()["evictions"] == 10 - len(present)


def test_an_entry_bigger_than_the_whole_cache_is_not_stored() -> None:
    cache = LocalCache(1000, Clock())
    cache.set_nowait("small", answer(), 60)
    cache.set_nowait("huge", answer("z" * 5000), 60)
    assert cache.get_nowait("huge") is None
    assert cache.get_nowait("small") is not None  # nothing was evicted for it
    assert cache.stats()["too_large"] == 1


def test_replacing_a_key_keeps_the_byte_count_exact() -> None:
    cache = LocalCache(1_000_000, Clock())
    cache.set_nowait("k", answer("a" * 1000), 60)
    cache.set_nowait("k", answer("b"), 60)
    assert cache.stats()["bytes"] == size_of("k", answer("b"))
    assert len(cache) == 1


def test_entries_expire_after_their_ttl_on_the_injected_clock() -> None:
    clock = Clock()
    cache = LocalCache(1_000_000, clock)
    cache.set_nowait("short", answer(), 10)
    cache.set_nowait("long", answer(), 100)
    clock.advance(9.99)
    assert cache.get_nowait("short") is not None
    clock.advance(0.01)
    assert cache.get_nowait("short") is None
    assert cache.get_nowait("long") is not None
    stats = cache.stats()
    assert stats["expirations"] == 1
    assert stats["entries"] == 1
    assert stats["bytes"] == size_of("long", answer())


def test_a_zero_ttl_stores_nothing() -> None:
    cache = LocalCache(1_000_000, Clock())
    cache.set_nowait("k", answer(), 0)
    assert cache.get_nowait("k") is None
    assert len(cache) == 0


def test_a_non_positive_bound_is_refused() -> None:
    with pytest.raises(ValueError):
        LocalCache(0)


def test_entries_are_out_of_the_garbage_collectors_view() -> None:
    """A full cache must not be walked by every collection (bench/README.md, "Tail latency")."""
    cache = LocalCache(1_000_000, Clock())
    for i in range(100):
        cache.set_nowait(f"k{i}", answer(f"answer {i}"), 60)
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, CachedAnswer)]
    assert cache.get_nowait("k7") == answer("answer 7")
