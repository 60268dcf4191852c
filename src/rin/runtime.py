"""The running gateway's request-time services: the parts that outlive a reload (transport,
ledger, budgets, keys, stored responses, shared state, cache, credentials) and what each request
asks of them: a key's admission, the budget gate, the price, and `finished`, once per request.

Which config and catalogue are served, and how a newer one is swapped in, is rin.generations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rin.access_log import AccessLog
from rin.budgets import Budgets, Hold
from rin.keys import KeyRing, KeyStore, VirtualKey
from rin.keys.limits import KeyLimits
from rin.config.paths import spill_dir
from rin.config.resolved import Config
from rin.cost import cost_of, price_for
from rin.credentials import Refresher
from rin.errors import RinError
from rin.generations import Generation, Generations
from rin.ledger import Ledger, utc_now
from rin.ledger.row import CostSource
from rin.router import RequestState, Router
from rin.store.responses import ResponseStore
from rin.telemetry import build_tracing
from rin.transport import Transport
from rin.types import ChatRequest, Deployment, Usage

if TYPE_CHECKING:
    from rin.cache import ResponseCache
    from rin.catalog.pending import PendingCatalog
    from rin.shared import SharedState

log = logging.getLogger("rin")


class Runtime:
    #: what is served now, and the budgets its requests reserve on: both swapped by `generations`
    gen: Generation
    budgets: Budgets

    def __init__(self, base: Config, transport: Transport | None = None, access_log: AccessLog | None = None) -> None:
        self.transport = transport or Transport()
        #: one line per request when the operator turned it on (rin serve --access-log), else None
        self.access_log = access_log
        self._background: set[asyncio.Task[None]] = set()
        self.ledger = None if base.general.disable_spend_logs else Ledger(
            base.general.database_url, flush_interval=base.general.proxy_batch_write_at,
            spill_dir=spill_dir(base.general))
        self.keys = KeyRing(KeyStore.from_url(base.general.database_url))
        #: the Responses API's stored responses (store: true), per caller, in the ledger's database
        self.responses = ResponseStore.from_url(base.general.database_url)
        #: cooldowns, budgets and rpm/tpm shared through Redis (router_settings.redis_host), else None
        self.shared = _shared_state(base)
        self.key_limits = KeyLimits(shared=self.shared.key_rates if self.shared else None)
        #: serves `base` (sets self.gen and self.budgets), then swaps in reloads and catalogue syncs
        self.generations = Generations(self, base)
        self.cache = _response_cache(self.config)
        self.listeners: list[Any] = []
        #: rin.telemetry.tracing.Tracing when traces are configured (fixed at startup), else None
        self.tracing = build_tracing(base.telemetry)
        #: Google / AWS / Entra ID credentials of the deployments, kept fresh off the request path
        self.credentials = Refresher()

    @property
    def config(self) -> Config:
        return self.gen.config

    @property
    def router(self) -> Router:
        return self.gen.router

    @property
    def pending_catalog(self) -> PendingCatalog | None:
        """The cached catalogue start-up left loading, else None (rin.catalog.pending)."""
        return self.generations.pending_catalog

    @property
    def sync_status(self) -> dict[str, Any]:
        """The last catalogue sync: state, models, synced_at, error (and the last diff's counts)."""
        return self.generations.sync_status

    async def reload(self) -> Config:
        """Loads the config file again and serves it (Generations.reload)."""
        return await self.generations.reload()

    async def sync_catalog(self) -> dict[str, Any]:
        """Fetches OpenRouter's model list now and serves it (Generations.sync_catalog)."""
        return await self.generations.sync_catalog()

    async def start(self) -> None:
        if credentials := self.gen.credentials():
            await self.credentials.prime(credentials)  # before serving: a first request finds tokens
            self.credentials.track(credentials)
        if self.ledger is not None:
            await self.ledger.start()
            await self.budgets.rebuild(self.ledger.spent_since, self.ledger.report)
        await self.responses.start()
        if self.config.general.master_key:
            await self.keys.start(interval=10.0)
            await self._seed_key_spend()
        if self.shared is not None:
            if self.ledger is not None:
                self.shared.budgets.refresh = self._reread_spend
            await self.shared.start()  # after the rebuild: seeds Redis from the ledger where it has nothing
        self.generations.start(self._spawn)

    async def close(self) -> None:
        """Flushes every pending spend row, then closes connections (SIGTERM / SIGINT path)."""
        for task in list(self._background):
            task.cancel()
        await self.credentials.close()
        if self.cache is not None:
            await self.cache.close()
        if self.shared is not None:
            await self.shared.close()
        await self.keys.close()
        await self.responses.close()
        if self.ledger is not None:
            await self.ledger.close()
        await self.transport.close()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.close)

    async def _reread_spend(self) -> None:
        """Every budget's spend from the ledger again (after Redis lost its data): this
        instance's own rows written first, then the database's figures, the fleet's where every
        instance writes the same database."""
        assert self.ledger is not None
        await self.ledger.flush()
        # the other instances write their rows every proxy_batch_write_at: wait for two of those,
        # so that what they answered just before Redis went is in the database too
        await asyncio.sleep(2 * self.config.general.proxy_batch_write_at + 0.05)
        await self.budgets.rebuild(self.ledger.spent_since, self.ledger.report)
        if self.config.general.master_key:
            await self._seed_key_spend()

    async def _seed_key_spend(self) -> None:
        """Each budgeted key's spend in its current window, from the ledger (before shared state
        starts: it seeds Redis from these where Redis has none)."""
        for key in self.keys.live():
            budget = self.budgets.key_budget(key)
            if budget is not None:
                with contextlib.suppress(RinError):
                    budget.spent = await self.keys.store.current_spend(key.key_hash)

    def admit_key(self, key: VirtualKey, req: ChatRequest) -> Awaitable[None] | None:
        """A virtual key's own limits: models and rpm / tpm (its budget is reserved with the
        others, per deployment, by `budget_gate`). An awaitable when Redis counts the key's rate."""
        req.api_key_hash = key.key_hash
        req.virtual_key = key
        return self.key_limits.admit(key, req.model)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def alert(self, budget: Any, cost: Decimal) -> None:
        """Posts a budget warning to general_settings.alert_webhook_url, off the request path."""
        url = self.config.general.alert_webhook_url
        if not url:
            return
        text = f"RIN budget warning: {budget.describe()}"
        payload = {"text": text, "scope": budget.scope, "spent": str(budget.spent), "limit": str(budget.limit),
                   "resets_at": budget.end.isoformat() if budget.end else None}
        self._spawn(self._post_alert(url, payload))

    async def _post_alert(self, url: str, payload: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(10):
                async with self.transport.session.post(url, json=payload) as resp:
                    if resp.status >= 300:
                        log.warning("budget alert webhook answered HTTP %d", resp.status)
        except Exception as exc:  # noqa: BLE001 - an alert must never hurt a request
            log.warning("budget alert webhook failed: %s", type(exc).__name__)

    def budget_gate(self, dep: Deployment, state: RequestState) -> RinError | None | Awaitable[RinError | None]:
        req = state.request
        hold = self.budgets.reserve(dep, req.user, req.body, req.body_size, state.hold, req.virtual_key,
                                    req.expected)
        if not isinstance(hold, (Hold, RinError)):  # shared budgets: an awaitable (cheaper test)
            return self._admit_later(hold, state)
        return _admit(hold, state)

    async def _admit_later(self, pending: Awaitable[Hold | RinError], state: RequestState) -> RinError | None:
        return _admit(await pending, state)

    def price(self, state: RequestState, usage: Usage | None) -> tuple[Decimal, CostSource]:
        dep = state.deployment or state.tried  # a failure's usage (if any) at the deployment that failed
        if dep is None:
            if usage is not None and usage.provider_cost is not None:
                return usage.provider_cost, "provider"
            return Decimal(0), "unpriced"
        gen = self.gen
        found = gen.prices.get(dep.id)
        if found is None:
            found = gen.prices[dep.id] = price_for(dep.model_name, dep, gen.config.general.model_cost,
                                                   gen.catalog.lookup if gen.catalog else None)
        prices, source = found
        if usage is None:
            return Decimal(0), source
        return cost_of(usage, prices, source, model=dep.label)

    def finished(
        self, state: RequestState, usage: Usage | None, status: str, error: RinError | None,
        priced: tuple[Decimal, CostSource] | None = None, cache_hit: str | None = None,
    ) -> None:
        """Called once per client request, whatever happened: books the cost on the budgets and
        writes one ledger row (never one per attempt)."""
        cost, source = priced or self.price(state, usage)
        req = state.request
        if req.virtual_key is not None:
            self.key_limits.used(req.virtual_key, usage.total_tokens if usage is not None else 0)
        self.budgets.settle(state.hold, state.deployment or state.tried, req.user, cost, req.virtual_key)
        state.hold = None
        if state.deployment is not None and usage is not None:  # tpm: tokens are known only now
            self.router.stats.add_tokens(state.deployment.id, usage.total_tokens or usage.prompt_tokens
                                         + usage.completion_tokens)
        if self.ledger is not None:
            dep = state.deployment or state.tried  # a failed request names the deployment it tried last
            u = usage or Usage()
            # a cache hit names the deployment whose stored answer it replayed
            provider, _, provider_model = (cache_hit or "").partition("/")
            # the row's values in COLUMNS order, built without a SpendRow: this runs on every request
            # (tests/ledger/test_row_values.py pins the order against SpendRow)
            self.ledger.record_values((
                req.request_id,
                utc_now(),
                state.model_group or req.model,
                req.model,
                dep.provider if dep else provider or None,
                dep.provider_model if dep else provider_model or None,
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens or u.prompt_tokens + u.completion_tokens,
                cost,
                source,
                status,
                len(state.attempts),
                state.fallback_from,
                cache_hit is not None,
                req.stream,
                round((time.perf_counter() - state.started) * 1000, 3),
                req.user,
                req.api_key_hash,
                dep.id if dep else None,
                type(error).__name__ if error else None,
                u.cached_tokens,
                u.reasoning_tokens,
                req.endpoint,
                *_billed(u),
            ))
        if req.trace is not None:
            req.trace.finish(state, usage, status, error, cost, source, cache_hit)
        if self.access_log is not None:
            self.access_log.write(state, usage, status, error, cost, cache_hit)
        for listener in self.listeners:
            listener(state, usage, status, error)


_NOT_BILLED: tuple[None, None] = (None, None)


def _billed(usage: Usage) -> tuple[float | None, str | None]:
    """The row's (billed_quantity, billed_unit): the media quantity the usage carries, if any."""
    if usage.seconds > 0:
        return float(usage.seconds), "seconds"
    if usage.characters > 0:
        return float(usage.characters), "characters"
    if usage.images > 0:
        return float(usage.images), "images"
    if usage.search_units > 0:
        return float(usage.search_units), "search_units"
    return _NOT_BILLED


def _admit(hold: Hold | RinError, state: RequestState) -> RinError | None:
    if isinstance(hold, RinError):
        state.hold = None
        state.budget_refusals += 1
        return hold
    state.hold = hold
    return None


def _shared_state(config: Config) -> SharedState | None:
    """The state shared through Redis when `router_settings.redis_host` asks for it (rin.shared,
    its scripts and Redis clients are imported only then)."""
    if not config.router.redis_host:
        return None
    from rin.shared import SharedState

    return SharedState.connect(config.router)


def _response_cache(config: Config) -> ResponseCache | None:
    """The response cache when `litellm_settings.cache` is on (rin.cache is imported only then)."""
    if not config.litellm.cache:
        return None
    from rin.cache import build_cache

    return build_cache(config.litellm, config.router)

