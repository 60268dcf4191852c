"""Cooldowns shared by every instance: a deployment cooled by one is cooled for all.

The router still decides locally and synchronously (rin.router.cooldown); this module is its
`CooldownListener`. Keys and messages:
  <prefix>cooldown:<deployment id>   wall-clock end of the cooldown (ms), expiring with it (PX)
  <prefix>fails:<deployment id>      failures counted fleet-wide, expiring 60 s after the first
  channel <prefix>cooldowns          {"i": instance, "d": deployment id, "u": end (wall ms)}

Failures are counted in Redis as well as locally, so `allowed_fails` means what it means in one
process: N failures anywhere cool the deployment everywhere (the Redis count is a fixed 60 s window
from the first failure; the local one slides). Counting costs one Redis call per failure, off the
request path, none per success. Every instance subscribes to the channel and applies remote
cooldowns to its own clock; on (re)subscribing it loads the cooldown keys it may have missed. While
Redis is away each instance keeps cooling on its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from rin.redis_link import RedisLink, RedisUnavailable
from rin.router.cooldown import WINDOW, Cooldowns
from rin.shared import lua
from rin.shared.background import Background

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from rin.router import Router

log = logging.getLogger("rin.shared")


class CooldownSync:
    def __init__(self, link: RedisLink, prefix: str, instance: str, background: Background,
                 wall: Callable[[], float] = time.time) -> None:
        self.link = link
        self.prefix = prefix
        self.channel = f"{prefix}cooldowns"
        self.instance = instance
        self.background = background
        self.wall = wall
        self.cooldowns: Cooldowns | None = None
        self.clock: Callable[[], float] = time.monotonic
        self.labels: dict[str, str] = {}
        self._cool = link.client.register_script(lua.COOL)
        #: set once the first subscription (and load of existing cooldowns) was attempted
        self.ready = asyncio.Event()

    def bind(self, router: "Router") -> None:
        """Listens to `router`'s cooldowns (the same object across reloads) and names its deployments."""
        self.cooldowns, self.clock = router.cooldowns, router.clock
        self.labels = {d.id: d.label for d in router.config.deployments}
        router.cooldowns.listener = self

    def failed(self, dep_id: str, allowed_fails: int, cooldown: float) -> None:
        self._send(dep_id, allowed_fails, cooldown)

    def opened(self, dep_id: str, seconds: float) -> None:
        self._send(dep_id, 0, seconds)

    def _send(self, dep_id: str, allowed_fails: int, seconds: float) -> None:
        if seconds <= 0 or not self.link.usable():
            return
        self.background.spawn(self._publish(dep_id, allowed_fails, seconds))

    async def _publish(self, dep_id: str, allowed_fails: int, seconds: float) -> None:
        until = round((self.wall() + seconds) * 1000)
        message = orjson.dumps({"i": self.instance, "d": dep_id, "u": until})
        args: list[int | str | bytes] = [allowed_fails, int(WINDOW * 1000), until, max(1, round(seconds * 1000)),
                                          self.channel, message]
        keys = [f"{self.prefix}fails:{dep_id}", f"{self.prefix}cooldown:{dep_id}"]
        try:
            opened = await self.link.attempt(lambda r: self._cool(keys=keys, args=args))
        except RedisUnavailable:
            return
        if opened and allowed_fails:  # the fleet's count reached the limit with this failure
            self._apply(dep_id, until / 1000, "failures across instances")

    def _apply(self, dep_id: str, until_wall: float, why: str) -> None:
        if self.cooldowns is None:
            return
        remaining = until_wall - self.wall()
        if self.cooldowns.cool_until(dep_id, self.clock() + remaining):
            log.warning("cooldown: %s cooled for %gs (%s)", self.labels.get(dep_id, dep_id), round(remaining, 1), why)

    def received(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
            instance, dep_id, until = message["i"], message["d"], message["u"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.debug("shared state: ignoring a malformed cooldown message")
            return
        if instance != self.instance:
            self._apply(str(dep_id), float(until) / 1000, "opened by another instance")

    async def load(self) -> None:
        """Applies every cooldown in Redis now (at start, and after missing messages)."""
        async def read(r: "Redis") -> list[tuple[str, int]]:
            keys = [k async for k in r.scan_iter(match=f"{self.prefix}cooldown:*", count=1000)]
            if not keys:
                return []
            async with r.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.pttl(key)
                ttls = await pipe.execute()
            cut = len(f"{self.prefix}cooldown:")
            return [(k.decode()[cut:], int(t)) for k, t in zip(keys, ttls) if int(t) > 0]

        for dep_id, ttl in await self.link.call(read, timeout=max(2.0, self.link.budget)):
            self._apply(dep_id, self.wall() + ttl / 1000, "opened by another instance")

    async def listen(self) -> None:
        """Runs until cancelled: subscribes, loads what it missed, applies each message; after a
        lost connection it subscribes again (1 s, doubling to 10 s)."""
        backoff = 1.0
        while True:
            pubsub = self.link.client.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(self.link.budget):
                    await pubsub.subscribe(self.channel)
                try:
                    await self.load()
                except RedisUnavailable:
                    pass
                self.ready.set()
                backoff = 1.0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.received(message["data"])
            except self.link.failures as err:
                log.debug("shared state: cooldown subscription lost (%s), retrying in %gs", type(err).__name__, backoff)
            finally:
                self.ready.set()
                await _close(pubsub, self.link.failures)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


async def _close(pubsub: Any, failures: tuple[type[BaseException], ...]) -> None:
    try:
        async with asyncio.timeout(1.0):
            await pubsub.aclose()
    except failures:
        pass
