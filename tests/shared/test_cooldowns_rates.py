"""Shared cooldowns and rpm/tpm against the shared Redis on 127.0.0.1:6379 (own key prefix per
test): two instances are two SharedStates bound to two Routers, each with its own clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from rin.config.resolved import Config, RouterSettings
from rin.router.cooldown import Cooldowns
from rin.router.strategy import over_limit
from rin.shared import SharedState
from rin.types import Deployment
from tests.cache.support import Clock
from tests.shared.support import router, shared, unique_prefix

pytestmark = pytest.mark.services


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from unique_prefix()


def cfg(**dep: object) -> Config:
    return Config(path=None, deployments=[Deployment("gpt", "openai", "m", "http://x/v1", "dep-1", **dep)],
                  router=RouterSettings(allowed_fails=2, cooldown_time=30))


async def until(check: Callable[[], object], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def started(prefix: str, config: Config) -> tuple[SharedState, Clock, object]:
    state, clock = shared(prefix), Clock()
    r = router(config, state, clock)
    await state.start()
    return state, clock, r


def test_a_breaker_opened_by_one_instance_cools_the_deployment_everywhere(prefix: str) -> None:
    async def run() -> None:
        a, clock_a, ra = await started(prefix, cfg())
        b, clock_b, rb = await started(prefix, cfg())
        try:
            ra.cooldowns.record_failure("dep-1")
            assert rb.cooldowns.cooling_until("dep-1") is None
            assert ra.cooldowns.record_failure("dep-1") == 30  # A's own breaker opens
            await until(lambda: rb.cooldowns.cooling_until("dep-1") is not None)
            assert 29 < rb.cooldowns.cooling_until("dep-1") - clock_b() <= 30  # on B's own clock
            c, clock_c, rc = await started(prefix, cfg())  # a later instance loads it at start
            try:
                assert 28 < rc.cooldowns.cooling_until("dep-1") - clock_c() <= 30
            finally:
                await c.close()
            clock_b.advance(30)
            assert rb.cooldowns.cooling_until("dep-1") is None  # and it ends on time
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_allowed_fails_counts_failures_on_every_instance(prefix: str) -> None:
    async def run() -> None:
        a, _, ra = await started(prefix, cfg())
        b, _, rb = await started(prefix, cfg())
        try:
            assert ra.cooldowns.record_failure("dep-1") == 0  # one failure here...
            await a.background.drain(2)
            assert rb.cooldowns.record_failure("dep-1") == 0  # ...and one there: 2 = allowed_fails
            await until(lambda: ra.cooldowns.cooling_until("dep-1") is not None
                        and rb.cooldowns.cooling_until("dep-1") is not None)
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_a_remote_cooldown_never_shortens_a_local_one() -> None:
    clock = Clock()
    cd = Cooldowns(clock, allowed_fails=1, cooldown_time=60)
    cd.record_failure("d")
    assert not cd.cool_until("d", clock() + 10)
    assert cd.cooling_until("d") == clock() + 60
    assert cd.cool_until("d", clock() + 90)
    assert cd.cooling_until("d") == clock() + 90
    assert not cd.cool_until("other", clock() - 1)  # already over


def test_rpm_is_counted_across_instances(prefix: str) -> None:
    async def run() -> None:
        config = cfg(rpm=3)
        dep = config.deployments[0]
        a, _, ra = await started(prefix, config)
        b, _, rb = await started(prefix, config)
        try:
            ra.stats.start(dep.id)
            ra.stats.start(dep.id)
            await a.background.drain(2)
            assert not over_limit(dep, rb.stats)  # B has not heard yet: decisions stay local
            rb.stats.start(dep.id)
            await b.background.drain(2)
            assert rb.stats.usage(dep.id)[0] == 3 and over_limit(dep, rb.stats)
            await a.tick()  # A hears at its next tick
            assert ra.stats.usage(dep.id)[0] == 3 and over_limit(dep, ra.stats)
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_tpm_is_batched_across_instances(prefix: str) -> None:
    async def run() -> None:
        config = cfg(tpm=1000)
        dep = config.deployments[0]
        a, _, ra = await started(prefix, config)
        b, _, rb = await started(prefix, config)
        try:
            ra.stats.add_tokens(dep.id, 700)
            rb.stats.add_tokens(dep.id, 200)
            await a.tick()
            await b.tick()
            await a.tick()
            assert ra.stats.usage(dep.id)[1] == 900 and rb.stats.usage(dep.id)[1] == 900
            rb.stats.add_tokens(dep.id, 100)
            assert over_limit(dep, rb.stats)
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_deployments_without_limits_cost_no_redis_call(prefix: str) -> None:
    async def run() -> None:
        a, _, ra = await started(prefix, cfg())
        try:
            errors, calls = a.link.errors, len(a.background.tasks)
            for _ in range(100):
                ra.stats.start("dep-1")
                ra.stats.end("dep-1", 0.1, tokens=10)
            assert len(a.background.tasks) == calls and a.link.errors == errors
            await a.tick()
            client = redis.Redis("127.0.0.1", 6379, socket_timeout=2)
            try:
                assert list(client.scan_iter(match=f"{prefix}rpm:*")) == []
                assert list(client.scan_iter(match=f"{prefix}tpm:*")) == []
            finally:
                client.close()
        finally:
            await a.close()

    asyncio.run(run())
