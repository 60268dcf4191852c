"""Deployment rpm / tpm counted across instances, for `over_limit` and usage-based routing.

Only deployments with `rpm` or `tpm` set are counted in Redis; every other request costs nothing
here (one dict lookup). Keys, per deployment and wall-clock minute, expiring after two minutes:
  <prefix>rpm:<deployment id>:<minute>   INCRBY of the requests this instance started, sent at once
                                         off the request path (a burst is one round trip); the reply
                                         tells this instance the fleet's count
  <prefix>tpm:<deployment id>:<minute>   INCRBY of the tokens this instance used, batched every tick

Decisions stay local and synchronous (rin.router.strategy.Stats): this instance's own count plus the
rest of the fleet's as last seen (at most one tick old, and fresher after each of its own requests).
So the fleet can overshoot a limit by what other instances admitted since they last reported: a
few requests at most, not a multiple of the limit. tpm is known only once answers finish, so it is
approximate by nature (as it is in one process). While Redis is away each instance counts alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rin.redis_link import RedisLink, RedisUnavailable
from rin.router.strategy import Stats
from rin.shared.background import Background
from rin.types import Deployment

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from rin.router import Router


class RateSync:
    def __init__(self, link: RedisLink, prefix: str, background: Background,
                 wall: Callable[[], float] = time.time) -> None:
        self.link = link
        self.prefix = prefix
        self.background = background
        self.wall = wall
        self.stats: Stats | None = None
        #: deployments with rpm or tpm set, by id
        self.limited: dict[str, Deployment] = {}
        #: (kind, deployment id, minute) -> what this instance sent to Redis
        self._sent: dict[tuple[str, str, int], int] = {}
        #: deployment id -> tokens not yet sent
        self._tokens: dict[str, int] = {}
        #: (deployment id, minute) -> requests not yet sent, and the task sending them
        self._requests: dict[tuple[str, int], int] = {}
        self._sender: asyncio.Task[None] | None = None

    def bind(self, router: "Router") -> None:
        """Listens to `router`'s stats (the same object across reloads) and learns the limits."""
        self.stats = router.stats
        self.limited = {d.id: d for d in router.config.deployments if d.rpm or d.tpm}
        router.stats.listener = self

    def started(self, dep_id: str, requests: int) -> None:
        dep = self.limited.get(dep_id)
        if dep is None or not dep.rpm:
            return
        minute = int(self.wall() // 60)
        self._requests[(dep_id, minute)] = self._requests.get((dep_id, minute), 0) + 1
        if self._sender is None or self._sender.done():
            self._sender = self.background.spawn(self._send_requests())

    def ended(self, dep_id: str, tokens: int) -> None:
        dep = self.limited.get(dep_id)
        if dep is not None and dep.tpm:
            self._tokens[dep_id] = self._tokens.get(dep_id, 0) + tokens

    def _count(self, kind: str, dep_id: str, minute: int, n: int) -> int:
        key = (kind, dep_id, minute)
        self._sent[key] = self._sent.get(key, 0) + n
        return self._sent[key]

    async def _send_requests(self) -> None:
        while self._requests:
            batch, self._requests = self._requests, {}
            keys = [(f"{self.prefix}rpm:{dep_id}:{minute}", dep_id, minute) for dep_id, minute in batch]

            async def incr(r: "Redis") -> list[Any]:
                async with r.pipeline(transaction=False) as pipe:
                    for (key, _, _), n in zip(keys, batch.values()):  # noqa: B023
                        pipe.incrby(key, n)
                        pipe.expire(key, 120)
                    return await pipe.execute()

            try:
                replies = await self.link.call(incr)
            except RedisUnavailable:
                continue  # counted here only: the fleet's figure returns with Redis
            for (dep_id, minute), n in batch.items():
                self._count("rpm", dep_id, minute, n)
            current = int(self.wall() // 60)
            for (_, dep_id, minute), total in zip(keys, replies[0::2]):
                if self.stats is not None and minute == current:
                    self.stats.set_others(dep_id, requests=int(total) - self._sent.get(("rpm", dep_id, minute), 0))

    async def tick(self) -> None:
        """Sends the tokens counted since the last tick and reads the fleet's counts of this minute.
        Raises RedisUnavailable."""
        minute = int(self.wall() // 60)
        self._sent = {k: v for k, v in self._sent.items() if k[2] >= minute - 1}
        if not self.limited:
            self._tokens.clear()
            return
        tokens, self._tokens = self._tokens, {}
        deps = list(self.limited.values())
        keys = [(kind, d.id) for d in deps for kind in ("rpm", "tpm") if getattr(d, kind)]

        async def exchange(r: "Redis") -> list[Any]:
            async with r.pipeline(transaction=False) as pipe:
                for dep_id, n in tokens.items():
                    key = f"{self.prefix}tpm:{dep_id}:{minute}"
                    pipe.incrby(key, n)
                    pipe.expire(key, 120)
                pipe.mget([f"{self.prefix}{kind}:{dep_id}:{minute}" for kind, dep_id in keys])
                return await pipe.execute()

        try:
            replies = await self.link.call(exchange)
        except RedisUnavailable:
            for dep_id, n in tokens.items():  # keep them for the next tick
                self._tokens[dep_id] = self._tokens.get(dep_id, 0) + n
            raise
        for dep_id, n in tokens.items():
            self._count("tpm", dep_id, minute, n)
        if self.stats is None:
            return
        for (kind, dep_id), value in zip(keys, replies[-1]):
            others = int(value or 0) - self._sent.get((kind, dep_id, minute), 0)
            if kind == "rpm":
                self.stats.set_others(dep_id, requests=others)
            else:
                self.stats.set_others(dep_id, tokens=others)
