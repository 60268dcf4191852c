"""Budgets shared by every instance through Redis: the reserve -> settle protocol of rin.budgets,
each step one atomic Lua call over all the scopes it touches (keys and scripts: rin.shared.lua).

Money in Redis is integer nano-dollars: a reservation is rounded up (never holds less than the
worst case), a settled cost to the nearest nano-dollar (half-even), a limit down (never admits more
than it), a spent seed from the ledger to the nearest. The ledger keeps the exact Decimal.

What can go wrong, and what happens:
- Redis unreachable, slow or frozen: each call is bounded by the link's budget, the breaker opens,
  `reserve` raises RedisUnavailable (rin.budgets refuses hard budgets, counts soft ones locally).
  A settle that fails waits in the backlog and is replayed by the next tick once Redis answers
  (until then this instance's reserves count it as spent); a reserve that timed out is released
  then too. A frozen Redis runs the commands it received once it thaws:
  settles are idempotent (each leaves a mark for MARK seconds), releases are by hold id, so a
  replay never counts twice. Past MAX_BACKLOG waiting settles they are summed per window and lose
  that protection (a cost may then count twice: on the side of spending less, never more).
- An instance dies holding reservations: every hold has a lease, renewed by its instance every
  lease / 4 seconds, and swept out by the next script after it ends. A dead instance's holds block
  the budget for at most LEASE seconds, never for the rest of the window.
- Redis loses its data (a restart without persistence): noticed when Redis comes back after an
  outage, or when the instance's marker key is gone (each tick); reserves are refused (hard
  budgets) until the spend is read again from the ledger and the windows seeded from it, the first
  instance to write wins (`reseed`). With a database every instance writes (PostgreSQL, or the
  SQLite file of one instance's workers), the seed is the fleet's spend less the rows not yet
  written (about a tick's worth).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from rin.budgets import Budget, Budgets, Hold
from rin.redis_link import RedisLink, RedisUnavailable
from rin.redis_wire import Lua
from rin.shared import lua
from rin.shared.background import Background

log = logging.getLogger("rin.shared")

LEASE = 60.0  # seconds a hold outlives its instance's last renewal
MARK = 300.0  # seconds a settle is remembered, so that replaying it books nothing
MAX_HOLD_AGE = 3 * 3600.0  # a hold never settled (a bug) stops being renewed after this
MAX_BACKLOG = 10_000  # waiting settles kept one by one; past this they are summed per window
_NANO = Decimal("1e-9")
_BATCH = 100  # scripts per pipelined call


def nanos(usd: Decimal, rounding: str = ROUND_HALF_EVEN) -> int:
    return int((usd / _NANO).to_integral_value(rounding))


def usd(value: Any) -> Decimal:
    return Decimal(int(value)).scaleb(-9)


@dataclass(slots=True)
class Settle:
    """One settle (or, with no books, one release) as sent to Redis, kept until Redis has it."""

    id: str  # settle id: the hold's, or a fresh one ('' to only seed and read)
    hold: Hold | None  # the hold to release (only if held in Redis)
    books: list[Budget] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # their window keys, fixed when the cost arose
    expires: list[int] = field(default_factory=list)
    cost: int = 0  # nano-dollars booked on each


class BudgetStore:
    def __init__(self, link: RedisLink, prefix: str, background: Background,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.link = link
        self.prefix = prefix
        #: set once the windows in Redis hold the fleet's figures; gone when Redis loses its data.
        #: Reserves check it once this store has seen it (`marked`): a store never started doesn't
        self.marker = f"{prefix}alive"
        self.marked = False
        #: called when a reserve finds the marker gone (SharedState reads the budgets again)
        self.on_lost: Callable[[], None] | None = None
        self.background = background
        self.clock = clock
        self.owner: Budgets | None = None
        #: seconds a hold outlives its instance's last renewal
        self.lease = LEASE
        self._reserve = Lua(lua.RESERVE)
        self._settle = Lua(lua.SETTLE)
        self._renew = Lua(lua.RENEW)
        #: hold id -> (hold, when it was taken): the holds this instance renews
        self.live: dict[str, tuple[Hold, float]] = {}
        #: settles and releases Redis has not confirmed, by id
        self.backlog: dict[str, Settle] = {}
        #: window key -> nano-dollars of the backlog booked on it (kept out of seeds)
        self.pending: dict[str, int] = {}
        self._replaying = asyncio.Lock()
        #: settles waiting for the flusher, which sends them in pipelined batches
        self._queue: list[tuple[Settle, Decimal]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._renewed = clock()
        #: True from the moment Redis may have lost its data (it came back after an outage, or its
        #: marker key is gone) until the figures are read again from the ledger and re-seeded:
        #: meanwhile reserves raise RedisUnavailable (hard budgets refuse, as during the outage)
        self.stale = False
        #: reads every budget's spend from the ledger (set by the Runtime; None: no ledger)
        self.refresh: Callable[[], Any] | None = None

    def attach(self, owner: Budgets) -> None:
        """The Budgets whose figures this store keeps (the newest after a reload)."""
        self.owner = owner

    def key(self, budget: Budget) -> str:
        return f"{self.prefix}budget:{budget.scope}:{int(budget.start.timestamp())}"

    async def reserve(self, budgets: list[Budget], amount: Decimal, previous: Hold | None) -> Hold | Budget:
        """Releases `previous` and holds `amount` on every budget, atomically; returns the hold,
        or the first hard budget it would overrun. Raises RedisUnavailable."""
        if self.stale:
            raise RedisUnavailable(self.link.where, "Redis lost its data; budgets are being read again from the ledger")
        held = nanos(amount, ROUND_CEILING)
        hold = Hold(amount, budgets, secrets.token_hex(8), held, tuple(self.key(b) for b in budgets) if held else ())
        old = previous.keys if previous is not None else ()
        if previous is not None:
            self.live.pop(previous.id, None)
        args: list[Any] = [len(budgets), len(old), _member(hold), held, int(self.lease * 1000),
                           _member(previous), -previous.nanos if previous is not None else 0]
        for budget in budgets:
            limit = nanos(budget.limit, ROUND_FLOOR) if budget.hard else -1
            key = self.key(budget)
            # what this instance spent while Redis was away counts before the backlog reaches it
            args += [limit, self._seed(budget, key), _expires(budget), self.pending.get(key, 0)]
        keys = _pairs([self.key(b) for b in budgets]) + _pairs(old) + ([self.marker] if self.marked else [])
        try:
            reply = await self.link.call(lambda r: self.link.wire.run(self._reserve, keys, args))
        except RedisUnavailable as err:
            if err.attempted:  # Redis may still run it: release both holds once it answers
                for orphan in (hold, previous):
                    if orphan is not None and orphan.keys:
                        self._defer(Settle(orphan.id, orphan))
            raise
        except asyncio.CancelledError:
            # the client left while Redis was deciding; the script may run all the same. Whatever
            # it holds is given back: sent after it on the same connection, the release runs after it
            for orphan in (hold, previous):
                if orphan is not None and orphan.keys:
                    self.release(orphan)
            raise
        refused = int(reply[0])
        if refused < 0:  # Redis lost its data: nothing was held or seeded; read the ledger again
            self.stale = True
            if self.on_lost is not None:
                self.on_lost()
            raise RedisUnavailable(self.link.where, "Redis lost its data; budgets are being read again from the ledger")
        for i, budget in enumerate(budgets):
            budget.spent, budget.reserved = usd(reply[1 + 2 * i]), usd(reply[2 + 2 * i])
        if refused:
            return budgets[refused - 1]
        if held:
            self.live[hold.id] = (hold, self.clock())
        return hold

    def release(self, hold: Hold) -> None:
        """Gives a hold back without booking anything (off the request path)."""
        self.settle(hold, [], Decimal(0))

    def settle(self, hold: Hold | None, budgets: list[Budget], cost: Decimal) -> None:
        """Releases `hold` and books `cost` on `budgets`, off the request path: settles queue up
        and one task sends them, a pipelined batch per round trip. Never waits on Redis."""
        if hold is not None:
            self.live.pop(hold.id, None)
        remote = hold if hold is not None and hold.keys else None
        booked = nanos(cost)
        books = budgets if booked > 0 else []
        if remote is None and not books:
            return
        entry = Settle(remote.id if remote else secrets.token_hex(8), remote, books,
                       [self.key(b) for b in books], [_expires(b) for b in books], booked)
        self._queue.append((entry, cost))
        if self._flusher is None or self._flusher.done():
            self._flusher = self.background.spawn(self._flush())

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
            entries = [entry for entry, _ in batch]
            try:
                replies = await self.link.call(lambda r: self._pipelined(entries, alerts=True))  # noqa: B023
            except RedisUnavailable:
                for entry, cost in batch:
                    self._defer(entry)
                    if self.owner is not None and entry.books:
                        self.owner.book_locally(entry.books, cost)
                continue
            for (entry, cost), reply in zip(batch, replies):
                self._mirror(entry.books, reply, cost)

    async def _pipelined(self, entries: list[Settle], alerts: bool) -> list[Any]:
        """The SETTLE scripts of `entries` in one write (not a transaction: each is atomic)."""
        return await self.link.wire.run_many([self._settle_call(entry, alerts) for entry in entries])

    def _settle_call(self, entry: Settle, alerts: bool) -> tuple[Lua, list[str], list[Any]]:
        """The SETTLE script for `entry`: script, keys, arguments."""
        hold = entry.hold
        old = hold.keys if hold is not None else ()
        threshold = self.owner.threshold if self.owner is not None else Decimal("0.8")
        args: list[Any] = [len(old), len(entry.keys), _member(hold), -hold.nanos if hold is not None else 0,
                           entry.id if entry.books and entry.cost else "", int(MARK * 1000)]
        for budget, key, expires in zip(entry.books, entry.keys, entry.expires):
            alert_at = nanos(budget.limit * threshold, ROUND_CEILING) if alerts else -1
            args += [entry.cost, self._seed(budget, key), expires, alert_at]
        return self._settle, _pairs(old) + _pairs(entry.keys), args

    def _mirror(self, books: Sequence[Budget], reply: Any, cost: Decimal) -> None:
        for i, budget in enumerate(books):
            budget.spent, budget.reserved = usd(reply[3 * i]), usd(reply[3 * i + 1])
            if int(reply[3 * i + 2]) and self.owner is not None:
                self.owner.warn(budget, cost)  # this instance's settle crossed the threshold first

    def _seed(self, budget: Budget, key: str) -> int:
        """What a window's spent starts from when Redis has none: this instance's figure (the
        ledger's at startup) without what it still has to book there."""
        return max(0, nanos(budget.spent) - self.pending.get(key, 0))

    def _defer(self, entry: Settle) -> None:
        self.backlog[entry.id] = entry
        for key in entry.keys:
            self.pending[key] = self.pending.get(key, 0) + entry.cost
        if len(self.backlog) > MAX_BACKLOG:
            self._compact()

    def _compact(self) -> None:
        """One summed settle per window instead of one per request (releases: left to leases)."""
        summed: dict[str, Settle] = {}
        for entry in self.backlog.values():
            for budget, key, expires in zip(entry.books, entry.keys, entry.expires):
                into = summed.setdefault(key, Settle(secrets.token_hex(8), None, [budget], [key], [expires]))
                into.cost += entry.cost
        self.backlog = {entry.id: entry for entry in summed.values()}

    async def _replay(self, force: bool) -> None:
        """Sends the backlog, oldest first, in pipelined batches (one sender at a time)."""
        send = self.link.attempt if force else self.link.call
        async with self._replaying:
            while self.backlog:
                batch = list(self.backlog.values())[:_BATCH]
                await send(lambda r: self._pipelined(batch, alerts=False))  # noqa: B023
                for entry in batch:
                    if self.backlog.pop(entry.id, None) is None:
                        continue  # summed into another entry meanwhile (_compact)
                    for key in entry.keys:
                        left = self.pending.get(key, 0) - entry.cost
                        if left > 0:
                            self.pending[key] = left
                        else:
                            self.pending.pop(key, None)

    async def sync(self, users: bool = False, force: bool = False) -> None:
        """Replays the backlog, seeds every window Redis lacks (startup: from the ledger) and reads
        the fleet's figures back into each Budget; `force` tries even while the breaker is open.
        Raises RedisUnavailable."""
        await self._replay(force)
        if self.owner is None:
            return
        budgets = [b for b in self.owner.current() if users or not b.scope.startswith("user:")]
        send = self.link.attempt if force else self.link.call
        for start in range(0, len(budgets), _BATCH):
            chunk = budgets[start:start + _BATCH]
            read = Settle("", None, chunk, [self.key(b) for b in chunk], [_expires(b) for b in chunk])
            call = self._settle_call(read, alerts=False)
            self._mirror(chunk, await send(lambda r: self.link.wire.run(*call)), Decimal(0))  # noqa: B023

    async def reseed(self) -> None:
        """After Redis may have lost its data: this instance's figures are only what it last saw
        (stale when other instances or workers spent since), so the spend is read again from the
        ledger, which every instance sharing the database writes, before windows are seeded again
        (the first instance to write wins, each from the ledger). Raises RedisUnavailable."""
        self.stale = True
        if self.refresh is not None:
            await self.refresh()
        ledger = {self.key(b): nanos(b.spent) for b in self.owner.current()} if self.owner is not None else {}
        await self.sync(users=True, force=True)  # seeds what is missing; mirrors Redis's figures
        # a window another instance seeded first, from what it last saw, may be below the ledger:
        # raised to it (the ledger's rows are spent for sure; a settle counted twice errs low)
        if self.owner is not None:
            below = [(key, ledger[key] - nanos(b.spent)) for b in self.owner.current()
                     if (key := self.key(b)) in ledger and ledger[key] > nanos(b.spent)]
            for key, delta in below:
                await self.link.call(lambda r: r.hincrby(key, "spent", delta), timeout=2.0)  # noqa: B023
            if below:
                await self.sync(users=True, force=True)
        await self.link.call(lambda r: r.set(self.marker, "1"))  # reserves may trust these windows now
        self.stale, self.marked = False, True

    async def renew(self, force: bool = False) -> None:
        """Extends the leases of this instance's live holds (every lease / 4 seconds)."""
        now = self.clock()
        if not force and now - self._renewed < self.lease / 4:
            return
        keys: list[str] = []
        members: list[str] = []
        for hold_id, (hold, taken) in list(self.live.items()):
            if now - taken > MAX_HOLD_AGE:
                del self.live[hold_id]
                continue
            for key in hold.keys:
                keys.append(key + ":holds")
                members.append(_member(hold))
        for start in range(0, len(keys), 1000):
            k, m = keys[start:start + 1000], members[start:start + 1000]
            await self.link.call(lambda r: self.link.wire.run(self._renew, k, [int(self.lease * 1000), *m]))  # noqa: B023
        self._renewed = now

    async def drain(self, timeout: float) -> None:
        """At shutdown: waits for settles in flight, then sends the backlog if Redis answers."""
        await self.background.drain(timeout)
        if self.backlog:
            try:
                await self._replay(force=True)  # one last bounded try, even with the breaker open
            except RedisUnavailable as err:
                log.warning("shared state: %d budget updates could not reach Redis before exit (%s); "
                            "the ledger has every cost", len(self.backlog), err.reason)


def _pairs(keys: Sequence[str]) -> list[str]:
    return [k for key in keys for k in (key, key + ":holds")]


def _member(hold: Hold | None) -> str:
    return f"{hold.id}:{hold.nanos}" if hold is not None else ""


def _expires(budget: Budget) -> int:
    """Window keys outlive their window by an hour: late settles still find their holds."""
    return int((budget.end.timestamp() + 3600) * 1000) if budget.end is not None else 0
