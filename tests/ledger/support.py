"""Helpers shared by the ledger tests: rows, waiting for the background writer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rin.ledger import SpendRow, iso_utc

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def row(i: int, **overrides: Any) -> SpendRow:
    values: dict[str, Any] = {
        "request_id": f"req-{i:06d}",
        "created_at": iso_utc(T0 + timedelta(seconds=i)),
        "model": "gpt-4o",
        "requested_model": "gpt-4o",
        "provider": "openai",
        "provider_model": "gpt-4o-2024-08-06",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost": Decimal("0.000075"),
        "cost_source": "builtin",
        "latency_ms": 12.5,
        "user": "alice",
        "deployment_id": "dep-a",
    }
    values.update(overrides)
    return SpendRow(**values)


async def eventually(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Polls until `condition()` holds: the writer runs on its own schedule."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def messages(caplog: Any, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rin.ledger" and needle in r.getMessage()]
