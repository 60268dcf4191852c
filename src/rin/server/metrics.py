"""GET /metrics in Prometheus text format: requests, spend, budgets, ledger health, cooldowns.
Labels carry model and deployment names only, never a key or URL."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from rin.errors import RinError
from rin.router import RequestState
from rin.types import Usage


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


class Metrics:
    """Counts finished requests; subscribed to `Runtime.listeners`."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.endpoints: dict[tuple[str, str], int] = defaultdict(int)
        self.tokens: dict[tuple[str, str], int] = defaultdict(int)
        self.fallbacks: dict[str, int] = defaultdict(int)
        self.attempts_total = 0

    def __call__(self, state: RequestState, usage: Usage | None, status: str, error: RinError | None) -> None:
        model = state.model_group or state.request.model
        self.requests[(model, status)] += 1
        self.endpoints[(state.request.endpoint, status)] += 1
        self.attempts_total += len(state.attempts)
        if state.fallback_from:
            self.fallbacks[state.fallback_from] += 1
        if usage is not None:
            self.tokens[(model, "prompt")] += usage.prompt_tokens
            self.tokens[(model, "completion")] += usage.completion_tokens

    def render(self, runtime: Any) -> bytes:
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, Any]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{labels} {value}" for labels, value in samples)

        metric("rin_requests_total", "counter", "Client requests by model group and status",
               [(f'{{model="{_label(m)}",status="{s}"}}', n) for (m, s), n in sorted(self.requests.items())])
        metric("rin_endpoint_requests_total", "counter", "Client requests by endpoint (client protocol) and status",
               [(f'{{endpoint="{e}",status="{s}"}}', n) for (e, s), n in sorted(self.endpoints.items())])
        metric("rin_tokens_total", "counter", "Tokens by model group and kind",
               [(f'{{model="{_label(m)}",kind="{k}"}}', n) for (m, k), n in sorted(self.tokens.items())])
        metric("rin_fallbacks_total", "counter", "Requests answered by a fallback, by requested model",
               [(f'{{model="{_label(m)}"}}', n) for m, n in sorted(self.fallbacks.items())])
        metric("rin_upstream_attempts_total", "counter", "Upstream attempts, retries included",
               [("", self.attempts_total)])
        tracing = runtime.tracing
        if tracing is not None:
            for name, kind, text, attr in (
                ("rin_telemetry_spans_exported_total", "counter", "Spans a trace destination took", "exported"),
                ("rin_telemetry_spans_failed_total", "counter", "Spans in exports that failed", "failed"),
                ("rin_telemetry_spans_dropped_total", "counter",
                 "Spans dropped because the destination's export queue was full", "dropped"),
                ("rin_telemetry_spans_queued", "gauge", "Spans waiting to be exported", "waiting")):
                metric(name, kind, text, [(f'{{destination="{c.destination}"}}', getattr(c, attr))
                                          for c in tracing.counts])
        if runtime.access_log is not None:
            metric("rin_access_log_dropped_total", "counter",
                   "Access-log lines dropped over RIN_ACCESS_LOG_RATE", [("", runtime.access_log.dropped)])
        budgets = runtime.budgets.all()
        for name, attr, text in (("rin_budget_limit_usd", "limit", "Budget limit"),
                                 ("rin_budget_spent_usd", "spent", "Spent in the current window"),
                                 ("rin_budget_reserved_usd", "reserved", "Held by requests in flight")):
            metric(name, "gauge", text, [(f'{{scope="{_label(b.scope)}"}}', _num(getattr(b, attr)))
                                         for b in budgets])
        ledger = runtime.ledger
        if ledger is not None:
            metric("rin_ledger_pending_rows", "gauge", "Spend rows not yet written", [("", ledger.pending)])
            metric("rin_ledger_written_rows_total", "counter", "Spend rows written", [("", ledger.written_total)])
            metric("rin_ledger_lag_seconds", "gauge", "Age of the oldest unwritten row",
                   [("", round(ledger.lag_seconds, 4))])
            metric("rin_ledger_healthy", "gauge", "1 when the last write succeeded", [("", int(ledger.healthy))])
        cooling = runtime.router.cooldowns.snapshot()
        metric("rin_deployment_cooling", "gauge", "1 while a deployment is cooling down",
               [(f'{{deployment="{_label(d.label)}",model="{_label(d.model_name)}"}}', int(d.id in cooling))
                for d in runtime.config.deployments if d.enabled])
        return ("\n".join(lines) + "\n").encode()


def _num(value: Decimal) -> str:
    return format(value, "f")
