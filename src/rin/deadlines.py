"""`timeout(seconds)`: `asyncio.timeout` on one shared timer per event loop instead of one per use.

Every request arms two timeouts (its body's arrival, its upstream call) and a stream one per chunk.
Under uvloop, arming and cancelling a timer costs 3-7 µs (a libuv timer handle each time): about a
tenth of what RIN's own code adds to a request over the bare stack (bench/README.md, "Tail
latency"). Here a use costs a dict insert and delete; one timer per loop sweeps every TICK seconds
while timeouts are in use and stops when none are, so a timeout fires up to TICK late, never early.

Semantics are asyncio.timeout's: when the time is up the task is cancelled, and the block's
CancelledError becomes TimeoutError on the way out, unless someone else cancelled the task too.
"""

from __future__ import annotations

import asyncio
import weakref
from types import TracebackType

#: how often the shared timer looks for expired timeouts (the most a timeout fires late)
TICK = 0.05


class _Sweeper:
    """The timeouts in use on one event loop, and the timer that expires them."""

    __slots__ = ("active", "armed", "used")

    def __init__(self) -> None:
        self.active: dict[Timeout, None] = {}
        self.armed = False
        #: a timeout was entered since the last sweep: keep the timer going (the loop is busy)
        self.used = False

    def add(self, timeout: Timeout, loop: asyncio.AbstractEventLoop) -> None:
        self.active[timeout] = None
        self.used = True
        if not self.armed:
            self.armed = True
            loop.call_later(TICK, self.sweep, loop)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        expired = [t for t in self.active if t.when <= now]
        for t in expired:
            del self.active[t]
            t.expire()
        if self.active or self.used:
            self.used = False
            loop.call_later(TICK, self.sweep, loop)
        else:
            self.armed = False


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweeper] = weakref.WeakKeyDictionary()


class Timeout:
    """The async context manager `timeout` returns (one use only)."""

    __slots__ = ("delay", "when", "task", "cancelling", "expired", "sweeper")

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.expired = False

    async def __aenter__(self) -> Timeout:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("rin.deadlines.timeout() must be used inside a task")
        self.task = task
        self.cancelling = task.cancelling()
        self.when = loop.time() + self.delay
        sweeper = _sweepers.get(loop)
        if sweeper is None:
            sweeper = _sweepers[loop] = _Sweeper()
        self.sweeper = sweeper
        sweeper.add(self, loop)
        return self

    def expire(self) -> None:
        self.expired = True
        self.task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.sweeper.active.pop(self, None)
        if self.expired and self.task.uncancel() <= self.cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


def timeout(delay: float) -> Timeout:
    """Like `asyncio.timeout(delay)` (delay in seconds, not None), firing up to TICK seconds late."""
    return Timeout(delay)


async def cancel_and_wait(task: asyncio.Future[object] | None) -> None:
    """Cancels a background task and waits until it has ended (its cancellation swallowed); a
    task already done is only collected."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
