"""Shared budgets against the shared Redis on 127.0.0.1:6379 (each test under its own key prefix,
deleted afterwards): two instances are two BudgetStores on two connections, as two processes are."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis

from rin.budgets import Budgets, Hold
from rin.errors import BudgetExceeded
from rin.shared import SharedState
from rin.types import ChatRequest
from tests.shared.support import budgets, config, priced, settled, shared, unique_prefix

pytestmark = pytest.mark.services


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from unique_prefix()


def window_hash(prefix: str, scope: str = "global") -> dict[str, int]:
    client = redis.Redis("127.0.0.1", 6379, socket_timeout=2)
    try:
        [key] = [k for k in client.scan_iter(match=f"{prefix}budget:{scope}:*") if not k.endswith(b":holds")]
        return {k.decode(): int(v) for k, v in client.hgetall(key).items()}
    finally:
        client.close()


async def reserve(b: Budgets, previous: Hold | None = None, user: str | None = None) -> Hold | Exception:
    dep = b.config.deployments[0]
    result = b.reserve(dep, user, {}, 0, previous)
    return await result if inspect.isawaitable(result) else result  # type: ignore[return-value]


async def two(prefix: str, **general: object) -> tuple[SharedState, SharedState, Budgets, Budgets]:
    # a burst opens dozens of connections at once: on a busy CI machine a 0.25 s connect can miss,
    # which (correctly) fails hard budgets closed; these tests are about exact admission instead
    a, b = shared(prefix, connect_timeout=3.0), shared(prefix, connect_timeout=3.0)
    cfg = config(**general)
    return a, b, budgets(cfg, a), budgets(cfg, b)


def test_two_instances_admit_exactly_the_limit_under_a_concurrent_burst(prefix: str) -> None:
    async def run() -> None:
        a, b, ba, bb = await two(prefix)
        try:
            results = await asyncio.gather(*(reserve(ba if i % 2 else bb) for i in range(200)))
            holds = [r for r in results if isinstance(r, Hold)]
            assert len(holds) == 20  # $1.00 / $0.05
            assert all(isinstance(r, BudgetExceeded) for r in results if not isinstance(r, Hold))
            assert window_hash(prefix)["reserved"] == 1_000_000_000
            dep = ba.config.deployments[0]
            for i, hold in enumerate(holds):
                (ba if hold.budgets[0] is ba.global_budget else bb).settle(hold, dep, None, Decimal("0.05"))
            await settled(a)
            await settled(b)
            assert window_hash(prefix) == {"spent": 1_000_000_000, "reserved": 0, "alerted": 1}
            await b.budgets.sync()
            assert bb.global_budget is not None
            assert (bb.global_budget.spent, bb.global_budget.reserved) == (Decimal("1"), Decimal(0))
            refused = await reserve(ba)
            assert isinstance(refused, BudgetExceeded) and "global budget" in refused.message
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_reservations_round_up_and_costs_round_to_the_nearest_nano_dollar(prefix: str) -> None:
    async def run() -> None:
        state = shared(prefix)
        b = budgets(config([priced(per_request="0.0000000001")]), state)  # a tenth of a nano-dollar
        try:
            hold = await reserve(b)
            assert isinstance(hold, Hold) and hold.nanos == 1
            assert window_hash(prefix)["reserved"] == 1
            b.settle(hold, b.config.deployments[0], None, Decimal("0.0000000014"))
            await settled(state)
            assert window_hash(prefix) == {"spent": 1, "reserved": 0}
            second = await reserve(b)
            b.settle(second, b.config.deployments[0], None, Decimal("0.0000000016"))  # type: ignore[arg-type]
            await settled(state)
            assert window_hash(prefix)["spent"] == 3
        finally:
            await state.close()

    asyncio.run(run())


def test_a_window_is_seeded_from_the_ledger_once_and_every_instance_agrees(prefix: str) -> None:
    async def ledger(value: str):  # type: ignore[no-untyped-def]
        async def spent_since(start: object, **kw: object) -> Decimal:
            return Decimal(value)

        async def report(*a: object) -> list[dict[str, object]]:
            return []

        return spent_since, report

    async def run() -> None:
        a, b, ba, bb = await two(prefix)
        try:
            await ba.rebuild(*await ledger("0.40"))
            await bb.rebuild(*await ledger("0.10"))  # its own ledger saw less
            await a.budgets.sync(users=True)
            await b.budgets.sync(users=True)
            assert window_hash(prefix)["spent"] == 400_000_000
            assert bb.global_budget is not None and bb.global_budget.spent == Decimal("0.4")
            holds = [await reserve(bb) for _ in range(13)]
            assert sum(isinstance(h, Hold) for h in holds) == 12  # 0.40 + 12 x 0.05 = 1.00
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_the_alert_fires_once_per_window_across_instances(prefix: str) -> None:
    async def run() -> None:
        a, b = shared(prefix), shared(prefix)
        cfg = config()
        alerts_a: list[object] = []
        alerts_b: list[object] = []
        ba, bb = budgets(cfg, a, alerts=alerts_a), budgets(cfg, b, alerts=alerts_b)
        dep = cfg.deployments[0]
        try:
            ba.settle(None, dep, None, Decimal("0.5"))
            await settled(a)
            bb.settle(None, dep, None, Decimal("0.35"))
            await settled(b)
            ba.settle(None, dep, None, Decimal("0.05"))
            await settled(a)
            assert alerts_a == [] and alerts_b == [("global", Decimal("0.35"))]
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_a_reload_keeps_the_shared_state_and_takes_the_new_limit(prefix: str) -> None:
    async def run() -> None:
        state = shared(prefix)
        old = budgets(config(), state)
        try:
            hold = await reserve(old)
            assert isinstance(hold, Hold) and hold.keys
            new = Budgets(config(max_budget=Decimal("2")), now=old.now)  # as Generations.swap builds it
            new.adopt(old)
            assert new.shared is state.budgets and state.budgets.owner is new
            more = [await reserve(new) for _ in range(40)]
            assert sum(isinstance(h, Hold) for h in more) == 39  # $2 now, one hold still in flight
            new.settle(hold, new.config.deployments[0], None, Decimal("0.05"))
            await settled(state)
            assert window_hash(prefix)["spent"] == 50_000_000
            assert window_hash(prefix)["reserved"] == 39 * 50_000_000
        finally:
            await state.close()

    asyncio.run(run())


def test_a_dead_instance_blocks_the_budget_for_one_lease_at_most(prefix: str) -> None:
    async def run() -> None:
        a, b, ba, bb = await two(prefix)
        a.budgets.lease = 0.3
        try:
            holds = [await reserve(ba) for _ in range(20)]
            assert all(isinstance(h, Hold) for h in holds)
            a.budgets.live.clear()  # instance A "dies": it never settles nor renews again
            assert isinstance(await reserve(bb), BudgetExceeded)
            await asyncio.sleep(0.4)
            assert isinstance(await reserve(bb), Hold)  # A's holds were swept
            assert window_hash(prefix)["reserved"] == 50_000_000
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_renewed_holds_outlive_the_lease(prefix: str) -> None:
    async def run() -> None:
        a, b, ba, bb = await two(prefix)
        a.budgets.lease = 0.4
        try:
            holds = [await reserve(ba) for _ in range(20)]
            for _ in range(3):
                await asyncio.sleep(0.2)
                await a.budgets.renew(force=True)
            assert isinstance(await reserve(bb), BudgetExceeded)
            assert len(holds) == 20
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_a_client_leaving_mid_reserve_leaves_nothing_held(prefix: str) -> None:
    async def run() -> None:
        state = shared(prefix)
        b = budgets(config(), state)
        try:
            for _ in range(5):
                task = asyncio.ensure_future(reserve(b))
                await asyncio.sleep(0)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            await asyncio.sleep(0.2)
            await settled(state)
            assert window_hash(prefix).get("reserved", 0) == 0
            assert state.budgets.live == {}
        finally:
            await state.close()

    asyncio.run(run())


def test_moving_to_the_next_deployment_releases_the_previous_hold_in_the_same_call(prefix: str) -> None:
    async def run() -> None:
        state = shared(prefix)
        b = budgets(config(), state)
        try:
            first = await reserve(b)
            second = await reserve(b, previous=first)  # type: ignore[arg-type]
            assert isinstance(second, Hold)
            assert window_hash(prefix)["reserved"] == 50_000_000
        finally:
            await state.close()

    asyncio.run(run())


def test_no_budget_means_no_redis_call(prefix: str) -> None:
    state = shared(prefix, port=1)  # nothing listens there: a Redis call would fail
    b = budgets(config(max_budget=None), state)
    result = b.reserve(b.config.deployments[0], None, {}, 0, None)
    assert isinstance(result, Hold) and result.amount == 0
    b.settle(result, b.config.deployments[0], None, Decimal("0.05"))
    assert state.link.errors == 0


def test_user_budgets_are_shared_too(prefix: str) -> None:
    async def run() -> None:
        a, b, ba, bb = await two(prefix, max_budget=None, max_end_user_budget=Decimal("0.1"))
        try:
            assert isinstance(await reserve(ba, user="ann"), Hold)
            assert isinstance(await reserve(bb, user="ann"), Hold)
            refused = await reserve(ba, user="ann")
            assert isinstance(refused, BudgetExceeded) and "user ann" in refused.message
            assert isinstance(await reserve(bb, user="bob"), Hold)
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_requests_through_the_router_await_the_shared_gate(prefix: str) -> None:
    """The router's one change: a gate may return an awaitable."""
    from rin.router import RequestState, Router

    async def run() -> None:
        state = shared(prefix)
        b = budgets(config(), state)

        def gate(dep, st):  # type: ignore[no-untyped-def]
            async def admit():  # type: ignore[no-untyped-def]
                hold = await b.reserve(dep, None, {}, 0, st.hold)  # type: ignore[misc]
                if isinstance(hold, Hold):
                    st.hold = hold
                    return None
                return hold
            return admit()

        router = Router(b.config, budget_gate=gate)

        async def call(dep, timeout):  # type: ignore[no-untyped-def]
            return "ok"

        try:
            results = []
            for _ in range(21):
                st = RequestState(ChatRequest({}, "slow"))
                try:
                    results.append(await router.run(st, call))
                except BudgetExceeded:
                    results.append("refused")
            assert results.count("ok") == 20 and results[-1] == "refused"
        finally:
            await state.close()

    asyncio.run(run())
