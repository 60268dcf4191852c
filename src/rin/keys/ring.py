"""The keys the request path checks: an in-memory dict from SHA-256 to key, refreshed from the store.

A lookup hashes the whole presented token and does one dict lookup: no prefix match, no cache keyed
on part of a token. The dict compares hashes, not keys, so its timing can only tell an attacker how
much of SHA-256(guess) matches a stored hash, which gives no way to build a working key.

Changes made through this process (admin API) apply at once; changes from elsewhere (`rin keys`,
another worker or instance) arrive with the next refresh, every `interval` seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rin.errors import AuthenticationFailed
from rin.keys.model import VirtualKey, hash_key, now_utc
from rin.keys.store import KeyStore
from rin.ledger import LedgerUnavailable

log = logging.getLogger("rin.keys")


class KeyRing:
    def __init__(self, store: KeyStore, now: Callable[[], datetime] = now_utc) -> None:
        self.store = store
        self._now = now
        self._live: dict[str, VirtualKey] = {}
        # held across read-and-swap and across write-and-apply, so a refresh that read the
        # database before an admin change can't put the old version back afterwards
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._healthy = True

    def __len__(self) -> int:
        return len(self._live)

    def lookup(self, token: str) -> VirtualKey | None:
        """The live key whose full SHA-256 matches `token`; None when unknown, revoked or expired."""
        key = self._live.get(hash_key(token))
        if key is None or key.expired(self._now()):
            return None
        return key

    def authenticate(self, token: str) -> VirtualKey:
        """`lookup`, raising AuthenticationFailed (401) with a message that never echoes the token."""
        return self.authenticate_hash(hash_key(token))

    def authenticate_hash(self, key_hash: str) -> VirtualKey:
        """`authenticate` for a caller that already has the token's SHA-256 (hex)."""
        key = self._live.get(key_hash)
        if key is None:
            raise AuthenticationFailed("Invalid API key: use the gateway's master key or a virtual key.")
        if key.expires_at is not None and key.expired(self._now()):
            raise AuthenticationFailed("This virtual key has expired; ask an admin for a new one.",
                                       code="expired_key")
        return key

    def live(self) -> list[VirtualKey]:
        """The keys usable now (not revoked), as last loaded."""
        return list(self._live.values())

    def by_hash(self, key_hash: str) -> VirtualKey | None:
        """The live key with this hash as this process sees it (expired ones included)."""
        return self._live.get(key_hash)

    async def refresh(self) -> None:
        """Reloads every live key from the store; raises LedgerUnavailable and keeps the old view."""
        async with self._lock:
            keys = await self.store.all()
            self._live = {k.key_hash: k for k in keys if k.revoked_at is None}

    async def start(self, interval: float = 10.0) -> None:
        """Opens the store, loads the keys and refreshes every `interval` seconds. A database that
        is down now is not fatal: the master key still works and keys load once it is back."""
        try:
            await self.store.open()
            await self.refresh()
            log.info("virtual keys: %d live", len(self._live))
        except LedgerUnavailable as err:
            self._mark_down(err)
        self._task = asyncio.ensure_future(self._refresh_loop(interval))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.store.close()

    async def _refresh_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except LedgerUnavailable as err:
                self._mark_down(err)
                continue
            if not self._healthy:
                self._healthy = True
                log.warning("virtual keys: database back, %d live keys", len(self._live))

    def _mark_down(self, err: LedgerUnavailable) -> None:
        if self._healthy:
            self._healthy = False
            log.warning("virtual keys: can't read the key table, serving the last known keys: %s", err.message)

    async def create(self, key: VirtualKey) -> None:
        """Stores a new key and makes it usable here at once."""
        async with self._lock:
            await self.store.put(key)
            if key.revoked_at is None:
                self._live[key.key_hash] = key

    async def update(self, key_hash: str, **changes: Any) -> VirtualKey | None:
        """Changes a key in the store and here; None when there is no such key."""
        async with self._lock:
            key = await self.store.update(key_hash, **changes)
            if key is not None and key.revoked_at is None:
                self._live[key_hash] = key
            return key

    async def revoke(self, key_hash: str) -> VirtualKey | None:
        """Revokes a key in the store and stops it here at once; None when there is no such key."""
        async with self._lock:
            key = await self.store.revoke(key_hash, self._now())
            self._live.pop(key_hash, None)
            return key
