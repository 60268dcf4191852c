"""Stored Responses API responses (`store: true`, read back by id and by `previous_response_id`), in
the ledger's database, table `rin_responses`.

The request path never waits on the database: `put()` keeps the response in a bounded in-memory LRU
and queues it; a background task writes the queue in one batch every `flush_interval` and keeps the
table to the newest `max_stored` rows. Each response belongs to one caller (`owner`: a virtual key's
sha256, or "" for the master key and an open gateway); asking for someone else's looks exactly like
asking for one that doesn't exist. Engine failures on reads arrive as LedgerUnavailable (503);
failed writes stay queued and are retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from rin.ledger.backend import LedgerUnavailable
from rin.ledger.engines import open_backend
from rin.ledger.row import utc_now

log = logging.getLogger("rin.store")

#: one rin_responses row: id, owner, created_at (rin.ledger.row.utc_now), model, response, items
Row = tuple[str, str, str, str | None, bytes, bytes]


class ResponseBackend(Protocol):
    """What the store needs from an engine (`SqliteBackend`, `PostgresBackend`)."""

    label: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def response_put(self, rows: list[Row]) -> None: ...

    async def response_get(self, response_id: str, owner: str) -> tuple[bytes, bytes] | None: ...

    async def response_delete(self, response_id: str, owner: str) -> bool: ...

    async def response_prune(self, keep: int) -> int: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    owner: str
    created_at: str
    model: str | None
    response: bytes
    items: bytes

    @property
    def size(self) -> int:
        return len(self.response) + len(self.items) + 200  # the rest: an estimate of the overhead

    def decoded(self) -> tuple[dict[str, Any], list[Any]]:
        """Fresh objects on every read: a caller that edits them can't change what is stored."""
        return orjson.loads(self.response), orjson.loads(self.items)


