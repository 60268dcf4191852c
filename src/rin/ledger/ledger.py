"""The spend ledger. `record()` runs on the request path and only appends to memory (the row's values
as a plain tuple: `record_values()`, which the runtime calls without building a SpendRow); a writer task
writes batches (every `flush_interval` or `batch_size` rows) through a backend. While the database
can't be written, rows go to a local spill file every tick and are replayed when it returns, so an
outage, or a shutdown during one, loses nothing. One log line per state change, never one per row.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rin.ledger.backend import REPORT_BY, Backend, Filters, LedgerUnavailable, ReportBy, sqlite_path
from rin.ledger.engines import open_backend
from rin.ledger.row import SpendRow, Values
from rin.ledger.spill import Spill

log = logging.getLogger("rin.ledger")


class Ledger:
    """Durable, batched spend log. `start()` at startup, `close()` at shutdown (it flushes)."""

    def __init__(
        self,
        database_url: str,
        *,
        batch_size: int = 1000,
        flush_interval: float = 0.25,
        max_pending: int = 100_000,
        spill_dir: Path | str | None = None,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        busy_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend: Backend = open_backend(database_url, busy_timeout=busy_timeout,
                                              connect_timeout=connect_timeout)
        if spill_dir is None:
            db_path = sqlite_path(database_url)
            spill_dir = db_path.parent if db_path is not None else Path("data/litellm")
        self._spill = Spill(Path(spill_dir).absolute())
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        #: rows held in memory when even the spill file can't be written; past it the oldest go
        self._max_pending = max_pending
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._clock = clock
        self._pending: deque[Values] = deque()
        #: when the oldest row in `_pending` was recorded (None while it is empty)
        self._pending_since: float | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._healthy = True
        self._down_since = 0.0
        self._backoff = retry_initial
        self._retry_at = 0.0
        self._spilled_since: float | None = None
        self._spill_broken = False
        self._dropping = False
        self._late_rows = 0
        self._claim_orphans = True
        self._written = 0
        self._dropped = 0

    @property
    def label(self) -> str:
        """The database, password removed."""
        return self._backend.label

    @property
    def pending(self) -> int:
        """Rows recorded but not yet in the database (memory plus spill files)."""
        return len(self._pending) + self._spill.rows

    @property
    def spilled(self) -> int:
        return self._spill.rows

    @property
    def written_total(self) -> int:
        return self._written

    @property
    def dropped_total(self) -> int:
        """Rows lost because neither the database nor the spill file could take them."""
        return self._dropped

    @property
    def healthy(self) -> bool:
        """False from a failed write until the next successful one."""
        return self._healthy

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest row not yet in the database."""
        oldest = [t for t in (self._pending_since if self._pending else None,
                              self._spilled_since if self._spill.rows else None) if t is not None]
        return max(0.0, self._clock() - min(oldest)) if oldest else 0.0

    async def start(self) -> None:
        """Opens the database (migrations) and replays rows a previous run left on disk, before
        returning when the database is up, so `spent_since` sees them. A database that is down is
        not an error: rows wait, and writing resumes when it returns."""
        if self._task is not None:
            return
        try:
            await self._backend.open()
        except LedgerUnavailable as err:
            self._mark_down(err)
        await self._cycle(force=self._healthy)
        self._task = asyncio.create_task(self._run(), name="rin-ledger-writer")

    def record(self, row: SpendRow) -> None:
        """Queues one row: O(1), no I/O. Call it from the event loop's thread."""
        self.record_values(row.values())

    def record_values(self, values: Values) -> None:
        """`record` for a row already in tuple form (SpendRow's COLUMNS order, its types)."""
        if self._closed:
            self._record_after_close(values)
            return
        if not self._pending:
            self._pending_since = self._clock()
        self._pending.append(values)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> bool:
        """Writes everything queued now, without waiting for the next tick or the retry backoff.
        True when nothing is left unwritten."""
        return await self._cycle(force=True)

    async def close(self) -> None:
        """Stops the writer and flushes. Rows the database can't take now stay in the spill file
        and are written at the next start."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        # While the database is down, don't wait out another connect attempt: spill and go.
        if not await self._cycle(force=self._healthy):
            if self._pending:
                self._drop(len(self._pending), "the database and the spill directory are both unwritable")
            if self._spill.rows:
                log.warning("ledger: %d rows wait in %s; they are written at the next start",
                            self._spill.rows, self._spill.directory)
        await self._backend.close()
        await asyncio.to_thread(self._spill.close)
        self._closed = True

    async def logs(
        self,
        model: str | None = None,
        user: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        api_key_hash: str | None = None,
        endpoint: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows newest first; `start` inclusive, `end` exclusive. Raises LedgerUnavailable."""
        if limit < 0:
            raise ValueError("limit must be >= 0")
        filters = Filters(model=model, user=user, api_key_hash=api_key_hash, endpoint=endpoint, start=start, end=end)
        return await self._backend.logs(filters, limit)

    async def report(self, by: ReportBy, since: datetime | None = None) -> list[dict[str, Any]]:
        """Spend grouped by model, provider, day (UTC), user, key or endpoint; cost summed exactly as
        Decimal."""
        if by not in REPORT_BY:
            raise ValueError(f"report by {by!r}: expected one of {', '.join(REPORT_BY)}")
        return await self._backend.report(by, Filters(start=since))

    async def spent_since(
        self,
        since: datetime | None,
        *,
        model: str | None = None,
        provider: str | None = None,
        deployment_id: str | None = None,
        user: str | None = None,
    ) -> Decimal:
        """Exact USD written since `since` matching every filter given (to rebuild budget windows)."""
        filters = Filters(model=model, provider=provider, deployment_id=deployment_id, user=user, start=since)
        return await self._backend.spent(filters)

    async def _run(self) -> None:
        while not self._closing:
            try:
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closing or not (self._pending or self._spill.rows):
                continue
            try:
                await self._cycle()
            except Exception:
                # A bug must not stop the writer for good: rows would pile up unseen.
                log.exception("ledger: writer cycle failed")
                await asyncio.sleep(self._retry_max)

    async def _cycle(self, force: bool = False) -> bool:
        """One pass: write memory, then spill files; when the database refuses, move memory to disk."""
        async with self._lock:
            if not self._healthy and not force and self._clock() < self._retry_at:
                await self._spill_pending()
                return False
            try:
                wrote = await self._write_pending(None if force else len(self._pending)) + await self._replay_spill()
            except LedgerUnavailable as err:
                self._mark_down(err)
                await self._spill_pending()
                return False
            if wrote:
                self._mark_up()
            return not self._pending and not self._spill.rows

    async def _write_pending(self, limit: int | None) -> int:
        """Writes `limit` rows (None: until none are left). A tick writes only the rows it found:
        at a steady rate, rows keep arriving while a batch is written, and writing those too kept
        the writer committing a few rows at a time without pause (dozens of commits a second on the
        CPUs the event loop needs) instead of one batch a tick."""
        written = 0
        while self._pending and (limit is None or written < limit):
            began, queued = self._clock(), len(self._pending)
            size = self._batch_size if limit is None else min(self._batch_size, limit - written)
            batch = list(itertools.islice(self._pending, size))
            await self._backend.write(batch)
            for _ in batch:
                self._pending.popleft()
            if queued == len(batch):  # all that is left arrived during the write
                self._pending_since = began
            self._written += len(batch)
            written += len(batch)
        return written

    async def _replay_spill(self) -> int:
        """Writes the spill files' rows; returns how many."""
        written = 0
        try:
            if self._claim_orphans:
                if await asyncio.to_thread(self._spill.claim_orphans) and self._spilled_since is None:
                    self._spilled_since = self._clock()
                self._claim_orphans = False
            for source in self._spill.sources():
                batches = source.batches(self._batch_size)
                while (batch := await asyncio.to_thread(next, batches, None)) is not None:
                    await self._backend.write(batch)
                rows = source.rows
                await asyncio.to_thread(self._spill.replayed, source)
                self._written += rows
                written += rows
        except OSError as err:
            log.error("ledger: cannot read the spill files in %s (%s); retrying later", self._spill.directory, err)
            return written
        if not self._spill.rows:
            self._spilled_since = None
        return written

    async def _spill_pending(self) -> None:
        if not self._pending:
            return
        rows = list(self._pending)
        first = self._pending_since if self._pending_since is not None else self._clock()
        try:
            await asyncio.to_thread(self._spill.append, rows)
        except OSError as err:
            if not self._spill_broken:
                self._spill_broken = True
                log.error("ledger: cannot write the spill file in %s (%s); holding up to %d rows in memory",
                          self._spill.directory, err, self._max_pending)
            if len(self._pending) > self._max_pending:
                excess = len(self._pending) - self._max_pending
                for _ in range(excess):
                    self._pending.popleft()
                self._drop(excess, "the in-memory buffer is full")
            return
        self._spill_broken = self._dropping = False
        for _ in rows:
            self._pending.popleft()
        if self._spilled_since is None:
            self._spilled_since = first

    def _drop(self, count: int, why: str) -> None:
        if not self._dropping:
            self._dropping = True
            log.error("ledger: dropping spend rows: %s (%d so far; see dropped_total)", why, self._dropped + count)
        self._dropped += count

    def _mark_down(self, err: LedgerUnavailable) -> None:
        self._retry_at = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self._retry_max)
        self._claim_orphans = True
        if self._healthy:
            self._healthy = False
            self._down_since = self._clock()
            log.error("ledger: database unavailable: %s; rows wait in %s and writing is retried with backoff",
                      err.message, self._spill.directory)

    def _mark_up(self) -> None:
        self._backoff = self._retry_initial
        self._dropping = False
        if not self._healthy:
            self._healthy = True
            log.warning("ledger: database recovered after %.1fs: %s; buffered rows written",
                        self._clock() - self._down_since, self.label)

    def _record_after_close(self, row: Values) -> None:
        # Rare (a request finishing after shutdown began): a synchronous append beats losing it.
        try:
            self._spill.append([row])
            self._spill.close()  # unlocked, so the next start can claim it
        except OSError:
            self._drop(1, "it arrived after close() and the spill file is unwritable")
            return
        self._late_rows += 1
        if self._late_rows == 1:
            log.warning("ledger: rows arrived after close(); they are kept in %s for the next start",
                        self._spill.directory)
