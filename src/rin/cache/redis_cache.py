"""The shared cache: Redis, with a circuit breaker and a local cache to fall back on.

The connection, its timeouts and the breaker are `rin.redis_link.RedisLink` (shared with the
scale-out state): no request ever waits on Redis for more than `connect_timeout + socket_timeout`
seconds; after `failure_threshold` consecutive failures Redis is skipped for `cooldown` seconds and
the local cache answers; then one call probes Redis again. Each change of state is one log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from rin.cache.entry import CachedAnswer
from rin.cache.local import LocalCache
from rin.redis_link import Breaker, RedisLink, RedisUnavailable
from rin.types import Secret

__all__ = ["Breaker", "RedisCache"]

log = logging.getLogger("rin.cache")


class RedisCache:
    def __init__(
        self,
        host: str,
        port: int = 6379,
        password: Secret | None = None,
        *,
        db: int = 0,
        username: str | None = None,
        socket_timeout: float = 0.25,
        connect_timeout: float | None = None,
        failure_threshold: int = 3,
        cooldown: float = 10.0,
        fallback: LocalCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link = RedisLink(
            host, port, password, db=db, username=username, socket_timeout=socket_timeout,
            connect_timeout=connect_timeout, failure_threshold=failure_threshold, cooldown=cooldown,
            clock=clock, name="cache", fallback="using local cache", logger=log,
        )
        # entries written during an outage are invisible to other instances: let them go
        self.link.on_recover.append(lambda: self.fallback.clear())
        self.where = self.link.where
        #: the most any call may take, whatever the socket does
        self.budget = self.link.budget
        self.breaker = self.link.breaker
        self.fallback = fallback if fallback is not None else LocalCache(16 * 1024 * 1024)
        self.hits = 0
        self.misses = 0

    @property
    def errors(self) -> int:
        return self.link.errors

    async def get(self, key: str) -> CachedAnswer | None:
        if not self.link.usable():
            return self.fallback.get_nowait(key)
        try:
            data = await self.link.attempt(lambda r: self.link.wire.execute("GET", key))
        except RedisUnavailable:
            return self.fallback.get_nowait(key)
        if not isinstance(data, bytes):  # None: a miss
            self.misses += 1
            return None
        try:
            answer = CachedAnswer.decode(data)
        except ValueError as err:
            log.debug("cache: unreadable entry %s: %s", key, err)
            self.misses += 1
            return None
        self.hits += 1
        return answer

    async def set(self, key: str, answer: CachedAnswer, ttl: float) -> None:
        if ttl <= 0:
            return
        if not self.link.usable():
            self.fallback.set_nowait(key, answer, ttl)
            return
        failing = self.breaker.failures > 0
        if failing:
            # Redis failed just before: keep the answer here first, so that a repeat arriving while
            # this write waits for Redis already finds it (the answer went out before this write)
            self.fallback.set_nowait(key, answer, ttl)
        try:
            px = max(1, round(ttl * 1000))
            await self.link.attempt(lambda r: self.link.wire.execute("SET", key, answer.encode(), "PX", px))
        except RedisUnavailable:
            if not failing:
                self.fallback.set_nowait(key, answer, ttl)

    async def ping(self) -> bool:
        """For readiness: is Redis answering now (bounded like every call)."""
        return await self.link.ping()

    async def close(self) -> None:
        await self.link.close()

    def stats(self) -> dict[str, Any]:
        return {
            "redis": "open" if self.breaker.is_open else "closed",
            "hits": self.hits, "misses": self.misses, "errors": self.errors,
            "local": self.fallback.stats(),
        }
