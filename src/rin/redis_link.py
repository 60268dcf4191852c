"""One Redis connection with a circuit breaker, shared by the response cache and the scale-out state.

No caller ever waits on Redis for more than `connect_timeout + socket_timeout` seconds (unless it
asks for a longer bound for a multi-step call): the client has both socket timeouts, retries only a
broken connection (at once, never a timeout), and every call is also bounded by asyncio.timeout.
The request path (scripts, cache GET/SET) goes over `wire`, one pipelined connection
(rin.redis_wire); redis-py's pool, up to `max_connections`, serves pub/sub, pings and the batched
background counters, a burst beyond it waiting for a free connection within the same bound.
After `failure_threshold` consecutive failures the breaker opens: Redis is skipped for `cooldown`
seconds, then one call probes it again. Each change of state is one log line; the password never is.

Redis's own exceptions become `RedisUnavailable` here, in this one place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from rin.types import Secret

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis could not be used for this call (down, slow, frozen, or the breaker is open).
    `attempted`: the call was sent, so Redis may still run it (a frozen Redis runs it on thawing)."""

    def __init__(self, where: str, reason: str, attempted: bool = False) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
        self.attempted = attempted


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


class RedisLink:
    """A Redis client whose every call is bounded and goes through one breaker.

    `name` starts its log lines ("cache: redis unavailable (...)"), `fallback` says what happens
    instead while Redis is away; `on_recover` callbacks run when the breaker closes again."""

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
        clock: Callable[[], float] = time.monotonic,
        max_connections: int = 64,
        name: str = "redis",
        fallback: str = "",
        logger: logging.Logger | None = None,
    ) -> None:
        # redis-py is imported here, not at module level: a gateway without Redis never loads it
        # (about a tenth of a second of start-up)
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError

        from rin.redis_wire import RedisReplyError, Wire

        #: what a failed call raises: Redis's own errors, sockets, timeouts
        self.failures: tuple[type[BaseException], ...] = (RedisError, RedisReplyError, OSError, TimeoutError)
        connect_timeout = socket_timeout if connect_timeout is None else connect_timeout
        self.where = f"{host}:{port}"
        self._password = password
        #: the most a call may take, whatever the socket does
        self.budget = connect_timeout + socket_timeout
        self.client = Redis.from_pool(BlockingConnectionPool(
            host=host, port=port, db=db, username=username,
            password=password.get() if password else None,
            socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout,
            # one immediate retry on a broken connection only: after a Redis restart every pooled
            # socket is dead, and each would otherwise count as a failure. Never on a timeout.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)), health_check_interval=0,
            max_connections=max_connections, timeout=self.budget,
        ))
        #: the scripts on the request path go over this pipelined connection (rin.redis_wire)
        self.wire = Wire(host, port, username=username, password=password.get() if password else None,
                         db=db, connect_timeout=connect_timeout)
        self.breaker = Breaker(failure_threshold, cooldown, clock)
        self.name = name
        self.fallback = fallback
        self.log = logger or logging.getLogger("rin.redis")
        self.errors = 0
        #: why the last call failed (for messages while the breaker is open); never holds the password
        self.last_error = "not tried yet"
        self.on_recover: list[Callable[[], None]] = []

    def usable(self) -> bool:
        """True when a call may go to Redis now (the breaker is closed, or this is its probe)."""
        return self.breaker.allow()

    async def call(self, op: Callable[["Redis"], Awaitable[T]], timeout: float | None = None) -> T:
        """Runs `op(client)` within the budget (or `timeout`); raises RedisUnavailable when the
        breaker is open or the call fails. Callers that checked `usable()` use `attempt`."""
        if not self.breaker.allow():
            raise RedisUnavailable(self.where, self.last_error)
        return await self.attempt(op, timeout)

    async def attempt(self, op: Callable[["Redis"], Awaitable[T]], timeout: float | None = None) -> T:
        """Like `call`, without asking the breaker first."""
        try:
            async with asyncio.timeout(self.budget if timeout is None else timeout):
                result = await op(self.client)
        except self.failures as err:
            self.failed(err)
            raise RedisUnavailable(self.where, self.last_error, attempted=True) from err
        self.succeeded()
        return result

    async def ping(self) -> bool:
        """For readiness: is Redis answering now (bounded like every call)."""
        try:
            async with asyncio.timeout(self.budget):
                return bool(await self.client.ping())
        except self.failures:
            return False

    async def close(self) -> None:
        self.wire.close()
        await self.client.aclose()

    def succeeded(self) -> None:
        if self.breaker.success():
            self.log.warning("%s: redis recovered (%s)", self.name, self.where)
            for callback in self.on_recover:
                callback()

    def failed(self, err: BaseException) -> None:
        self.errors += 1
        self.last_error = self.describe(err)
        if self.breaker.failure():
            self.log.warning("%s: redis unavailable (%s: %s)%s", self.name, self.where, self.last_error,
                             f", {self.fallback}" if self.fallback else "")

    def describe(self, err: BaseException) -> str:
        text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        if isinstance(err, TimeoutError) and not str(err):
            text = f"no answer within {self.budget:g}s"
        if self._password:
            text = text.replace(self._password.get(), "***")
        return text
