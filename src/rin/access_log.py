"""The access log: one line per client request, off unless the operator turns it on
(`rin serve --access-log`, RIN_ACCESS_LOG=1), at most `rate` lines a second (RIN_ACCESS_LOG_RATE).
Lines over the cap are dropped and counted (`rin_access_log_dropped_total` on /metrics), with one
summary line a second saying how many. A line never carries a key: the virtual key's hash prefix
at most. `Runtime.finished` calls `write` once per client request that reached the pipeline; the
app calls `refused` for one answered with an error before it did."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from rin.errors import RinError
from rin.types import Usage

if TYPE_CHECKING:
    from rin.router import RequestState

log = logging.getLogger("rin.access")

#: characters of the key's sha256 shown: enough to tell keys apart, useless to an attacker
KEY_PREFIX = 12


class AccessLog:
    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        #: lines dropped over the cap since startup
        self.dropped = 0
        self._clock = clock
        self._second = -1
        self._written = 0
        #: dropped in the current second, not yet reported
        self._skipped = 0
        #: the second whose summary is scheduled (one timer a second at most)
        self._timer_for = -1
        log.setLevel(logging.INFO)  # turned on by the operator: shown whatever --log-level says

    def write(self, state: RequestState, usage: Usage | None, status: str, error: RinError | None,
              cost: Decimal, cache_hit: str | None) -> None:
        if self._admit():
            self._line(state, usage, status, error, cost, cache_hit)

    def refused(self, request_id: str, method: str, path: str, error: RinError) -> None:
        """A request answered with an error before it reached a model (no key, an unknown route,
        a body that is not JSON, a key over its limits, the gateway at its in-flight limit): it
        has no ledger row, but the operator sees it here."""
        if not self._admit():
            return
        fields = {"request_id": request_id, "method": method, "path": path, "status": "refused",
                  "http_status": error.status, "error": type(error).__name__}
        log.info("request %s %s %s refused %d %s", request_id, method, path, error.status,
                 type(error).__name__, extra=fields)

    def _admit(self) -> bool:
        """True if this second's cap has room for a line; else counts the drop."""
        now = self._clock()
        second = int(now)
        if second != self._second:
            self._report(self._second)
            self._second, self._written = second, 0
        if self._written >= self.rate:
            if self._timer_for != second:
                self._timer_for = second
                self._report_later(second, second + 1 - now)
            self._skipped += 1
            self.dropped += 1
            return False
        self._written += 1
        return True

    def _line(self, state: RequestState, usage: Usage | None, status: str, error: RinError | None,
              cost: Decimal, cache_hit: str | None) -> None:
        req, dep = state.request, state.deployment
        model = state.model_group or req.model
        # a failed request names the deployment it tried last; a cache hit, the one it replayed
        label = dep.label if dep else state.attempts[-1].deployment if state.attempts else cache_hit
        fields = {
            "request_id": req.request_id, "endpoint": req.endpoint, "requested_model": req.model,
            "model": model, "deployment": label, "status": status,
            "error": type(error).__name__ if error else None, "attempts": len(state.attempts),
            "fallback_from": state.fallback_from,
            "latency_ms": round((time.perf_counter() - state.started) * 1000, 1),
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "cost": float(cost), "cache_hit": cache_hit is not None, "stream": req.stream,
            "user": req.user, "key_hash": req.api_key_hash[:KEY_PREFIX] if req.api_key_hash else None,
        }
        text = (f"{req.request_id} {req.endpoint} {req.model} -> {model} ({fields['deployment'] or '-'}) "
                f"{status}{' ' + fields['error'] if error else ''} attempts={fields['attempts']} "
                f"{fields['latency_ms']}ms cost={cost}")
        if state.fallback_from:
            text += f" fallback_from={state.fallback_from}"
        if req.user:
            text += f" user={req.user}"
        log.info("request %s", text, extra=fields)

    def _report_later(self, second: int, delay: float) -> None:
        """The summary at the end of this second even when no later request rolls the window."""
        try:
            asyncio.get_running_loop().call_later(max(delay, 0.0), self._report, second)
        except RuntimeError:
            pass  # no loop (a synchronous caller): the next request's roll reports it

    def _report(self, second: int) -> None:
        if second != self._second or not self._skipped:
            return
        skipped, self._skipped = self._skipped, 0
        log.info("access log: skipped %d request lines in the last second (over the cap of %d a second, "
                 "RIN_ACCESS_LOG_RATE)", skipped, self.rate, extra={"skipped": skipped, "rate": self.rate})
