"""The shared cache: Redis, with a circuit breaker and a local cache to fall back on.

No request ever waits on Redis for more than `connect_timeout + socket_timeout` seconds: the client
has both socket timeouts, retries only a broken connection (at once, never a timeout), and every call
is also bounded by asyncio.timeout. After `failure_threshold` consecutive
failures the breaker opens: Redis is skipped for `cooldown` seconds and the local cache answers;
then one call probes Redis again. Each change of state is one log line; the password never is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from rin.cache.entry import CachedAnswer
from rin.cache.local import LocalCache
from rin.types import Secret

log = logging.getLogger("rin.cache")


class Breaker:
    """closed: use Redis. open: don't, except for one probe call per `cooldown` seconds; the first
    probe that succeeds closes it. A probe that never returns (cancelled) costs one cooldown."""

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self._clock = clock
        self.failures = 0
        self.is_open = False
        self._since = 0.0

    def allow(self) -> bool:
        if not self.is_open:
            return True
        now = self._clock()
        if now - self._since < self.cooldown:
            return False
        self._since = now
        return True

    def success(self) -> bool:
        """Records a success; True when it closed the breaker."""
        self.failures = 0
        if self.is_open:
            self.is_open = False
            return True
        return False

    def failure(self) -> bool:
        """Records a failure; True when it opened the breaker."""
        self.failures += 1
        if self.is_open:
            self._since = self._clock()
            return False
        if self.failures >= self.threshold:
            self.is_open = True
            self._since = self._clock()
            return True
        return False


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
        connect_timeout = socket_timeout if connect_timeout is None else connect_timeout
        self.where = f"{host}:{port}"
        self._password = password
        self._client = Redis(
            host=host, port=port, db=db, username=username,
            password=password.get() if password else None,
            socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout,
            # one immediate retry on a broken connection only: after a Redis restart every pooled
            # socket is dead, and each would otherwise count as a failure. Never on a timeout.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)), health_check_interval=0,
        )
        #: the most any call may take, whatever the socket does
        self.budget = connect_timeout + socket_timeout
        self.breaker = Breaker(failure_threshold, cooldown, clock)
        self.fallback = fallback if fallback is not None else LocalCache(16 * 1024 * 1024)
        self.hits = 0
        self.misses = 0
        self.errors = 0

    async def get(self, key: str) -> CachedAnswer | None:
        if not self.breaker.allow():
            return self.fallback.get_nowait(key)
        try:
            async with asyncio.timeout(self.budget):
                data = await self._client.get(key)
        except (RedisError, OSError, TimeoutError) as err:
            self._failed(err)
            return self.fallback.get_nowait(key)
        self._succeeded()
        if not isinstance(data, bytes):  # None: a miss (str can't happen: decode_responses is off)
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
        if not self.breaker.allow():
            self.fallback.set_nowait(key, answer, ttl)
            return
        try:
            async with asyncio.timeout(self.budget):
                await self._client.set(key, answer.encode(), px=max(1, round(ttl * 1000)))
        except (RedisError, OSError, TimeoutError) as err:
            self._failed(err)
            self.fallback.set_nowait(key, answer, ttl)
            return
        self._succeeded()

    async def ping(self) -> bool:
        """For readiness: is Redis answering now (bounded like every call)."""
        try:
            async with asyncio.timeout(self.budget):
                return bool(await self._client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self._client.aclose()

    def stats(self) -> dict[str, Any]:
        return {
            "redis": "open" if self.breaker.is_open else "closed",
            "hits": self.hits, "misses": self.misses, "errors": self.errors,
            "local": self.fallback.stats(),
        }

    def _succeeded(self) -> None:
        if self.breaker.success():
            log.warning("cache: redis recovered (%s)", self.where)
            # entries written during the outage are invisible to other instances: let them go
            self.fallback.clear()

    def _failed(self, err: BaseException) -> None:
        self.errors += 1
        if self.breaker.failure():
            log.warning("cache: redis unavailable (%s: %s), using local cache",
                        self.where, self._describe(err))

    def _describe(self, err: BaseException) -> str:
        text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        if isinstance(err, TimeoutError) and not str(err):
            text = f"no answer within {self.budget:g}s"
        if self._password:
            text = text.replace(self._password.get(), "***")
        return text
