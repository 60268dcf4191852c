"""Virtual keys in the ledger's database (`general_settings.database_url`), table `rin_keys`, through
the ledger backends' key methods. Engine failures arrive as LedgerUnavailable (503)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from rin.durations import window
from rin.errors import InvalidRequest
from rin.keys.model import VirtualKey, now_utc
from rin.ledger.engines import open_backend


class KeyBackend(Protocol):
    """What the store needs from an engine (`SqliteBackend`, `PostgresBackend`)."""

    label: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def key_insert(self, row: dict[str, Any]) -> bool: ...

    async def key_update(self, key_hash: str, changes: dict[str, Any]) -> bool: ...

    async def key_get(self, key_hash: str) -> dict[str, Any] | None: ...

    async def key_all(self) -> list[dict[str, Any]]: ...

    async def spent_by_key(self, since: datetime | None = None,
                           key_hash: str | None = None) -> dict[str, Decimal]: ...


def alias_taken(alias: str | None) -> InvalidRequest:
    return InvalidRequest(f"The key_alias {alias!r} already names a live key; pick another or revoke that one.",
                          param="key_alias", code="key_alias_taken")


class KeyStore:
    """put / update / get / all / revoke over `rin_keys`. Holds hashes, never keys."""

    def __init__(self, backend: KeyBackend) -> None:
        self.backend = backend

    @classmethod
    def from_url(cls, database_url: str) -> KeyStore:
        """A store with its own connection to the database (the ledger keeps its own)."""
        backend: Any = open_backend(database_url)
        return cls(backend)

    async def open(self) -> None:
        """Connects and applies migrations (creating rin_keys on a database that lacks it)."""
        await self.backend.open()

    async def close(self) -> None:
        await self.backend.close()

    async def put(self, key: VirtualKey) -> None:
        """Inserts a new key; InvalidRequest when its alias already names a live key."""
        if not await self.backend.key_insert(key.to_row()):
            raise alias_taken(key.alias)

    async def update(self, key_hash: str, **changes: Any) -> VirtualKey | None:
        """Changes the given VirtualKey fields; None when no such key. InvalidRequest when a new
        alias is taken."""
        current = await self.get(key_hash)
        if current is None:
            return None
        changed = current.with_changes(updated_at=now_utc(), **changes)
        before, row = current.to_row(), changed.to_row()
        columns = {c: row[c] for c in row if c == "updated_at" or row[c] != before[c]}
        if not await self.backend.key_update(key_hash, columns):
            if await self.backend.key_get(key_hash) is None:
                return None
            raise alias_taken(changed.alias)
        return changed

    async def get(self, key_hash: str) -> VirtualKey | None:
        row = await self.backend.key_get(key_hash)
        return VirtualKey.from_row(row) if row is not None else None

    async def all(self) -> list[VirtualKey]:
        """Every key, revoked ones included, oldest first."""
        return [VirtualKey.from_row(r) for r in await self.backend.key_all()]

    async def revoke(self, key_hash: str, when: datetime | None = None) -> VirtualKey | None:
        """Marks the key revoked (the row stays, for the spend history); None when no such key.
        Revoking twice keeps the first time."""
        current = await self.get(key_hash)
        if current is None or current.revoked_at is not None:
            return current
        moment = when or now_utc()
        await self.backend.key_update(key_hash, {"revoked_at": moment, "updated_at": moment})
        return current.with_changes(revoked_at=moment, updated_at=moment)

    async def spent_by_key(self, since: datetime | None = None) -> dict[str, Decimal]:
        """USD spent per key hash, from spend_log.api_key_hash."""
        return await self.backend.spent_by_key(since)

    async def spent(self, key_hash: str, since: datetime | None = None) -> Decimal:
        """USD spent by one key since `since` (all time when None)."""
        totals = await self.backend.spent_by_key(since, key_hash)
        return totals.get(key_hash, Decimal(0))

    async def current_spend(self, key_hash: str, now: datetime | None = None) -> Decimal:
        """USD spent by one key in its current budget window (all time without a window): what its
        max_budget is measured against, and a ready-made `spend_of` for the admin API."""
        key = await self.get(key_hash)
        if key is None or not key.budget_duration:
            return await self.spent(key_hash)
        return await self.spent(key_hash, since=window(key.budget_duration, now or now_utc())[0])
