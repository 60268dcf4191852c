"""Virtual keys' rpm / tpm counted across instances (rin.keys.limits uses it when Redis is set).

Keys, per key hash and wall-clock minute, expiring after two minutes:
  <prefix>key-rpm:<key hash>:<minute>   requests admitted, counted by the KEY_RATE script only when
                                        the key has room, so the fleet admits exactly `rpm` a minute
  <prefix>key-tpm:<key hash>:<minute>   tokens used, INCRBY off the request path as answers finish

An admission is one script call (one round trip) and only for keys with rpm or tpm set. tpm is
known only once answers finish, so like every tpm limit it stops the next request, not the one
that crosses it. Redis unavailable: RedisUnavailable, and the caller counts in its own process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rin.redis_link import RedisLink, RedisUnavailable
from rin.redis_wire import Lua
from rin.shared import lua
from rin.shared.background import Background

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from rin.keys.model import VirtualKey

EXPIRE_MS = 120_000


class KeyRates:
    def __init__(self, link: RedisLink, prefix: str, background: Background,
                 wall: Callable[[], float] = time.time) -> None:
        self.link = link
        self.prefix = prefix
        self.background = background
        self.wall = wall
        self._script = Lua(lua.KEY_RATE)
        #: key hash -> tokens not yet sent, and the task sending them
        self._tokens: dict[tuple[str, int], int] = {}
        self._sending = False

    def _keys(self, key_hash: str, minute: int) -> list[str]:
        return [f"{self.prefix}key-rpm:{key_hash}:{minute}", f"{self.prefix}key-tpm:{key_hash}:{minute}"]

    async def admit(self, key: "VirtualKey") -> int:
        """Counts one request for `key` if its rpm and tpm leave room this minute: 0 when admitted,
        1 when the rpm limit is used up, 2 when the tpm limit is. Raises RedisUnavailable."""
        keys = self._keys(key.key_hash, int(self.wall() // 60))
        args = [key.rpm if key.rpm is not None else -1, key.tpm if key.tpm is not None else -1, EXPIRE_MS]
        reply = await self.link.call(lambda r: self.link.wire.run(self._script, keys, args))
        return int(reply[0])

    def used(self, key_hash: str, tokens: int) -> None:
        """Adds the tokens of a finished request, off the request path (batched per round trip)."""
        if tokens <= 0:
            return
        slot = (key_hash, int(self.wall() // 60))
        self._tokens[slot] = self._tokens.get(slot, 0) + tokens
        if not self._sending:
            self._sending = True
            self.background.spawn(self._send())

    async def _send(self) -> None:
        try:
            while self._tokens:
                batch, self._tokens = self._tokens, {}

                async def incr(r: "Redis") -> None:
                    async with r.pipeline(transaction=False) as pipe:
                        for (key_hash, minute), n in batch.items():  # noqa: B023
                            _, tpm_key = self._keys(key_hash, minute)
                            pipe.incrby(tpm_key, n)
                            pipe.pexpire(tpm_key, EXPIRE_MS)
                        await pipe.execute()

                try:
                    await self.link.call(incr)
                except RedisUnavailable:
                    return  # this minute's tokens are lost to the fleet's count, never the ledger's
        finally:
            self._sending = False
