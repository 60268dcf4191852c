"""Which config and catalogue the gateway serves, and how a newer one takes its place.

    start-up   the config file expanded with the cached catalogue, or without it while that file
               is read off the critical path (rin.catalog.pending)
    reload     the config file read again (POST /reload, SIGHUP)
    sync       OpenRouter's model list fetched now: at start-up, then every `catalog.sync_interval`

Each builds a `Generation` (config, router, model list) and new `Budgets` that carry the old ones'
spend, and swaps both into the Runtime in one assignment; requests already running keep the
objects they started with.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rin.budgets import Budgets
from rin.catalog import Catalog, SyncError, expand, expand_cached, sync_catalog
from rin.catalog.pending import PendingCatalog
from rin.config.resolved import Config
from rin.model_list import model_list_body
from rin.providers import load_adapters
from rin.router import Router

if TYPE_CHECKING:
    from rin.runtime import Runtime

log = logging.getLogger("rin")


@dataclass(slots=True, frozen=True)
class Generation:
    """One config and what was built from it, swapped as a whole."""

    #: the config file as loaded, before the catalogue was applied (reload and sync start here)
    base: Config
    #: what is served: `base` expanded with the OpenRouter catalogue
    config: Config
    catalog: Catalog | None
    router: Router
    models_body: bytes
    #: deployment id -> (prices, source), looked up once per generation
    prices: dict[str, Any] = field(default_factory=dict)

    def credentials(self) -> list[Any]:
        """The credentials of the enabled deployments (Google, AWS, Entra ID), to keep fresh."""
        return [d.credential for deps in self.config.groups.values() for d in deps
                if d.credential is not None and d.enabled]


class Generations:
    """Serves `base` on `rt` at once (sets `rt.gen` and `rt.budgets`), then swaps in each newer
    generation: the only writer of those two."""

    def __init__(self, rt: Runtime, base: Config) -> None:
        self._rt = rt
        #: the cached catalogue while start() has it read off the critical path, else None
        self.pending_catalog = PendingCatalog.of(base)
        config, catalog = (expand(base, None), None) if self.pending_catalog else expand_cached(base)
        budgets = Budgets(config, alert=rt.alert, shared=rt.shared.budgets if rt.shared else None)
        budgets.catalog_lookup = catalog.lookup if catalog else None
        gen = self._build(base, config, catalog)
        if self.pending_catalog is not None:
            gen.router.upcoming = self._router_with_catalog
        rt.budgets, rt.gen = budgets, gen
        self.sync_status: dict[str, Any] = {"state": "idle", "models": len(catalog) if catalog else 0,
                                            "synced_at": _when(catalog), "error": None}

    def _build(self, base: Config, config: Config, catalog: Catalog | None,
               previous: Generation | None = None) -> Generation:
        load_adapters(dep.provider for dep in config.deployments if dep.enabled)
        rt = self._rt
        router = Router(config, budget_gate=rt.budget_gate, previous=previous.router if previous else None)
        if rt.shared is not None:
            rt.shared.bind(router)
        return Generation(base, config, catalog, router, model_list_body(config))

    def start(self, spawn: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        """Schedules the reading of the cached catalogue start-up left out, and the catalogue sync
        when the config asks for one at start-up."""
        if self.pending_catalog is not None:
            spawn(self._load_catalog(self.pending_catalog))
        config = self._rt.config
        settings = config.catalog
        if settings.enabled and settings.sync_on_startup and config.openrouter.api_key:
            spawn(self._sync_loop())

    def swap(self, base: Config, catalog: Catalog | None) -> None:
        """Serves `base` expanded with `catalog`, swapped in one assignment. Requests in flight
        finish on the generation they started with; budgets and deployment health carry over."""
        rt = self._rt
        config = expand(base, catalog)
        budgets = Budgets(config, alert=rt.alert)
        budgets.catalog_lookup = catalog.lookup if catalog else None
        budgets.adopt(rt.budgets)
        gen = self._build(base, config, catalog, rt.gen)
        rt.budgets, rt.gen = budgets, gen
        if credentials := gen.credentials():
            rt.credentials.track(credentials)

    async def reload(self) -> Config:
        """Loads the config file again and swaps it in; raises ConfigError and keeps serving the
        old one when the new one is invalid."""
        from rin.config import load_config

        rt = self._rt
        path = rt.gen.base.path
        if path is None:
            raise RuntimeError("this gateway was not started from a config file")
        base = await asyncio.to_thread(load_config, path)
        # the catalogue file too: `rin sync-models` may have refreshed it from another process
        _, catalog = await asyncio.to_thread(expand_cached, base)
        await rt.credentials.prime([d.credential for d in base.deployments if d.credential is not None])
        if (pending := self.pending_catalog) is not None:
            await pending.wait()  # served first, so this newer reload is what stays
        self.swap(base, catalog if catalog is not None else rt.gen.catalog)
        for warning in rt.config.warnings:
            log.warning("%s", warning)
        log.info("reload: %s now serves %d model groups", path, len(rt.config.groups))
        return rt.config

    async def sync_catalog(self) -> dict[str, Any]:
        """Fetches OpenRouter's model list now and serves it; the last good one stays on failure."""
        self.sync_status["state"] = "syncing"
        try:
            result = await sync_catalog(self._rt.gen.base, transport=self._rt.transport)
        except SyncError as exc:
            self.sync_status.update(state="failed", error=str(exc))
            raise
        if (pending := self.pending_catalog) is not None:
            await pending.wait()  # served first, so this newer catalogue is what stays
        self._serve_catalog(result.catalog)
        d = result.diff
        summary = {"models": len(result.catalog), "added": len(d.added), "removed": len(d.removed),
                   "price_changed": len(d.price_changed)}
        self.sync_status.update(state="ok", error=None, synced_at=_when(result.catalog), **summary)
        log.info("catalog: synced %d OpenRouter models (%d added, %d removed, %d price changes)",
                 summary["models"], summary["added"], summary["removed"], summary["price_changed"])
        return summary

    def _serve_catalog(self, catalog: Catalog) -> None:
        """Swaps in `catalog` with the config file as loaded, logging the warnings it brings."""
        rt = self._rt
        before = set(rt.config.warnings)
        self.swap(rt.gen.base, catalog)
        for warning in rt.config.warnings:
            if warning not in before:
                log.warning("%s", warning)
        self.sync_status.update(models=len(catalog), synced_at=_when(catalog))

    async def _load_catalog(self, pending: PendingCatalog) -> None:
        """Serves the cached catalogue startup left out (rin.catalog.pending)."""
        first = self._rt.gen.router
        await pending.load(self._serve_catalog)
        first.upcoming = self.pending_catalog = None

    async def _router_with_catalog(self) -> Router:
        """The router serving once the startup catalogue is in (Router.upcoming)."""
        if (pending := self.pending_catalog) is not None:
            await pending.wait()
        return self._rt.router

    async def _sync_loop(self) -> None:
        """Startup sync, retried with backoff, then every `catalog.sync_interval` if set."""
        backoff = 30.0
        while True:
            try:
                await self.sync_catalog()
                backoff = 30.0
                interval = self._rt.config.catalog.sync_interval
                if not interval:
                    return
                await asyncio.sleep(interval)
            except SyncError as exc:
                log.warning("catalog: sync failed, serving the last good catalogue; retrying in %.0fs: %s",
                            backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1800.0)


def _when(catalog: Catalog | None) -> str | None:
    return catalog.synced_at.isoformat() if catalog is not None and catalog.synced_at else None
