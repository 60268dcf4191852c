"""Per-key limits on the request path: allowed models, rpm / tpm, and the key's budget.

Budgets use the same reserve-then-settle rule as rin.budgets: a request is admitted only if the
key's spent + reserved + this request's worst case fits, and the reservation is settled to the real
cost when the request finishes. State is per process (see the README on scaling out).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from rin.budgets import window
from rin.errors import BudgetExceeded, PermissionDenied, RateLimited
from rin.keys.model import VirtualKey


@dataclass(slots=True)
class _KeyState:
    start: datetime
    end: datetime | None
    spent: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    minute: int = -1
    requests: int = 0
    tokens: int = 0


class KeyLimits:
    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 clock: Callable[[], float] = time.time) -> None:
        self.now = now
        self.clock = clock
        self._state: dict[str, _KeyState] = {}
        #: request id -> (key hash, amount reserved)
        self._holds: dict[str, tuple[str, Decimal]] = {}

    def state(self, key: VirtualKey) -> _KeyState:
        st = self._state.get(key.key_hash)
        now = self.now()
        if st is None:
            start, end = window(key.budget_duration, now)
            st = self._state[key.key_hash] = _KeyState(start, end)
        elif st.end is not None and now >= st.end:
            st.start, st.end = window(key.budget_duration, now)
            st.spent = Decimal(0)
        return st

    def seed(self, key: VirtualKey, spent: Decimal) -> None:
        """The spend already in the ledger for the key's current window (at startup)."""
        self.state(key).spent = spent

    def admit(self, key: VirtualKey, model: str, request_id: str, worst_case: Decimal) -> None:
        if not key.allows(model):
            allowed = ", ".join(key.models)
            raise PermissionDenied(f"This key may not use '{model}'; it may use: {allowed}.", param="model")
        st = self.state(key)
        minute = int(self.clock() // 60)
        if minute != st.minute:
            st.minute, st.requests, st.tokens = minute, 0, 0
        if key.rpm is not None and st.requests >= key.rpm:
            raise RateLimited(f"This key's limit of {key.rpm} requests per minute is used up; retry next minute.")
        if key.tpm is not None and st.tokens >= key.tpm:
            raise RateLimited(f"This key's limit of {key.tpm} tokens per minute is used up; retry next minute.")
        if key.max_budget is not None:
            if st.spent + st.reserved + worst_case > key.max_budget:
                resets = f", resets {st.end.isoformat()}" if st.end else ""
                raise BudgetExceeded(
                    f"Budget of key '{key.alias or key.preview}' exhausted: spent ${st.spent:.6f} of "
                    f"${format(key.max_budget, 'f')}{resets}; this request could cost up to ${worst_case:.6f}.")
            st.reserved += worst_case
            self._holds[request_id] = (key.key_hash, worst_case)
        st.requests += 1

    def settle(self, key_hash: str | None, request_id: str, cost: Decimal, tokens: int) -> None:
        hold = self._holds.pop(request_id, None)
        st = self._state.get(key_hash) if key_hash else None
        if st is None:
            return
        if hold is not None:
            st.reserved -= hold[1]
        st.spent += cost
        if int(self.clock() // 60) == st.minute:
            st.tokens += tokens
