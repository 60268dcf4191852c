"""Routing: which deployment answers, retries, cooldowns and fallbacks — once, for every provider.

`Router.run(state, call)` walks the fallback chain of the requested model group; for each group it
tries the healthy deployments in strategy order, each up to `1 + num_retries` times, deciding from
the error class what happens next (see errors.py and ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rin.config.resolved import Config
from rin.errors import (
    CapabilityError,
    ContentPolicyViolation,
    ContextWindowExceeded,
    CredentialRefreshFailed,
    ModelNotFound,
    NoDeploymentAvailable,
    RinError,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from rin.params import request_needs
from rin.router.cooldown import Cooldowns
from rin.router.strategy import Stats, order, over_limit
from rin.types import ChatRequest, Deployment

log = logging.getLogger("rin.router")
T = TypeVar("T")

#: LiteLLM's retry_policy names for each error class
_POLICY_NAMES: list[tuple[type[UpstreamError], str]] = [
    (UpstreamRateLimited, "RateLimitErrorRetries"),
    (UpstreamTimeout, "TimeoutErrorRetries"),
    (UpstreamAuthError, "AuthenticationErrorRetries"),
    (ContentPolicyViolation, "ContentPolicyViolationErrorRetries"),
    (UpstreamBadRequest, "BadRequestErrorRetries"),
    (UpstreamError, "InternalServerErrorRetries"),
]


@dataclass(slots=True)
class Attempt:
    deployment: str
    model_group: str
    error: str | None
    status: int | None
    seconds: float


@dataclass(slots=True)
class RequestState:
    """What happened to one client request, for headers, logs and the ledger."""

    request: ChatRequest
    attempts: list[Attempt] = field(default_factory=list)
    deployment: Deployment | None = None
    #: the deployment of the latest attempt, answered or not: what a failed request's row names
    tried: Deployment | None = None
    model_group: str | None = None
    fallback_from: str | None = None
    #: the budget reservation currently held (rin.budgets.Hold)
    hold: Any = None
    started: float = field(default_factory=time.perf_counter)
    #: deployments the budget gate turned away (rin.runtime.budget_gate), for traces
    budget_refusals: int = 0
    #: the upstream's answer (ChatResult, or the open stream) once one came, for traces
    answer: Any = None


#: checks a deployment against budgets before a call; returns the refusal, or None to go ahead
#: (or an awaitable of either, when budgets are shared through Redis)
BudgetGate = Callable[[Deployment, RequestState], RinError | None | Awaitable[RinError | None]]


def _policy_name(err: UpstreamError) -> str:
    return next(name for cls, name in _POLICY_NAMES if isinstance(err, cls))


class Router:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        budget_gate: BudgetGate | None = None,
        previous: "Router | None" = None,
    ) -> None:
        self.config = config
        self.settings = config.router
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        if previous is not None:
            # a reload keeps what was learnt about deployment health and load
            self.stats, self.cooldowns = previous.stats, previous.cooldowns
            self.cooldowns.allowed_fails = self.settings.allowed_fails
            self.cooldowns.cooldown_time = self.settings.cooldown_time
            self.cooldowns.disabled = self.settings.disable_cooldowns
        else:
            self.stats = Stats(clock)
            self.cooldowns = Cooldowns(
                clock, self.settings.allowed_fails, self.settings.cooldown_time, self.settings.disable_cooldowns
            )
        self.budget_gate = budget_gate
        #: set while models may still arrive (the startup catalogue loading): waits for them and
        #: returns the router then serving; asked only for a model this one lacks
        self.upcoming: Callable[[], Awaitable[Router]] | None = None

    def chain(self, model: str) -> list[str]:
        """The requested group followed by its fallbacks (or the default fallbacks)."""
        fallbacks = self.settings.fallbacks.get(model)
        if fallbacks is None:
            fallbacks = self.settings.default_fallbacks
        out = [model]
        for name in fallbacks:
            if name not in out and len(out) <= self.settings.max_fallbacks:
                out.append(name)
        return out

    def retries_for(self, err: UpstreamError) -> int:
        return self.settings.retry_policy.get(_policy_name(err), self.settings.num_retries)

    def allowed_fails_for(self, err: UpstreamError) -> int | None:
        if isinstance(err, CredentialRefreshFailed):
            return 0  # no request can succeed until the background refresh does
        name = _policy_name(err).replace("Retries", "AllowedFails")
        return self.settings.allowed_fails_policy.get(name)

    async def run(
        self, state: RequestState, call: Callable[[Deployment, float], Awaitable[T]]
    ) -> T:
        """Calls `call(deployment, timeout)` until one succeeds, walking retries and fallbacks."""
        model = state.request.model
        if model not in self.config.groups:
            if self.upcoming is not None and (router := await self.upcoming()) is not self:
                return await router.run(state, call)
            raise ModelNotFound(
                f"The model '{model}' does not exist on this gateway. "
                "List the available models with GET /v1/models.",
                param="model",
            )
        deadline = self.clock() + self.settings.timeout
        chain = self.chain(model)
        switched: set[type[UpstreamError]] = set()
        failures: list[tuple[str, RinError]] = []
        last: RinError | None = None
        i = 0
        while i < len(chain):
            group = chain[i]
            if i > 0:
                reason = _describe(last) if last else "no deployment available"
                log.warning("fallback: %s -> %s (reason: %s)", chain[i - 1], group, reason,
                            extra={"request_id": state.request.request_id, "fallback_from": chain[i - 1],
                                   "fallback_to": group})
                state.fallback_from = state.fallback_from or model
            try:
                return await self._try_group(state, group, deadline, call)
            except (ContextWindowExceeded, ContentPolicyViolation) as err:
                table = (self.settings.context_window_fallbacks if isinstance(err, ContextWindowExceeded)
                         else self.settings.content_policy_fallbacks)
                targets = table.get(group) or table.get(model)
                if not targets or type(err) in switched:
                    raise
                switched.add(type(err))
                last = err
                chain = chain[: i + 1] + [t for t in targets if t not in chain[: i + 1]]
            except UpstreamBadRequest:
                raise
            except RinError as err:
                last = err
                failures.append((group, err))
            i += 1
        if failures and all(isinstance(e, NoDeploymentAvailable) for _, e in failures):
            detail = "; ".join(f"{g}: {e.message}" for g, e in failures)
            waits = [e.retry_after for _, e in failures if e.retry_after is not None]
            raise NoDeploymentAvailable(f"No deployment can serve '{model}' or its fallbacks. {detail}",
                                        retry_after=min(waits) if waits else None)
        assert last is not None
        raise last

    async def _try_group(
        self, state: RequestState, group: str, deadline: float,
        call: Callable[[Deployment, float], Awaitable[T]],
    ) -> T:
        deps = self.config.enabled(group)
        if not deps:
            reasons = "; ".join(sorted({d.disabled_reason or "" for d in self.config.groups.get(group, [])}))
            raise NoDeploymentAvailable(f"unavailable ({reasons or 'the group has no deployments'})")
        self._check_context(state.request, group, deps)
        deps = self._capable(state.request, group, deps)
        last: RinError | None = None
        cooling: list[tuple[Deployment, float]] = []
        for dep in order(deps, self.settings.routing_strategy, self.stats, self.rng):
            until = self.cooldowns.cooling_until(dep.id)
            if until is not None:
                cooling.append((dep, until))
                continue
            if over_limit(dep, self.stats):
                last = last or NoDeploymentAvailable(f"'{group}' has used its rpm/tpm limit for this minute.",
                                                     retry_after=60 - self.clock() % 60)  # Stats' minute
                continue
            if self.budget_gate is not None:
                refusal = self.budget_gate(dep, state)
                if refusal is not None and not isinstance(refusal, RinError):  # an awaitable
                    refusal = await refusal
                if refusal is not None:
                    last = refusal
                    continue
            try:
                return await self._try_deployment(state, group, dep, deadline, call)
            except UpstreamBadRequest:
                raise
            except RinError as err:
                last = err
        if last is None and cooling:
            now = self.clock()
            detail = ", ".join(f"{d.label} for {until - now:.0f}s more" for d, until in cooling)
            raise NoDeploymentAvailable(
                f"Every deployment of '{group}' is cooling down after repeated failures ({detail}); "
                "retry later or configure fallbacks.", retry_after=min(until for _, until in cooling) - now
            )
        assert last is not None
        raise last

    @staticmethod
    def _capable(req: ChatRequest, group: str, deps: list[Deployment]) -> list[Deployment]:
        """Leaves out deployments known to lack a capability the request uses (images, tools)."""
        if all(d.info.supports_vision is not False and d.info.supports_function_calling is not False
               for d in deps):
            return deps
        images, tools = request_needs(req)
        usable = [d for d in deps if not (images and d.info.supports_vision is False)
                  and not (tools and d.info.supports_function_calling is False)]
        if usable:
            return usable
        what = "images" if images and any(d.info.supports_vision is False for d in deps) else "tools"
        param = "messages" if what == "images" else "tools"
        raise CapabilityError(
            f"'{group}' does not accept {what}: remove them or pick a model whose capabilities "
            f"(GET /v1/models, rin.capabilities) include {'vision' if what == 'images' else 'function_calling'}.",
            param=param,
        )

    @staticmethod
    def _check_context(req: ChatRequest, group: str, deps: list[Deployment]) -> None:
        """Skips the call when the prompt clearly can't fit: ~4 bytes of JSON per token is an
        overestimate, so only a body well past every deployment's context window is refused."""
        windows = [d.info.context_length for d in deps]
        if not req.body_size or any(w is None for w in windows):
            return
        estimate = req.body_size // 4
        largest = max(w for w in windows if w is not None)
        if estimate > largest * 1.25:
            raise ContextWindowExceeded(
                f"The prompt (about {estimate} tokens) is far larger than the context window of "
                f"'{group}' ({largest} tokens): shorten it or pick a model with a larger context.",
                param="messages",
            )

    async def _try_deployment(
        self, state: RequestState, group: str, dep: Deployment, deadline: float,
        call: Callable[[Deployment, float], Awaitable[T]],
    ) -> T:
        attempt = 0
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise UpstreamTimeout(f"The request's deadline of {self.settings.timeout:g}s passed.")
            timeout = min(dep.timeout or self.settings.timeout, remaining)
            started = self.clock()
            state.tried = dep
            self.cooldowns.begin_attempt(dep.id)
            self.stats.start(dep.id)
            try:
                result = await call(dep, timeout)
            except UpstreamError as err:
                seconds = self.clock() - started
                self.stats.end(dep.id, None)
                state.attempts.append(Attempt(dep.label, group, type(err).__name__, err.upstream_status, seconds))
                if not err.counts_against_deployment:
                    raise
                cooled = self.cooldowns.record_failure(dep.id, self.allowed_fails_for(err), dep.cooldown_time)
                attempt += 1
                if cooled:
                    log.warning("cooldown: %s cooled for %gs after %s", dep.label, cooled, _describe(err),
                                extra={"request_id": state.request.request_id, "deployment": dep.label,
                                       "cooldown_s": cooled})
                    raise
                if not err.retryable or attempt > self.retries_for(err):
                    raise
                wait = self._backoff(err, attempt, deadline)
                if wait is None:
                    raise
                log.warning("retry: %s (%s) attempt %d after %s, waiting %.2fs",
                            group, dep.label, attempt + 1, _describe(err), wait,
                            extra={"request_id": state.request.request_id, "model": group,
                                   "deployment": dep.label, "attempt": attempt + 1, "wait_s": round(wait, 3)})
                await self.sleep(wait)
                if self.cooldowns.cooling_until(dep.id) is not None:
                    raise  # another request cooled it meanwhile: no retry into a known outage
                continue
            except asyncio.CancelledError:  # the client gave up (or shutdown): this is what it was
                self.stats.end(dep.id, None)  # waiting for, and what its prompt is billed at
                state.attempts.append(Attempt(dep.label, group, "Cancelled", None, self.clock() - started))
                state.deployment, state.model_group = dep, group
                raise
            except BaseException:
                self.stats.end(dep.id, None)
                raise
            seconds = self.clock() - started
            self.stats.end(dep.id, seconds)
            self.cooldowns.record_success(dep.id)
            state.attempts.append(Attempt(dep.label, group, None, 200, seconds))
            state.deployment = dep
            state.model_group = group
            return result

    def _backoff(self, err: UpstreamError, attempt: int, deadline: float) -> float | None:
        """Seconds to wait before the next attempt, or None when waiting can't fit the deadline."""
        remaining = deadline - self.clock()
        if err.retry_after is not None:
            return err.retry_after if err.retry_after < remaining else None
        wait = min(0.05 * 2 ** (attempt - 1), 2.0) * (0.5 + self.rng.random())
        return wait if wait < remaining else None


def _describe(err: RinError | None) -> str:
    if err is None:
        return "unknown"
    status = getattr(err, "upstream_status", None)
    return f"{type(err).__name__}" + (f" HTTP {status}" if status else "")
