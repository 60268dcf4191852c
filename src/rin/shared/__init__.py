"""State shared by several RIN instances through Redis (`router_settings.redis_host`): cooldowns
(cooldowns.py), budget counters and reservations (budgets.py, Lua in lua.py; virtual keys' budgets
among them), deployments' rpm/tpm counts (rates.py) and virtual keys' (keyrates.py), over one
`RedisLink` (rin.redis_link: socket timeouts, one breaker, one log line per change). Without `redis_host` none of this exists and everything stays in the process.

    shared = SharedState.connect(config.router)          # None without redis_host
    budgets = Budgets(config, shared=shared.budgets)      # reserve becomes awaitable
    shared.bind(router)                                   # after building each Router
    await shared.start() ... await shared.close()

Routing decisions never wait on Redis: cooldowns and rate limits are applied locally from what
Redis last said. Only a budget reserve waits (one Lua call, bounded by the link's budget). While
Redis is unavailable: cooldowns and rate limits are local, soft budgets count locally, hard budgets
refuse (503) rather than risk overspending; once it answers again everything resumes, no restart.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rin.config.resolved import RouterSettings
from rin.redis_link import RedisLink, RedisUnavailable
from rin.shared.background import Background
from rin.shared.budgets import BudgetStore
from rin.shared.cooldowns import CooldownSync
from rin.shared.keyrates import KeyRates
from rin.shared.rates import RateSync
from rin.types import Secret

if TYPE_CHECKING:
    from rin.router import Router

__all__ = ["SharedState", "link"]

log = logging.getLogger("rin.shared")

TICK = 1.0  # seconds between refreshes of budget figures and rpm/tpm counts
FALLBACK = "cooldowns and rate limits are local, soft budgets count locally, hard budgets refuse requests"


def link(host: str, port: int = 6379, password: Secret | None = None, **overrides: Any) -> RedisLink:
    """The connection shared state uses: 0.25 s socket timeouts (a call is over within 0.5 s),
    the breaker opening after 3 failures in a row and probing every 5 s."""
    options: dict[str, Any] = {"socket_timeout": 0.25, "connect_timeout": 0.25, "failure_threshold": 3,
                               "cooldown": 5.0, **overrides}
    return RedisLink(host, port, password or None, name="shared state", fallback=FALLBACK, logger=log, **options)


class SharedState:
    def __init__(self, link: RedisLink, prefix: str = "rin:", *, tick: float = TICK,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.link = link
        self.prefix = prefix
        self.tick_seconds = tick
        #: this process, in messages it publishes (so it ignores its own)
        self.instance = secrets.token_hex(6)
        self.background = Background()
        self.budgets = BudgetStore(link, prefix, self.background, clock)
        self.cooldowns = CooldownSync(link, prefix, self.instance, self.background, wall)
        self.rates = RateSync(link, prefix, self.background, wall)
        self.key_rates = KeyRates(link, prefix, self.background, wall)
        self._loops: list[asyncio.Task[None]] = []
        #: Redis was found without its data and the budgets are not read again yet
        self._lost = False
        link.on_recover.append(self._recovered)

    @classmethod
    def connect(cls, settings: RouterSettings, **kwargs: Any) -> "SharedState | None":
        """The shared state `router_settings.redis_host` asks for, or None (all in-process).
        Connects lazily: a Redis that is down at startup is retried, never fatal."""
        if not settings.redis_host:
            return None
        return cls(link(settings.redis_host, settings.redis_port or 6379, settings.redis_password), **kwargs)

    def bind(self, router: "Router") -> None:
        """Shares `router`'s cooldowns and rpm/tpm counts (call after building each Router)."""
        self.cooldowns.bind(router)
        self.rates.bind(router)

    async def start(self) -> None:
        """Subscribes to cooldowns and loads the current ones, seeds this window's budgets from
        the ledger figures already in each Budget (only where Redis has none), then refreshes
        every `tick` seconds. Bounded: a Redis that does not answer delays startup by ~2 s at most."""
        self._loops.append(asyncio.get_running_loop().create_task(self.cooldowns.listen()))
        self.budgets.on_lost = self._lost_found_by_reserve
        try:
            # at start the budgets were just read from the ledger: reseeded from them where Redis
            # has lost its data (or never had any), else only seeded where a window is missing
            await self._check_data(starting=True)
            await self.budgets.sync(users=True)
        except RedisUnavailable:
            pass  # logged by the link; the tick loop retries
        try:
            async with asyncio.timeout(2.0):
                await self.cooldowns.ready.wait()
        except TimeoutError:
            pass
        self._loops.append(asyncio.get_running_loop().create_task(self._tick_loop()))

    async def close(self) -> None:
        """Waits (briefly) for budget updates in flight, then disconnects."""
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.budgets.drain(timeout=2 * self.link.budget + 0.5)
        self.background.cancel()
        await self.link.close()

    async def tick(self) -> None:
        """One refresh: rpm/tpm counts, budget backlog and figures, hold leases. While the breaker
        is open this is also what probes Redis, so recovery needs no request."""
        try:
            await self._check_data()
            await self.rates.tick()
            await self.budgets.sync()
            await self.budgets.renew()
        except RedisUnavailable:
            pass

    def _lost_data(self, starting: bool = False) -> bool:
        """Redis is without its marker (a reserve or a check found it so): the budgets are read
        again from the ledger. True if this is news (then a reserve's finding starts that now)."""
        if self._lost:
            return False
        self._lost = True
        if not starting:  # at start: a new Redis, or the first instance
            log.warning("shared state: Redis has lost its data (restarted empty?); reading budgets "
                        "again from the ledger before admitting against them")
        return True

    def _lost_found_by_reserve(self) -> None:
        if self._lost_data():
            self.background.spawn(self._catch_up())

    async def _check_data(self, starting: bool = False) -> None:
        """Has Redis lost its data (its marker, `BudgetStore.marker`, gone)? Then the budgets are
        read again from the ledger before any reserve goes ahead (`reseed`, which sets the marker;
        retried every tick until it succeeds); if it kept it, reserves held back after an outage
        go ahead. Raises RedisUnavailable."""
        if not await self.link.call(lambda r: r.exists(self.budgets.marker)):
            self._lost_data(starting)
        if not self._lost:
            self.budgets.stale, self.budgets.marked = False, True
            return
        try:
            await self.budgets.reseed()
        except RedisUnavailable:
            raise
        except Exception:  # noqa: BLE001 - the ledger can't be read: stay refusing, retry next tick
            log.exception("shared state: reading budgets from the ledger failed; hard budgets refuse until it works")
            return
        self._lost = False

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            await self.tick()

    def _recovered(self) -> None:
        # messages may have been missed, this instance's holds may have outlived their leases, and
        # Redis may have come back empty: no reserve until the budgets are read again (reseed)
        self.budgets.stale = True
        self.background.spawn(self._catch_up())

    async def _catch_up(self) -> None:
        try:
            await self._check_data()
            await self.cooldowns.load()
            await self.budgets.renew(force=True)
        except RedisUnavailable:
            pass  # still stale: the next tick tries again

    def status(self) -> dict[str, Any]:
        """For readiness: is Redis in use, and what waits to be written there."""
        return {"redis": self.link.where, "state": "unavailable" if self.link.breaker.is_open else "ok",
                "errors": self.link.errors, "live_holds": len(self.budgets.live),
                "budget_backlog": len(self.budgets.backlog)}
