"""The in-process cache: an LRU bounded in bytes, with a TTL per entry.

Size is the key's length plus the answer's `nbytes` (payload bytes and a fixed overhead per entry),
so the bound holds for a few huge answers as well as for many small ones. Every operation is O(1):
an OrderedDict in recency order; expired entries are dropped when met, or evicted as the oldest.

An entry is held in its binary form (`CachedAnswer.encode`) in a tuple of bytes and numbers, which
the garbage collector stops tracking: a full cache holds hundreds of thousands of entries, and as
objects (answer, usage, chunk list, slot) every collection of the older generations walked them all,
pausing the event loop for tens of milliseconds (bench/README.md, "Tail latency"). A hit decodes
its entry: a few microseconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from rin.cache.entry import CachedAnswer

#: (the entry's binary form, its size as counted against max_bytes, expiry time)
_Slot = tuple[bytes, int, float]


class LocalCache:
    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._clock = clock
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0
        #: answers refused because they alone exceed max_bytes
        self.too_large = 0

    async def get(self, key: str) -> CachedAnswer | None:
        return self.get_nowait(key)

    async def set(self, key: str, answer: CachedAnswer, ttl: float) -> None:
        self.set_nowait(key, answer, ttl)

    def get_nowait(self, key: str) -> CachedAnswer | None:
        slot = self._slots.get(key)
        if slot is None:
            self.misses += 1
            return None
        if slot[2] <= self._clock():
            self._drop(key, slot)
            self.expirations += 1
            self.misses += 1
            return None
        self._slots.move_to_end(key)
        self.hits += 1
        return CachedAnswer.decode(slot[0])

    def set_nowait(self, key: str, answer: CachedAnswer, ttl: float) -> None:
        old = self._slots.get(key)
        if old is not None:
            self._drop(key, old)
        size = len(key) + answer.nbytes
        if ttl <= 0:
            return
        if size > self.max_bytes:
            self.too_large += 1
            return
        self._slots[key] = (answer.encode(), size, self._clock() + ttl)
        self.bytes += size
        while self.bytes > self.max_bytes:
            oldest, slot = next(iter(self._slots.items()))
            self._drop(oldest, slot)
            self.evictions += 1

    async def close(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._slots.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._slots)

    def stats(self) -> dict[str, int]:
        return {
            "hits": self.hits, "misses": self.misses, "entries": len(self._slots), "bytes": self.bytes,
            "max_bytes": self.max_bytes, "evictions": self.evictions, "expirations": self.expirations,
            "too_large": self.too_large,
        }

    def _drop(self, key: str, slot: _Slot) -> None:
        del self._slots[key]
        self.bytes -= slot[1]
