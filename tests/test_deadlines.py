"""rin.deadlines.timeout behaves as asyncio.timeout does (it only fires on a coarser timer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from rin.deadlines import timeout


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """On asyncio's own loop and on uvloop's (what `rin serve` runs)."""
    for runner in (asyncio.run, uvloop.run):
        runner(main())


def test_expired_block_raises_timeout_error() -> None:
    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with timeout(0.01):
                await asyncio.Event().wait()

    run(main)


def test_block_that_finishes_is_left_alone() -> None:
    async def main() -> None:
        async with timeout(30):
            await asyncio.sleep(0)
        await asyncio.sleep(0.12)  # past a few sweeps: no stray cancellation arrives later

    run(main)


def test_outside_cancellation_stays_a_cancellation() -> None:
    async def main() -> None:
        async def inner() -> None:
            async with timeout(30):
                await asyncio.Event().wait()

        task = asyncio.ensure_future(inner())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main)


def test_inner_timeout_fires_inside_an_outer_one() -> None:
    async def main() -> None:
        async with timeout(30):
            with pytest.raises(TimeoutError):
                async with timeout(0.01):
                    await asyncio.Event().wait()
            await asyncio.sleep(0)  # the outer block goes on, uncancelled

    run(main)


def test_many_concurrent_timeouts_expire_independently() -> None:
    async def main() -> None:
        async def waits(seconds: float, finish: bool) -> str:
            try:
                async with timeout(seconds):
                    if finish:
                        return "done"
                    await asyncio.Event().wait()
            except TimeoutError:
                return "timed out"
            return "unreachable"

        results = await asyncio.gather(*(waits(0.01, i % 2 == 0) for i in range(20)))
        assert results == ["done" if i % 2 == 0 else "timed out" for i in range(20)]

    run(main)
