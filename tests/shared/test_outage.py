"""Redis stopped, frozen and restarted under the shared state: a private redis-server on a free
port (never the shared one), the breaker on an injected clock. Nothing waits past the link's
budget; hard budgets refuse with a 503, soft ones count locally; it all resumes without a restart."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from rin.budgets import Budgets, Hold
from rin.errors import BudgetExceeded, ServiceUnavailable
from rin.shared import SharedState
from tests.cache.support import Clock, RedisServer
from tests.shared.support import budgets, config, private_server, router, settled, shared

pytestmark = pytest.mark.services


@pytest.fixture
def server() -> Iterator[RedisServer]:
    yield from private_server()


async def bounded_reserve(b: Budgets, state: SharedState) -> object:
    """A reserve that must be over within the link's budget (plus scheduling slack)."""
    started = time.perf_counter()
    async with asyncio.timeout(state.link.budget + 0.5):
        result = b.reserve(b.config.deployments[0], None, {}, 0, None)
        if inspect.isawaitable(result):
            result = await result
    assert time.perf_counter() - started < state.link.budget + 0.3
    return result


def shared_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rin.shared" and "redis" in r.getMessage()]


def test_redis_stopped_hard_budgets_refuse_then_recover(server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()

    async def run() -> None:
        state = shared("rin:", server.port, clock)
        b = budgets(config(), state)
        try:
            hold = await bounded_reserve(b, state)
            assert isinstance(hold, Hold)
            b.settle(hold, b.config.deployments[0], None, Decimal("0.05"))
            await settled(state)

            server.kill()
            for _ in range(4):  # two fail on the socket, then the open breaker refuses at once
                refused = await bounded_reserve(b, state)
                assert isinstance(refused, ServiceUnavailable) and refused.status == 503
                assert refused.message.startswith(f"budget state unavailable (Redis 127.0.0.1:{server.port}: ")
                assert "refusing rather than risking overspend" in refused.message
            assert state.link.breaker.is_open

            server.start()  # same port, empty: the window is seeded again from what this instance saw
            assert isinstance(await bounded_reserve(b, state), ServiceUnavailable)  # breaker still open
            clock.advance(5)
            await state.tick()  # the tick probes Redis: recovery needs no request
            assert not state.link.breaker.is_open
            again = await bounded_reserve(b, state)
            assert isinstance(again, Hold)
            assert server.client().hget(again.keys[0], "spent") == b"50000000"
        finally:
            await state.close()

    with caplog.at_level(logging.INFO, logger="rin.shared"):
        asyncio.run(run())
    lines = shared_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"shared state: redis unavailable (127.0.0.1:{server.port}: ")
    assert lines[0].endswith("hard budgets refuse requests")
    assert lines[1] == f"shared state: redis recovered (127.0.0.1:{server.port})"


def test_redis_frozen_nothing_hangs_and_soft_budgets_count_locally(server: RedisServer) -> None:
    clock = Clock()

    async def run() -> None:
        state, hard_state = shared("rin:", server.port, clock), shared("rin:", server.port, clock)
        soft = budgets(config(enforce_budget=False), state)  # soft: only counted
        hard = budgets(config(), hard_state)
        r = router(soft.config, state, Clock())
        dep = soft.config.deployments[0]
        try:
            first = await bounded_reserve(soft, state)
            assert isinstance(first, Hold) and first.keys
            server.freeze()  # the process stops; its sockets stay open and silent
            try:
                soft.settle(first, dep, None, Decimal("0.05"))  # sent: the frozen Redis runs it on thawing
                async with asyncio.timeout(state.link.budget + 1):
                    await settled(state)
                local = [await bounded_reserve(soft, state) for _ in range(3)]
                assert all(isinstance(h, Hold) and not h.keys for h in local)  # counted here
                assert isinstance(await bounded_reserve(hard, hard_state), ServiceUnavailable)
                started = time.perf_counter()
                r.cooldowns.record_failure(dep.id)  # routing never waits on Redis
                r.stats.start(dep.id)
                assert time.perf_counter() - started < 0.01
                for hold in local:
                    soft.settle(hold, dep, None, Decimal("0.05"))  # type: ignore[arg-type]
                async with asyncio.timeout(state.link.budget + 1):
                    await settled(state)
                assert soft.global_budget is not None and soft.global_budget.spent == Decimal("0.20")
                assert state.budgets.pending == {first.keys[0]: 200_000_000}  # 4 settles wait for Redis
            finally:
                server.thaw()
            clock.advance(5)
            await state.tick()  # the probe succeeds and replays the backlog
            assert state.budgets.backlog == {} and not state.link.breaker.is_open
            # the hard instance's refused reserve may have run on thawing: its release waits in
            # that instance's backlog, replayed by its own next tick
            await hard_state.tick()
            assert hard_state.budgets.backlog == {}
            # Redis ran the commands that timed out once it thawed; the replay of the same
            # settles booked nothing twice, and the holds it took meanwhile were given back
            assert server.client().hmget(first.keys[0], "spent", "reserved") == [b"200000000", b"0"]
            assert soft.global_budget.spent == Decimal("0.2")
        finally:
            await state.close()
            await hard_state.close()

    asyncio.run(run())


def test_spend_not_yet_booked_in_redis_still_counts_against_a_hard_budget(server: RedisServer) -> None:
    clock = Clock()

    async def run() -> None:
        state = shared("rin:", server.port, clock)
        b = budgets(config(max_budget=Decimal("0.10")), state)
        dep = b.config.deployments[0]
        try:
            hold = await bounded_reserve(b, state)
            server.kill()
            b.settle(hold, dep, None, Decimal("0.05"))  # type: ignore[arg-type]
            await settled(state)
            assert state.budgets.pending  # $0.05 this instance owes Redis
            server.start()  # empty, and the backlog has not been replayed yet
            clock.advance(5)
            assert isinstance(await bounded_reserve(b, state), Hold)  # 0.05 owed + 0.05 <= 0.10
            assert isinstance(await bounded_reserve(b, state), BudgetExceeded)  # a third $0.05 would overspend
            await state.tick()
            assert state.budgets.pending == {}
            assert server.client().hget(hold.keys[0], "spent") == b"50000000"  # type: ignore[union-attr]
        finally:
            await state.close()

    asyncio.run(run())
