"""Helpers for the scale-out tests: a unique key prefix on the shared Redis (deleted afterwards), a
private redis-server this test may stop or freeze, and budgets / routers built on either."""

from __future__ import annotations

import asyncio
import random
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


from rin.budgets import Budgets
from rin.config.resolved import Config, GeneralSettings, RouterSettings
from rin.router import Router
from rin.shared import SharedState, link
from rin.types import Deployment, ModelInfo
from tests.cache.support import Clock, RedisServer, claimed_keys
from tests.conftest import require_service

NOW = datetime.now(UTC)  # window keys expire an hour after their window: the test window must be current


def unique_prefix() -> Iterator[str]:
    """A key prefix of its own on the shared Redis at 127.0.0.1:6379, whose keys go afterwards."""
    prefix = f"rin-test-{uuid.uuid4().hex[:12]}:"
    for _ in claimed_keys(f"{prefix}*"):
        yield prefix


def private_server() -> Iterator[RedisServer]:
    require_service("Redis", shutil.which("redis-server") is not None, "redis-server is not on PATH")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


def shared(prefix: str, port: int = 6379, clock: Clock | None = None, **kw: Any) -> SharedState:
    """Shared state as `rin serve` builds it, but the breaker opens after 2 failures on `clock`, and
    the test ticks by hand."""
    kw.setdefault("failure_threshold", 2)
    return SharedState(link("127.0.0.1", port, clock=clock or Clock(), **kw), prefix, tick=3600)


def priced(name: str = "slow", model: str = "slow200", per_request: str = "0.05", **kw: Any) -> Deployment:
    return Deployment(name, "openai", model, "http://127.0.0.1:9/v1", f"{name}:{model}",
                      info=ModelInfo(cost_per_request=Decimal(per_request)), **kw)


def config(deps: list[Deployment] | None = None, **general: Any) -> Config:
    settings = {"max_budget": Decimal("1"), "budget_duration": "30d", "enforce_budget": True, **general}
    return Config(path=None, deployments=deps or [priced()], general=GeneralSettings(**settings),
                  router=RouterSettings(num_retries=0))


def budgets(cfg: Config, state: SharedState, now: datetime = NOW, alerts: list[Any] | None = None) -> Budgets:
    def alert(budget: Any, cost: Decimal) -> None:
        if alerts is not None:
            alerts.append((budget.scope, cost))

    return Budgets(cfg, now=lambda: now, alert=alert, shared=state.budgets)


def router(cfg: Config, state: SharedState, clock: Clock) -> Router:
    r = Router(cfg, clock=clock, rng=random.Random(1))
    state.bind(r)
    return r


async def settled(state: SharedState) -> None:
    """Waits for the settles this instance sent to Redis."""
    await state.background.drain(5)
    await asyncio.sleep(0)
