"""Per-key limits on the request path: allowed models and rpm / tpm. (A key's budget is a scope of
rin.budgets, reserved per deployment with every other budget, shared through Redis with them.)

Without Redis each process counts its own requests and tokens per wall-clock minute. With shared
state (`router_settings.redis_host`) a key with rpm or tpm set is counted in Redis
(rin.shared.keyrates), so the limit holds across workers and instances; while Redis is unavailable
each process counts alone again, as deployment rate limits do.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rin.errors import PermissionDenied, RateLimited
from rin.keys.model import VirtualKey
from rin.redis_link import RedisUnavailable

if TYPE_CHECKING:
    from rin.shared.keyrates import KeyRates


@dataclass(slots=True)
class _Minute:
    minute: int = -1
    requests: int = 0
    tokens: int = 0


class KeyLimits:
    def __init__(self, clock: Callable[[], float] = time.time, shared: "KeyRates | None" = None) -> None:
        self.clock = clock
        self.shared = shared
        self._local: dict[str, _Minute] = {}

    def admit(self, key: VirtualKey, model: str) -> Awaitable[None] | None:
        """Refuses a model the key may not use (403) or a request over its rpm / tpm (429). With
        shared state and a rate-limited key, returns an awaitable that decides (one Redis call)."""
        if not key.allows(model):
            allowed = ", ".join(key.models)
            raise PermissionDenied(f"This key may not use '{model}'; it may use: {allowed}.", param="model")
        if key.rpm is None and key.tpm is None:
            return None
        if self.shared is not None:
            return self._admit_shared(key)
        self._admit_locally(key)
        return None

    async def _admit_shared(self, key: VirtualKey) -> None:
        assert self.shared is not None
        try:
            refused = await self.shared.admit(key)
        except RedisUnavailable:
            self._admit_locally(key)  # logged by the link; this process counts alone meanwhile
            return
        if refused:
            raise self._refusal(key, tpm=refused == 2)

    def _admit_locally(self, key: VirtualKey) -> None:
        count = self._minute(key.key_hash)
        if key.tpm is not None and count.tokens >= key.tpm:
            raise self._refusal(key, tpm=True)
        if key.rpm is not None and count.requests >= key.rpm:
            raise self._refusal(key, tpm=False)
        count.requests += 1

    def used(self, key: VirtualKey | None, tokens: int) -> None:
        """Counts a finished request's tokens against its key's tpm."""
        if key is None or key.tpm is None:
            return
        if self.shared is not None:
            self.shared.used(key.key_hash, tokens)
        self._minute(key.key_hash).tokens += tokens

    def _minute(self, key_hash: str) -> _Minute:
        minute = int(self.clock() // 60)
        count = self._local.get(key_hash)
        if count is None:
            count = self._local[key_hash] = _Minute()
        if count.minute != minute:
            count.minute, count.requests, count.tokens = minute, 0, 0
        return count

    def _refusal(self, key: VirtualKey, tpm: bool) -> RateLimited:
        wait = 60 - self.clock() % 60  # the counts are per clock minute: Retry-After is its end
        if tpm:
            return RateLimited(f"This key's limit of {key.tpm} tokens per minute is used up; retry next minute.",
                               retry_after=wait)
        return RateLimited(f"This key's limit of {key.rpm} requests per minute is used up; retry next minute.",
                           retry_after=wait)
