"""The exact-match response cache (see ARCHITECTURE.md for where it sits in the request flow).

    controls = cache.controls(body, cache_control_header)      # InvalidRequest on bad values
    key = cache.key(cache_scope(key_hash, user), requested_group, body, controls)
    hit = await cache.lookup(key)                              # None: go to the router
    ...
    if cacheable(200, complete):
        await cache.store(key, CachedAnswer.from_json(...))   # refuses a fallback's answer

Backends: `LocalCache` (in-process LRU bounded in bytes) and `RedisCache` (shared, with a circuit
breaker and a local fallback). Keys in keys.py, per-request controls in control.py, the stored form
in entry.py, config in settings.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rin.cache.control import CacheControl, parse_controls
from rin.cache.entry import CachedAnswer, StreamRecorder
from rin.cache.keys import cache_key, cache_scope
from rin.cache.local import LocalCache
from rin.cache.redis_cache import RedisCache
from rin.cache.settings import CacheSettings, cache_settings
from rin.config.resolved import LiteLLMSettings, RouterSettings

__all__ = [
    "CacheControl", "CacheKey", "CacheSettings", "CachedAnswer", "LocalCache", "RedisCache", "ResponseCache",
    "StreamRecorder", "build_cache", "cache_key", "cache_scope", "cache_settings", "cacheable",
    "parse_controls",
]

log = logging.getLogger("rin.cache")


class Backend(Protocol):
    async def get(self, key: str) -> CachedAnswer | None: ...
    async def set(self, key: str, answer: CachedAnswer, ttl: float) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CacheKey:
    """A request's cache key, with what `store` must check: the group asked for and the controls."""

    value: str
    model_group: str
    control: CacheControl


def cacheable(status: int, answer_complete: bool) -> bool:
    """Only whole successful answers: never an error, never a stream that broke or was cut off."""
    return 200 <= status < 300 and answer_complete


class ResponseCache:
    def __init__(
        self,
        backend: Backend,
        *,
        ttl: float = 600.0,
        namespace: str | None = None,
        default_on: bool = True,
        max_entry_bytes: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.ttl = ttl
        self.namespace = namespace
        self.default_on = default_on
        #: the largest answer stored (a stream recorder gives up past it)
        self.max_entry_bytes = max_entry_bytes
        self._clock = clock
        self.hits = 0
        self.misses = 0
        self.stale = 0
        self.stored = 0
        self.refused = 0

    def scope(self, key_hash: str | None, user: str | None) -> str:
        """The caller part of a key (cache_scope): callers never share each other's answers."""
        return cache_scope(key_hash, user)

    def json_answer(self, body: bytes, usage: Any, deployment: str, model_group: str) -> CachedAnswer:
        """What `store` keeps of a whole JSON answer."""
        return CachedAnswer.from_json(body, usage, deployment, model_group)

    def controls(self, body: dict[str, Any], cache_control: str | None = None) -> CacheControl:
        return parse_controls(body, cache_control, self.default_on)

    def key(self, scope: str, model_group: str, body: dict[str, Any], control: CacheControl) -> CacheKey:
        """`model_group` is the group the client asked for (never a fallback's)."""
        value = cache_key(scope, model_group, body, control.namespace or self.namespace)
        return CacheKey(value, model_group, control)

    async def lookup(self, key: CacheKey) -> CachedAnswer | None:
        """The stored answer, or None (no-cache, a miss, or older than s-maxage). A local hit is the
        stored object itself, shared by every request that hits it: read it, never change it."""
        if not key.control.read:
            return None
        answer = await self.backend.get(key.value)
        if answer is None:
            self.misses += 1
            return None
        max_age = key.control.max_age
        if max_age is not None and self._clock() - answer.created_at > max_age:
            self.stale += 1
            self.misses += 1
            return None
        self.hits += 1
        return answer

    async def store(self, key: CacheKey, answer: CachedAnswer, ttl: float | None = None) -> bool:
        """Stores `answer` under `key` unless the request said no-store, the answer came from
        another model group than the key's (a fallback), or it is too big. True when stored."""
        if not key.control.write:
            return False
        if answer.model_group != key.model_group or answer.nbytes > self.max_entry_bytes:
            self.refused += 1
            return False
        answer.created_at = self._clock()
        await self.backend.set(key.value, answer, ttl or key.control.ttl or self.ttl)
        self.stored += 1
        return True

    def recorder(self) -> StreamRecorder:
        """A fresh recorder for one stream's payloads, bounded by max_entry_bytes."""
        return StreamRecorder(self.max_entry_bytes)

    def stats(self) -> dict[str, Any]:
        return {
            "hits": self.hits, "misses": self.misses, "stale": self.stale, "stored": self.stored,
            "refused": self.refused, "backend": self.backend.stats(),
        }

    async def close(self) -> None:
        await self.backend.close()


def build_cache(
    litellm: LiteLLMSettings, router: RouterSettings, clock: Callable[[], float] = time.time
) -> ResponseCache | None:
    """The cache `litellm_settings.cache` asks for, or None. Raises ConfigError for bad cache_params."""
    settings = cache_settings(litellm, router)
    if settings is None:
        return None
    if settings.ignored:
        log.warning("cache: cache_params keys RIN does not use: %s", ", ".join(settings.ignored))
    local = LocalCache(settings.max_bytes, clock)
    backend: Backend = local
    if settings.type == "redis":
        backend = RedisCache(
            settings.host, settings.port, settings.password, db=settings.db, username=settings.username,
            socket_timeout=settings.socket_timeout, connect_timeout=settings.connect_timeout, fallback=local,
        )
    return ResponseCache(backend, ttl=settings.ttl, namespace=settings.namespace,
                         default_on=settings.default_on, max_entry_bytes=min(settings.max_bytes, 4 * 1024 * 1024),
                         clock=clock)
