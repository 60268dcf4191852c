"""Budgets that hold under concurrency: reserve the worst case before a call, settle to the real
cost after.

Scopes: global (`general_settings.max_budget`), per end user (`max_end_user_budget`), per
deployment (`litellm_params.max_budget`), per provider (`router_settings.provider_budget_config`)
and per virtual key (its `max_budget`, rin.keys). Global and user budgets warn at the alert threshold
and refuse only with `enforce_budget: true`; deployment and provider budgets always make the router
move down the fallback chain; a key's budget always refuses.

Windows are aligned (rin.durations), so a restarted gateway finds the same window and rebuilds it
from the ledger.

In one process, check-and-reserve is synchronous on the event loop, so it is atomic. With several
instances (`shared`: SharedBudgets, rin.shared.budgets.BudgetStore over Redis) `reserve` returns an
awaitable: one Lua call checks and holds every scope at once, and each `Budget` mirrors the fleet's
figures.
`settle` stays synchronous: its Redis write runs in a task the store owns.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from rin.config.resolved import Config
from rin.cost import estimate_max_cost, price_for
from rin.money import decimal_text
from rin.durations import EPOCH, window
from rin.errors import BudgetExceeded, RinError, ServiceUnavailable
from rin.redis_link import RedisUnavailable
from rin.types import Deployment, Usage

if TYPE_CHECKING:
    from rin.keys.model import VirtualKey

log = logging.getLogger("rin.budget")

_UNSEEN = object()


@dataclass(slots=True)
class Budget:
    scope: str  # "global", "user:<id>", "deployment:<id>", "provider:<name>", "key:<sha256>"
    label: str  # what an error message calls it
    limit: Decimal
    duration: str | None
    hard: bool  # refuse (True) or only warn (False)
    start: datetime = EPOCH
    end: datetime | None = None
    spent: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    alerted: bool = False

    def roll(self, now: datetime) -> None:
        if self.end is not None and now >= self.end:
            self.start, self.end = window(self.duration, now)
            self.spent = Decimal(0)
            self.alerted = False

    def describe(self) -> str:
        resets = f", resets {self.end.isoformat()}" if self.end else ""
        return f"{self.label}: spent ${self.spent:.6f} of ${format(self.limit, 'f')}{resets}"


def _carry(old: Budget, new: Budget) -> Budget:
    old.label, old.limit, old.hard = new.label, new.limit, new.hard
    if old.duration != new.duration:
        old.duration, old.start, old.end = new.duration, new.start, new.end
    return old


@dataclass(slots=True)
class Hold:
    """A request's reservation: the budgets it holds and how much. A hold in Redis also has its id,
    its amount in nano-dollars and the keys of the budget windows it is held on."""

    amount: Decimal
    budgets: list[Budget] = field(default_factory=list)
    id: str = ""
    nanos: int = 0
    keys: tuple[str, ...] = ()


class SharedBudgets(Protocol):
    """Budgets kept by every instance together; rin.shared.budgets.BudgetStore keeps them in Redis.
    Defined here so that the dependency goes one way: the store imports this module, never back."""

    def attach(self, owner: Budgets) -> None: ...

    async def reserve(self, budgets: list[Budget], amount: Decimal, previous: Hold | None) -> Hold | Budget:
        """Holds `amount` on every budget atomically (after releasing `previous`); the hold, or the
        first hard budget it would overrun. Raises RedisUnavailable."""
        ...

    def release(self, hold: Hold) -> None: ...

    def settle(self, hold: Hold | None, budgets: list[Budget], cost: Decimal) -> None: ...


class Budgets:
    def __init__(self, config: Config, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 alert: Callable[[Budget, Decimal], None] | None = None,
                 shared: SharedBudgets | None = None) -> None:
        self.config = config
        self.now = now
        self.alert = alert
        self.shared = shared
        #: prices of synced OpenRouter models (set by the runtime when a catalogue is loaded)
        self.catalog_lookup: Any = None
        #: deployment id -> its prices, looked up at its first reservation
        self._prices: dict[str, Any] = {}
        g = config.general
        self.threshold = Decimal(str(g.budget_alert_threshold))
        self.global_budget = (Budget("global", f"global budget ({g.budget_duration or 'no window'})",
                                     g.max_budget, g.budget_duration, g.enforce_budget)
                              if g.max_budget is not None else None)
        self.users: dict[str, Budget] = {}
        #: virtual keys' budgets by key hash, made on first use (rin.keys)
        self.keys: dict[str, Budget] = {}
        #: key hash -> the VirtualKey its budget was last brought in step with
        self._key_versions: dict[str, Any] = {}
        self.deployments: dict[str, Budget] = {}
        self.providers: dict[str, Budget] = {}
        for dep in config.deployments:
            if dep.max_budget is not None:
                self.deployments[dep.id] = Budget(
                    f"deployment:{dep.id}", f"budget of {dep.model_name} ({dep.label})",
                    dep.max_budget, dep.budget_duration, True)
        for name, spec in config.router.provider_budget_config.items():
            limit = spec.get("budget_limit")
            if limit is not None:
                self.providers[name] = Budget(f"provider:{name}", f"budget of provider {name}",
                                              Decimal(str(limit)), spec.get("time_period"), True)
        current = self.now()
        for budget in self.all():
            budget.start, budget.end = window(budget.duration, current)
        if shared is not None:
            shared.attach(self)

    def adopt(self, old: "Budgets") -> None:
        """Keeps the live state across a reload: a budget with the same scope stays the same
        object (requests in flight hold reservations on it), taking the new limit and window."""
        for table, previous in ((self.deployments, old.deployments), (self.providers, old.providers)):
            for scope, budget in list(table.items()):
                if scope in previous:
                    table[scope] = _carry(previous[scope], budget)
        if self.global_budget is not None and old.global_budget is not None:
            self.global_budget = _carry(old.global_budget, self.global_budget)
        self.keys, self._key_versions = old.keys, old._key_versions
        if self.config.general.max_end_user_budget is not None:
            for user, budget in old.users.items():
                budget.limit = self.config.general.max_end_user_budget
                budget.hard = self.config.general.enforce_budget
                self.users[user] = budget
        if self.shared is None and old.shared is not None:
            self.shared = old.shared
            self.shared.attach(self)

    def all(self) -> list[Budget]:
        out = [self.global_budget] if self.global_budget else []
        return (out + list(self.deployments.values()) + list(self.providers.values())
                + list(self.keys.values()) + list(self.users.values()))

    def user_budget(self, user: str | None) -> Budget | None:
        limit = self.config.general.max_end_user_budget
        if user is None or limit is None:
            return None
        budget = self.users.get(user)
        if budget is None:
            g = self.config.general
            budget = Budget(f"user:{user}", f"budget of user {user}", limit, g.budget_duration, g.enforce_budget)
            budget.start, budget.end = window(budget.duration, self.now())
            self.users[user] = budget
        return budget

    def key_budget(self, key: "VirtualKey | None") -> Budget | None:
        """The budget of a virtual key with a max_budget, kept in step with the key's current limit
        and window (an admin may change them while it is in use)."""
        if key is None or key.max_budget is None:
            return None
        budget = self.keys.get(key.key_hash)
        if budget is not None and self._key_versions.get(key.key_hash) is key:
            return budget  # the same key object as last time: nothing about it changed
        self._key_versions[key.key_hash] = key
        label = f"budget of key '{key.alias or key.preview}'"
        if budget is None:
            budget = Budget(f"key:{key.key_hash}", label, key.max_budget, key.budget_duration, True)
            budget.start, budget.end = window(budget.duration, self.now())
            self.keys[key.key_hash] = budget
        elif budget.limit != key.max_budget or budget.duration != key.budget_duration or budget.label != label:
            fresh = Budget(budget.scope, label, key.max_budget, key.budget_duration, True)
            fresh.start, fresh.end = window(fresh.duration, self.now())
            _carry(budget, fresh)
        return budget

    def applicable(self, dep: Deployment, user: str | None, key: "VirtualKey | None" = None) -> list[Budget]:
        found = [self.global_budget, self.user_budget(user), self.deployments.get(dep.id),
                 self.providers.get(dep.provider), self.key_budget(key)]
        return [b for b in found if b is not None]

    def worst_case(self, dep: Deployment, body: dict[str, Any], body_size: int,
                   expected: Usage | None = None) -> Decimal:
        """`expected`: what a media request will be billed by, known before the call (rin.cost.
        estimate_max_cost); its prompt / completion tokens, when set, replace the estimates from
        the body (an upload's size says little about its tokens)."""
        prices = self._prices.get(dep.id, _UNSEEN)
        if prices is _UNSEEN:  # once per deployment: this Budgets lives as long as its config
            prices = self._prices[dep.id] = price_for(dep.model_name, dep, self.config.general.model_cost,
                                                      self.catalog_lookup)[0]
        max_out = (expected.completion_tokens if expected is not None else 0) or body.get(
            "max_completion_tokens") or body.get("max_tokens") or dep.defaults.get(
            "max_tokens") or dep.info.max_output_tokens or 4096
        prompt = (expected.prompt_tokens if expected is not None else 0) or max(body_size // 4, 1)
        return estimate_max_cost(prices, prompt, int(max_out), expected=expected)

    def reserve(self, dep: Deployment, user: str | None, body: dict[str, Any], body_size: int,
                previous: Hold | None, key: "VirtualKey | None" = None,
                expected: Usage | None = None) -> Hold | RinError | Awaitable[Hold | RinError]:
        """Releases `previous`, then holds the worst-case cost of calling `dep` on every budget
        that applies, or returns the refusal of the first budget it would overrun. Shared budgets
        return an awaitable; while Redis is unavailable a hard budget refuses (503)."""
        budgets = self.applicable(dep, user, key)
        if not budgets:
            self.release(previous)
            return Hold(Decimal(0))
        amount = self.worst_case(dep, body, body_size, expected)
        now = self.now()
        for budget in budgets:
            budget.roll(now)
        tokens = expected is None  # a media request is billed by what it asks (seconds, images, ...)
        if self.shared is not None:
            return self._reserve_shared(budgets, amount, previous, tokens)
        self.release(previous)
        for budget in budgets:
            if budget.hard and budget.spent + budget.reserved + amount > budget.limit:
                return self._exceeded(budget, amount, tokens)
        return self._hold_locally(budgets, amount)

    async def _reserve_shared(self, budgets: list[Budget], amount: Decimal, previous: Hold | None,
                              tokens: bool) -> Hold | RinError:
        assert self.shared is not None
        if previous is not None and not previous.keys:
            self.release(previous)
            previous = None
        try:
            held = await self.shared.reserve(budgets, amount, previous)
        except RedisUnavailable as err:
            if any(b.hard for b in budgets):
                return ServiceUnavailable(
                    f"budget state unavailable (Redis {err.where}: {err.reason}); "
                    "refusing rather than risking overspend. Retry shortly.")
            return self._hold_locally(budgets, amount)  # soft budgets only count: count here
        return held if isinstance(held, Hold) else self._exceeded(held, amount, tokens)

    @staticmethod
    def _exceeded(budget: Budget, amount: Decimal, tokens: bool = True) -> BudgetExceeded:
        held = f", ${budget.reserved:.6f} held by requests in flight" if budget.reserved > 0 else ""
        why, lower = ((" (its prompt and max_tokens of output, or the model's whole output limit without "
                       "max_tokens)", "Set a lower max_tokens, raise") if tokens else ("", "Raise"))
        return BudgetExceeded(
            f"Budget exhausted: {budget.describe()}{held}; this request could cost up to ${amount:.6f}{why}. "
            f"{lower} the limit, wait for the window to reset, or use a cheaper model.")

    @staticmethod
    def _hold_locally(budgets: list[Budget], amount: Decimal) -> Hold:
        for budget in budgets:
            budget.reserved += amount
        return Hold(amount, budgets)

    def release(self, hold: Hold | None) -> None:
        if hold is None:
            return
        if hold.keys:
            assert self.shared is not None
            self.shared.release(hold)
        else:
            for budget in hold.budgets:
                budget.reserved -= hold.amount
        hold.budgets = []

    def settle(self, hold: Hold | None, dep: Deployment | None, user: str | None, cost: Decimal,
               key: "VirtualKey | None" = None) -> None:
        """Releases the hold and books the real cost on the budgets of the deployment that answered."""
        budgets: list[Budget] = []
        if cost:
            budgets = self.applicable(dep, user, key) if dep is not None else [
                b for b in (self.global_budget, self.user_budget(user), self.key_budget(key)) if b is not None]
            now = self.now()
            for budget in budgets:
                budget.roll(now)
        if self.shared is None or hold is not None and not hold.keys:
            self.release(hold)
            hold = None
        if self.shared is None:
            self.book_locally(budgets, cost)
        else:
            self.shared.settle(hold, budgets, cost)

    def book_locally(self, budgets: list[Budget], cost: Decimal) -> None:
        """Adds `cost` to this process's figures (one process, or shared budgets while Redis is away)."""
        for budget in budgets:
            budget.spent += cost
            if not budget.alerted and budget.spent >= budget.limit * self.threshold:
                self.warn(budget, cost)

    def warn(self, budget: Budget, cost: Decimal) -> None:
        """The once-per-window warning at the alert threshold (80% by default)."""
        budget.alerted = True
        log.warning("budget: %s (%.0f%% used)", budget.describe(),
                    budget.spent / budget.limit * 100 if budget.limit else 100)
        if self.alert is not None:
            self.alert(budget, cost)

    def current(self, users: bool = True) -> list[Budget]:
        """Every budget (optionally without the per-user ones), rolled to the window of now."""
        now = self.now()
        out = [b for b in self.all() if users or not b.scope.startswith("user:")]
        for budget in out:
            budget.roll(now)
        return out

    async def rebuild(self, spent_since: Callable[..., Any], report: Callable[..., Any]) -> None:
        """Fills each window's spend from the ledger (at startup)."""
        if self.global_budget:
            self.global_budget.spent = await spent_since(self.global_budget.start)
        for dep_id, budget in self.deployments.items():
            budget.spent = await spent_since(budget.start, deployment_id=dep_id)
        for name, budget in self.providers.items():
            budget.spent = await spent_since(budget.start, provider=name)
        if self.config.general.max_end_user_budget is not None:
            start, _ = window(self.config.general.budget_duration, self.now())
            for row in await report("user", start):
                if row.get("user"):
                    self.user_budget(row["user"]).spent = Decimal(str(row["cost"]))  # type: ignore[union-attr]

    def snapshot(self) -> list[dict[str, Any]]:
        return [{"scope": b.scope, "limit": decimal_text(b.limit), "spent": decimal_text(b.spent),
                 "reserved": decimal_text(b.reserved),
                 "window_start": b.start.isoformat(), "resets_at": b.end.isoformat() if b.end else None,
                 "enforced": b.hard} for b in self.all()]
