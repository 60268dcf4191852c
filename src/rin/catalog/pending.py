"""The cached catalogue, read once the gateway is up rather than before it binds its socket
(parsing the real file of ~400 models took ~25 ms of start-up).

    Runtime.__init__   serves the config without the catalogue; `PendingCatalog.of` says a cached
                       file is waiting to be read
    Runtime.start      `load()` parses it in a worker thread and hands it to the runtime to swap in
    meanwhile          anything that could find a model the catalogue brings, or that lists models,
                       awaits `wait()` first: a few tens of milliseconds, once
    reload and sync    wait too before they swap, so what they serve, newer, is not undone by it
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from rin.catalog.expand import damaged_warning
from rin.catalog.model import Catalog, CatalogError
from rin.catalog.store import load_catalog
from rin.config.resolved import Config

log = logging.getLogger("rin.catalog")


class PendingCatalog:
    """A cached catalogue file not yet served."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._done = asyncio.Event()

    @classmethod
    def of(cls, config: Config) -> PendingCatalog | None:
        """One when `config` uses the catalogue and its cached file exists; None: nothing to wait for."""
        settings = config.catalog
        return cls(settings.path) if settings.enabled and settings.path.exists() else None

    async def load(self, serve: Callable[[Catalog], None]) -> None:
        """Parses the file in a worker thread and hands the catalogue to `serve`; a damaged file is
        logged and left out, as a startup that read it first would have. Wakes every waiter,
        whatever happened."""
        try:
            catalog = await asyncio.to_thread(load_catalog, self.path)
            if catalog is not None:  # the file went away meanwhile: no catalogue yet
                serve(catalog)
        except CatalogError as exc:
            log.warning("%s", damaged_warning(exc))
        finally:
            self._done.set()

    async def wait(self) -> None:
        """Returns once the catalogue is served, or will not be."""
        await self._done.wait()
