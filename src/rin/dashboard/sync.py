"""The "Sync now" button: runs the runtime's catalogue sync (`runtime.sync_catalog`, OpenRouter's
model list) one run at a time, and shows `runtime.sync_status` cut down to what a page may show."""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

from rin.catalog import CatalogError
from rin.errors import InvalidRequest, ServiceUnavailable

#: per runtime, so tests running several gateways in one process don't share a lock
_locks: WeakKeyDictionary[Any, asyncio.Lock] = WeakKeyDictionary()


def summary(value: Any) -> dict[str, Any]:
    """Scalar fields only, collections as their size: a summary can't smuggle a structure out."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None or isinstance(item, bool | int | float | str):
            out[str(key)] = item
        elif isinstance(item, list | tuple | set | dict):
            out[str(key)] = len(item)
    return out


def status(runtime: Any) -> dict[str, Any]:
    """`{"available", "running", "state", "synced_at", "error", "facts"}`; facts are the counts of
    the last sync (models, added, removed, ...)."""
    facts = summary(getattr(runtime, "sync_status", None))
    state = facts.pop("state", None)
    lock = _locks.get(runtime)
    return {"available": callable(getattr(runtime, "sync_catalog", None)),
            "running": state == "syncing" or bool(lock and lock.locked()),
            "state": state, "synced_at": facts.pop("synced_at", None), "error": facts.pop("error", None),
            "facts": facts}


async def run(runtime: Any) -> dict[str, Any]:
    """Syncs now; returns `{"ok": true, "summary": {...}}` or raises the error the page shows."""
    sync = getattr(runtime, "sync_catalog", None)
    if not callable(sync):
        raise ServiceUnavailable("Catalogue sync is not available on this gateway.")
    lock = _locks.setdefault(runtime, asyncio.Lock())
    if lock.locked():
        raise InvalidRequest("A catalogue sync is already running; wait for it to finish.",
                             status=409, code="sync_in_progress")
    async with lock:
        try:
            result = await sync()
        except CatalogError as exc:
            raise ServiceUnavailable(f"Catalogue sync failed; the last good catalogue stays in use: {exc}") from None
    return {"ok": True, "summary": summary(result)}
