"""Load balancing: the order in which a model group's deployments are tried."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol

from rin.types import Deployment

STRATEGIES = (
    "simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing",
    "usage-based-routing-v2", "cost-based-routing",
)


class UsageListener(Protocol):
    """Shares rpm/tpm counts between instances (rin.shared.rates)."""

    def started(self, dep_id: str, requests: int) -> None: ...
    def ended(self, dep_id: str, tokens: int) -> None: ...


class Stats:
    """What the strategies look at: in-flight counts, latency EWMA, tokens/requests this minute.

    With several instances, `others` holds what the rest of the fleet used this minute (set by
    rin.shared.rates from Redis), so rpm/tpm limits count every instance's traffic."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.in_flight: dict[str, int] = {}
        self.latency: dict[str, float] = {}
        self._minute: dict[str, tuple[int, int, int]] = {}  # id -> (minute, requests, tokens)
        self.others: dict[str, tuple[int, int, int]] = {}  # id -> (minute, requests, tokens)
        self.listener: UsageListener | None = None

    def start(self, dep_id: str) -> None:
        self.in_flight[dep_id] = self.in_flight.get(dep_id, 0) + 1
        minute, reqs, toks = self._current(dep_id)
        self._minute[dep_id] = (minute, reqs + 1, toks)
        if self.listener is not None:
            self.listener.started(dep_id, reqs + 1)

    def end(self, dep_id: str, seconds: float | None, tokens: int = 0) -> None:
        self.in_flight[dep_id] = max(0, self.in_flight.get(dep_id, 1) - 1)
        if seconds is not None:
            old = self.latency.get(dep_id)
            self.latency[dep_id] = seconds if old is None else old * 0.8 + seconds * 0.2
        if tokens:
            self.add_tokens(dep_id, tokens)

    def add_tokens(self, dep_id: str, tokens: int) -> None:
        """Counts an answer's tokens toward this minute's tpm (known only once it is finished)."""
        if tokens <= 0:
            return
        minute, reqs, toks = self._current(dep_id)
        self._minute[dep_id] = (minute, reqs, toks + tokens)
        if self.listener is not None:
            self.listener.ended(dep_id, tokens)

    def usage(self, dep_id: str) -> tuple[int, int]:
        """Requests and tokens this minute, this instance's plus the rest of the fleet's."""
        minute, reqs, toks = self._current(dep_id)
        other = self.others.get(dep_id)
        if other is not None and other[0] == minute:
            return reqs + other[1], toks + other[2]
        return reqs, toks

    def local_usage(self, dep_id: str) -> tuple[int, int]:
        _, reqs, toks = self._current(dep_id)
        return reqs, toks

    def set_others(self, dep_id: str, requests: int | None = None, tokens: int | None = None) -> None:
        """What other instances used of `dep_id` this minute (None: keep the last figure)."""
        minute = int(self._clock() // 60)
        old = self.others.get(dep_id)
        reqs, toks = (old[1], old[2]) if old is not None and old[0] == minute else (0, 0)
        self.others[dep_id] = (minute, max(0, reqs if requests is None else requests),
                               max(0, toks if tokens is None else tokens))

    def _current(self, dep_id: str) -> tuple[int, int, int]:
        minute = int(self._clock() // 60)
        entry = self._minute.get(dep_id)
        if entry is None or entry[0] != minute:
            return minute, 0, 0
        return entry


def _weight(dep: Deployment) -> float:
    if dep.weight != 1.0:
        return max(dep.weight, 0.0)
    return float(dep.rpm or dep.tpm or 1)


def _shuffle(deps: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    """Weighted random order without replacement (Efraimidis-Spirakis keys)."""
    keyed = [(rng.random() ** (1.0 / w) if (w := _weight(d)) > 0 else 0.0, i) for i, d in enumerate(deps)]
    keyed.sort(reverse=True)
    return [deps[i] for _, i in keyed]


def _price(dep: Deployment) -> Decimal:
    info = dep.info
    if info.input_cost_per_token is None and info.output_cost_per_token is None:
        return Decimal("Infinity")
    return (info.input_cost_per_token or Decimal(0)) + (info.output_cost_per_token or Decimal(0))


def order(
    deps: Sequence[Deployment], strategy: str, stats: Stats, rng: random.Random
) -> list[Deployment]:
    """Deployments in the order to try them. `order` priorities come first: a lower `order`
    is always tried before a higher one; within one priority the strategy decides."""
    if len(deps) <= 1:
        return list(deps)
    tiers: dict[int, list[Deployment]] = {}
    for dep in deps:
        tiers.setdefault(dep.order if dep.order is not None else 2**31, []).append(dep)
    out: list[Deployment] = []
    for _, tier in sorted(tiers.items()):
        out.extend(_order_tier(tier, strategy, stats, rng))
    return out


def _order_tier(deps: list[Deployment], strategy: str, stats: Stats, rng: random.Random) -> list[Deployment]:
    shuffled = _shuffle(deps, rng)
    if strategy == "least-busy":
        return sorted(shuffled, key=lambda d: stats.in_flight.get(d.id, 0))
    if strategy == "latency-based-routing":
        return sorted(shuffled, key=lambda d: stats.latency.get(d.id, 0.0))
    if strategy == "cost-based-routing":
        return sorted(shuffled, key=_price)
    if strategy in ("usage-based-routing", "usage-based-routing-v2"):
        return sorted(shuffled, key=lambda d: _load(d, stats))
    return shuffled


def _load(dep: Deployment, stats: Stats) -> float:
    reqs, toks = stats.usage(dep.id)
    shares = [reqs / dep.rpm if dep.rpm else 0.0, toks / dep.tpm if dep.tpm else 0.0]
    return max(shares) if (dep.rpm or dep.tpm) else float(toks)


def over_limit(dep: Deployment, stats: Stats) -> bool:
    """True when the deployment has used its rpm (or tpm) for the current minute."""
    reqs, toks = stats.usage(dep.id)
    return bool((dep.rpm and reqs >= dep.rpm) or (dep.tpm and toks >= dep.tpm))
