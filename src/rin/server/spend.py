"""GET /spend/logs (LiteLLM's shape) and GET /spend/report: reading the ledger over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rin.asgi import dumps, query
from rin.durations import fixed_span
from rin.errors import InvalidRequest, ServiceUnavailable
from rin.ledger import REPORT_BY


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO date/time (UTC when it has no zone), or a span back from now such as `30d`."""
    if not value:
        return None
    span = fixed_span(value)
    if span is not None:
        return datetime.now(UTC) - span
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an ISO date such as 2026-01-31 or a span such as 7d, "
                             f"got {value!r}.", param=name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_limit(value: str | None) -> int:
    if value is None:
        return 100
    if not value.isdigit() or not 1 <= int(value) <= 10000:
        raise InvalidRequest("'limit' must be a whole number from 1 to 10000.", param="limit")
    return int(value)


def _key_hash(value: str | None) -> str | None:
    """`api_key` may be the key itself (hashed here, never stored) or its sha256 hash."""
    if not value:
        return None
    from rin.keys import hash_key

    return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else hash_key(value)


async def _ledger(runtime: Any) -> Any:
    """The ledger, flushed first, so a report includes every request already answered."""
    if runtime.ledger is None:
        raise ServiceUnavailable("Spend logging is off (general_settings.disable_spend_logs).")
    await runtime.ledger.flush()
    return runtime.ledger


#: LiteLLM's call_type for each endpoint
_CALL_TYPES = {"chat": "acompletion", "embeddings": "aembedding", "messages": "anthropic_messages",
               "responses": "aresponses", "completions": "atext_completion"}


async def spend_logs(runtime: Any, scope: dict[str, Any]) -> bytes:
    q = query(scope)
    rows = await (await _ledger(runtime)).logs(
        model=q.get("model"), user=q.get("user") or q.get("user_id"),
        start=parse_time(q.get("start_date") or q.get("start"), "start_date"),
        end=parse_time(q.get("end_date") or q.get("end"), "end_date"),
        limit=parse_limit(q.get("limit")), api_key_hash=_key_hash(q.get("api_key") or q.get("key")),
        endpoint=q.get("endpoint"))
    for row in rows:
        # LiteLLM's names beside ours, so LiteLLM dashboards and scripts keep working
        row["spend"] = row.get("cost")
        row["startTime"] = row.get("created_at")
        row["call_type"] = _CALL_TYPES.get(row.get("endpoint") or "chat", row.get("endpoint"))
    return dumps(rows)


async def spend_report(runtime: Any, scope: dict[str, Any]) -> bytes:
    q = query(scope)
    by = q.get("group_by") or q.get("by") or "model"
    if by not in REPORT_BY:
        raise InvalidRequest(f"'group_by' must be one of {', '.join(REPORT_BY)}.", param="group_by")
    since = parse_time(q.get("start_date") or q.get("since"), "start_date")
    rows = await (await _ledger(runtime)).report(by, since)
    total = sum((r["cost"] for r in rows), Decimal(0))
    return dumps({"group_by": by, "since": since.isoformat() if since else None, "total_cost": total,
                  "data": rows, "budgets": runtime.budgets.snapshot()})
