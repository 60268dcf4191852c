"""Per-deployment circuit breaker: closed -> open (cooling) -> half-open (one probe) -> closed.

Decisions are local and synchronous. With several instances, a `CooldownListener` (rin.shared)
hears every counted failure and every opened breaker, shares them, and applies the breakers other
instances opened through `cool_until`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

WINDOW = 60.0  # failures are counted over the last minute


class CooldownListener(Protocol):
    def failed(self, dep_id: str, allowed_fails: int, cooldown: float) -> None:
        """A failure was counted and opened nothing (yet)."""

    def opened(self, dep_id: str, seconds: float) -> None:
        """The breaker of `dep_id` opened for `seconds`."""


@dataclass(slots=True)
class _Health:
    failures: deque[float] = field(default_factory=deque)
    cooling_until: float = 0.0
    #: set once the cooldown has passed and one request was let through to probe
    probing: bool = False
    #: consecutive times this deployment was cooled; a re-failure after a probe extends the cooldown
    strikes: int = 0


class Cooldowns:
    def __init__(self, clock: Callable[[], float], allowed_fails: int, cooldown_time: float,
                 disabled: bool = False) -> None:
        self._clock = clock
        self.allowed_fails = allowed_fails
        self.cooldown_time = cooldown_time
        self.disabled = disabled
        self._health: dict[str, _Health] = {}
        self.listener: CooldownListener | None = None

    def cooling_until(self, dep_id: str) -> float | None:
        """When the deployment may be tried again, or None if it may be tried now."""
        h = self._health.get(dep_id)
        if h is None or self.disabled:
            return None
        now = self._clock()
        if now < h.cooling_until:
            return h.cooling_until
        if h.cooling_until and h.probing:
            return h.cooling_until  # a probe is already in flight: others wait for its verdict
        return None

    def begin_attempt(self, dep_id: str) -> None:
        h = self._health.get(dep_id)
        if h is not None and h.cooling_until and self._clock() >= h.cooling_until:
            h.probing = True

    def record_failure(
        self, dep_id: str, allowed_fails: int | None = None, cooldown_time: float | None = None
    ) -> float:
        """Counts a failure; returns the cooldown it started (seconds), or 0 when it started none.
        Failures of requests already in flight when the breaker opened don't extend it."""
        if self.disabled:
            return 0.0
        now = self._clock()
        cooldown = self.cooldown_time if cooldown_time is None else cooldown_time
        h = self._health.setdefault(dep_id, _Health())
        if h.probing:
            h.probing = False
            h.strikes += 1
            seconds = cooldown * min(2 ** (h.strikes - 1), 8)
            h.cooling_until = now + seconds
            self._opened(dep_id, seconds)
            return seconds
        if now < h.cooling_until:
            return 0.0
        h.failures.append(now)
        while h.failures and h.failures[0] <= now - WINDOW:
            h.failures.popleft()
        limit = self.allowed_fails if allowed_fails is None else allowed_fails
        if len(h.failures) >= max(limit, 1):
            h.failures.clear()
            h.strikes = 1
            h.cooling_until = now + cooldown
            self._opened(dep_id, cooldown)
            return cooldown
        if self.listener is not None:
            self.listener.failed(dep_id, max(limit, 1), cooldown)
        return 0.0

    def cool_until(self, dep_id: str, until: float) -> bool:
        """Applies a breaker another instance opened (`until` on this clock); True when it changed
        anything. A later end wins; an earlier one never shortens a local cooldown."""
        if self.disabled or until <= self._clock():
            return False
        h = self._health.setdefault(dep_id, _Health())
        if until <= h.cooling_until:
            return False
        h.cooling_until = until
        h.failures.clear()
        h.strikes = max(h.strikes, 1)
        return True

    def _opened(self, dep_id: str, seconds: float) -> None:
        if self.listener is not None and seconds > 0:
            self.listener.opened(dep_id, seconds)

    def record_success(self, dep_id: str) -> None:
        h = self._health.get(dep_id)
        if h is not None and h.cooling_until:
            del self._health[dep_id]  # the half-open probe succeeded: close the breaker

    def snapshot(self) -> dict[str, float]:
        """Deployment id -> cooling-until, for those cooling now."""
        now = self._clock()
        return {k: h.cooling_until for k, h in self._health.items() if h.cooling_until > now}