class ResponseStore:
    """put (sync, no I/O) / get / delete over `rin_responses`. `await start()` at startup,
    `await close()` at shutdown (it flushes)."""

    def __init__(
        self,
        backend: ResponseBackend,
        *,
        max_stored: int = 10_000,
        max_entries: int = 1_000,
        max_bytes: int = 64 * 1024 * 1024,
        max_pending: int = 10_000,
        flush_interval: float = 0.25,
        prune_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.max_stored = max_stored
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._max_pending = max_pending
        self._flush_interval = flush_interval
        self._prune_interval = prune_interval
        self._clock = clock
        #: the LRU, most recently used last
        self._memory: OrderedDict[str, _Entry] = OrderedDict()
        self._memory_bytes = 0
        #: put but not yet written, oldest first
        self._pending: OrderedDict[str, _Entry] = OrderedDict()
        #: a write and a delete never interleave: a row deleted mid-write could come back
        self._lock = asyncio.Lock()
        #: bumped by every delete, so a read racing one doesn't put the row back in memory
        self._deletes = 0
        self._prune_at = clock()
        self._unpruned = False
        self._healthy = True
        self._dropping = False
        self._dropped = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_url(cls, database_url: str, **options: Any) -> ResponseStore:
        """A store with its own connection to the database (the ledger keeps its own)."""
        backend: Any = open_backend(database_url)
        return cls(backend, **options)

    @property
    def pending(self) -> int:
        """Responses put but not yet in the database."""
        return len(self._pending)

    @property
    def dropped_total(self) -> int:
        """Responses never written because the queue overflowed while the database was down."""
        return self._dropped

    async def start(self) -> None:
        """Connects, applies migrations and starts the writer. A database that is down is not an
        error here: writes wait in the queue and are retried."""
        if self._task is not None:
            return
        try:
            await self.backend.open()
        except LedgerUnavailable as err:
            self._mark_down(err)
        self._task = asyncio.create_task(self._run(), name="rin-response-store")

    def put(self, response_id: str, owner: str, model: str | None, response: dict[str, Any],
            items: list[Any]) -> None:
        """Stores a response: encodes it, keeps it in memory and queues it. No I/O."""
        if self._closed:
            log.warning("responses: %s was stored after close(); it is not written", response_id)
        entry = _Entry(owner, utc_now(), model, orjson.dumps(response), orjson.dumps(items))
        self._remember(response_id, entry)
        self._pending.pop(response_id, None)
        self._pending[response_id] = entry
        if len(self._pending) > self._max_pending:
            self._pending.popitem(last=False)
            self._dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("responses: more than %d wait for %s; dropping the oldest (see dropped_total)",
                            self._max_pending, self.backend.label)

    async def get(self, response_id: str, owner: str) -> tuple[dict[str, Any], list[Any]] | None:
        """(response, items), or None when there is no such response or it is someone else's.
        Raises LedgerUnavailable when it has to ask the database and can't."""
        entry = self._memory.get(response_id)
        if entry is not None:
            self._memory.move_to_end(response_id)
        else:
            entry = self._pending.get(response_id)
        if entry is not None:
            return entry.decoded() if entry.owner == owner else None
        deletes = self._deletes
        found = await self.backend.response_get(response_id, owner)
        if found is None:
            return None
        entry = _Entry(owner, "", None, *found)
        if deletes == self._deletes and response_id not in self._memory and response_id not in self._pending:
            self._remember(response_id, entry)
        return entry.decoded()

    async def find(self, response_id: str, owner: str) -> tuple[dict[str, Any], list[Any]] | None:
        """`get`, asking the database once more after a flush interval when it is not found: with
        several workers or instances, the one that answered the previous turn may not have written
        it yet (its writer runs every `flush_interval`). Only a miss pays the wait."""
        found = await self.get(response_id, owner)
        if found is None:
            await asyncio.sleep(self._flush_interval * 1.5)
            found = await self.get(response_id, owner)
        return found

    async def delete(self, response_id: str, owner: str) -> bool:
        """Removes the caller's response from memory, the queue and the database; False when there
        is no such response or it is someone else's. Raises LedgerUnavailable."""
        async with self._lock:
            entry = self._memory.get(response_id) or self._pending.get(response_id)
            if entry is not None and entry.owner != owner:
                return False
            self._deletes += 1
            self._forget(response_id)
            self._pending.pop(response_id, None)
            in_database = await self.backend.response_delete(response_id, owner)
            return entry is not None or in_database

    async def flush(self) -> bool:
        """Writes the queue now, in one batch. True when nothing is left unwritten."""
        async with self._lock:
            if not self._pending:
                return True
            batch = list(self._pending.items())
            try:
                await self.backend.response_put(
                    [(i, e.owner, e.created_at, e.model, e.response, e.items) for i, e in batch])
            except LedgerUnavailable as err:
                self._mark_down(err)
                return False
            for response_id, entry in batch:
                if self._pending.get(response_id) is entry:  # not put again during the write
                    del self._pending[response_id]
            self._unpruned = True
            self._dropping = False
            if not self._healthy:
                self._healthy = True
                log.warning("responses: %s is back; queued responses written", self.backend.label)
            return not self._pending

    async def prune(self) -> int:
        """Deletes all but the newest `max_stored` responses in the database; returns how many
        went. The writer calls it at most once per `prune_interval`, after writing."""
        self._prune_at = self._clock() + self._prune_interval
        try:
            gone = await self.backend.response_prune(self.max_stored)
        except LedgerUnavailable as err:
            log.warning("responses: pruning failed: %s; retrying later", err.message)
            return 0
        self._unpruned = False
        return gone

    async def close(self) -> None:
        """Stops the writer, writes what is queued and disconnects."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._task is not None:
            await self._task
        if not await self.flush():
            log.warning("responses: %d stored responses were lost: %s is unavailable",
                        len(self._pending), self.backend.label)
        await self.backend.close()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                async with asyncio.timeout(self._flush_interval):
                    await self._stop.wait()
            except TimeoutError:
                pass
            if self._stop.is_set():
                return
            try:
                await self.flush()
                if self._unpruned and self._clock() >= self._prune_at:
                    await self.prune()
            except Exception:
                # A bug must not stop the writer for good: responses would pile up unseen.
                log.exception("responses: writer cycle failed")

    def _remember(self, response_id: str, entry: _Entry) -> None:
        self._forget(response_id)
        self._memory[response_id] = entry
        self._memory_bytes += entry.size
        while self._memory and (len(self._memory) > self._max_entries or self._memory_bytes > self._max_bytes):
            _, oldest = self._memory.popitem(last=False)
            self._memory_bytes -= oldest.size

    def _forget(self, response_id: str) -> None:
        old = self._memory.pop(response_id, None)
        if old is not None:
            self._memory_bytes -= old.size

    def _mark_down(self, err: LedgerUnavailable) -> None:
        if self._healthy:
            self._healthy = False
            log.warning("responses: cannot write to the database: %s; responses wait in memory and are retried",
                        err.message)
