"""Tasks the shared state runs off the request path, tracked so shutdown can wait for them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("rin.shared")


class Background:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            log.error("shared state: background task failed: %s: %s", type(err).__name__, err)

    async def drain(self, timeout: float) -> None:
        """Waits up to `timeout` seconds for the tasks running now."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
