"""What the dashboard shows, as JSON-ready values: model names, labels and numbers, never a key,
URL or header (deployments are shown by `provider/model` label, ledger rows by a fixed column list)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rin.config.resolved import Config
from rin.cost import price_for
from rin.dashboard.series import BY, daily_spend
from rin.errors import InvalidRequest
from rin.ledger import LedgerUnavailable
from rin.ledger.row import STATUSES

#: the ledger columns the page shows (not api_key_hash, not deployment_id)
REQUEST_FIELDS = (
    "request_id", "created_at", "model", "requested_model", "provider", "provider_model",
    "prompt_tokens", "completion_tokens", "total_tokens", "cost", "cost_source", "status",
    "attempts", "fallback_from", "cache_hit", "stream", "latency_ms", "user", "error_type",
)
MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class View:
    """The page's current choices, from the state call's query string."""

    model: str | None = None
    user: str | None = None
    status: str | None = None
    spend_by: str = "model"
    days: int = 14
    limit: int = 50

    @classmethod
    def parse(cls, q: dict[str, str]) -> View:
        status = q.get("status") or None
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"'status' must be one of {', '.join(sorted(STATUSES))}.", param="status")
        spend_by = q.get("spend_by") or "model"
        if spend_by not in BY:
            raise InvalidRequest(f"'spend_by' must be one of {', '.join(BY)}.", param="spend_by")
        return cls(model=q.get("model") or None, user=q.get("user") or None, status=status,
                   spend_by=spend_by, days=_bounded(q, "days", 14, 1, 90),
                   limit=_bounded(q, "limit", 50, 1, 500))


def _bounded(q: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = q.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(f"'{name}' must be a whole number from {low} to {high}.", param=name)
    return int(raw)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _per_million(per_token: Decimal | None) -> str | None:
    return _plain(None if per_token is None else per_token * MILLION)


def models(config: Config, cooling: dict[str, float], clock_now: float) -> list[dict[str, Any]]:
    """One entry per deployment, in config order, with its status and the prices RIN charges."""
    out = []
    for dep in config.deployments:
        until = cooling.get(dep.id)
        prices, source = price_for(dep.model_name, dep, config.general.model_cost)
        info = dep.info
        out.append({
            "model": dep.model_name,
            "name": info.display_name or dep.model_name,
            "deployment": dep.label,
            "provider": dep.provider,
            "capabilities": {"vision": bool(info.supports_vision),
                             "tools": bool(info.supports_function_calling),
                             "reasoning": bool(info.supports_reasoning)},
            "context_length": info.context_length,
            "max_output_tokens": info.max_output_tokens,
            "price": {
                "input_per_million": _per_million(prices.input_cost_per_token if prices else None),
                "output_per_million": _per_million(prices.output_cost_per_token if prices else None),
                "per_request": _plain(prices.cost_per_request if prices else None),
                "source": source,
            },
            "status": "disabled" if not dep.enabled else ("cooling_down" if until else "available"),
            "disabled_reason": dep.disabled_reason,
            # the router's clock is monotonic: turn "until" into wall time for people
            "cooling_until": _iso(datetime.fromtimestamp(time.time() + until - clock_now, UTC)) if until else None,
        })
    return out


def budgets(runtime: Any) -> list[dict[str, Any]]:
    """Every budget with a readable label; deployment budgets are named by model and label."""
    deployments = {dep.id: dep for dep in runtime.config.deployments}
    out = []
    for entry in runtime.budgets.snapshot():
        kind, _, name = entry["scope"].partition(":")
        dep = deployments.get(name) if kind == "deployment" else None
        label = {"global": "Global", "user": f"User {name}", "provider": f"Provider {name}",
                 "deployment": f"{dep.model_name} ({dep.label})" if dep else f"Deployment {name}"}.get(kind, name)
        amounts = {name: _plain(Decimal(entry[name])) for name in ("limit", "spent", "reserved")}
        out.append({"scope": entry["scope"], "label": label, **amounts, "resets_at": entry["resets_at"],
                    "enforced": entry["enforced"]})
    return out


async def recent_requests(ledger: Any, view: View) -> list[dict[str, Any]]:
    # The ledger filters by model and user; status is filtered here, from a deeper read.
    depth = view.limit if view.status is None else view.limit * 10
    rows = await ledger.logs(model=view.model, user=view.user, limit=depth)
    picked = [row for row in rows if view.status in (None, row["status"])][:view.limit]
    return [{name: row.get(name) for name in REQUEST_FIELDS} for row in picked]


async def build_state(runtime: Any, view: View, sync: dict[str, Any]) -> dict[str, Any]:
    if (pending := runtime.pending_catalog) is not None:
        await pending.wait()  # the cached catalogue start-up left loading may add models
    router = runtime.router
    ledger = runtime.ledger
    now = datetime.now(UTC)
    state: dict[str, Any] = {
        "generated_at": _iso(now),
        "models": models(runtime.config, router.cooldowns.snapshot(), router.clock()),
        "budgets": budgets(runtime),
        "sync": sync,
        "view": {"model": view.model, "user": view.user, "status": view.status,
                 "spend_by": view.spend_by, "days": view.days},
        "ledger": {"enabled": ledger is not None},
        "requests": [],
        "spend": None,
    }
    if ledger is None:
        return state
    state["ledger"].update(healthy=ledger.healthy, pending=ledger.pending)
    try:
        state["requests"] = await recent_requests(ledger, view)
        state["spend"] = await daily_spend(ledger, view.spend_by, view.days, now)
    except LedgerUnavailable as err:
        state["ledger"]["error"] = err.message
    return state
