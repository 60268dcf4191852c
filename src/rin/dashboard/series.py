"""Spend per UTC day per model, provider or user, for the dashboard's chart.

The ledger reports spend grouped by one key since a moment. Spend on one day is the difference of
two such reports: since that midnight minus since the next. Sums stay exact (Decimal) and the work
stays in the database, one aggregate per day shown, however many rows there are.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

BY = ("model", "provider", "user")
#: the chart's colours run out and its legend gets unreadable past this; the rest is "other"
MAX_SERIES = 8
OTHER = "other"
UNNAMED = {"model": "(unknown)", "provider": "(none)", "user": "(no user)"}


async def daily_spend(ledger: Any, by: str, days: int, now: datetime) -> dict[str, Any]:
    """`{"by", "days": [YYYY-MM-DD oldest first], "series": [{"name", "total", "values"}], "total"}`.
    `values` are floats, for drawing only; `total`s are exact decimal strings."""
    if by not in BY:
        raise ValueError(f"spend by {by!r}: expected one of {', '.join(BY)}")
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [today - timedelta(days=n) for n in range(days)]
    # Newest window first: each later query starts earlier and runs later, so it contains all the
    # previous one saw and the differences can't go negative while rows keep arriving.
    since = []
    for start in starts:
        rows = await ledger.report(by, start)
        since.append({row[by] or UNNAMED[by]: row["cost"] for row in rows})
    per_key: dict[str, list[Decimal]] = {}
    for n, totals in enumerate(since):
        newer = since[n - 1] if n else {}
        for key, cost in totals.items():
            per_key.setdefault(key, [Decimal(0)] * days)[days - 1 - n] = cost - newer.get(key, Decimal(0))
    ranked = sorted(((sum(v, Decimal(0)), k, v) for k, v in per_key.items() if any(v)),
                    key=lambda t: (-t[0], t[1]))
    if len(ranked) > MAX_SERIES:
        rest = ranked[MAX_SERIES - 1:]
        merged = [sum(day, Decimal(0)) for day in zip(*(v for _, _, v in rest), strict=True)]
        ranked = ranked[:MAX_SERIES - 1] + [(sum(merged, Decimal(0)), OTHER, merged)]
    return {
        "by": by,
        "days": [start.date().isoformat() for start in reversed(starts)],
        "series": [{"name": key, "total": _usd(total), "values": [float(c) for c in values]}
                   for total, key, values in ranked],
        "total": _usd(sum((total for total, _, _ in ranked), Decimal(0))),
    }


def _usd(value: Decimal) -> str:
    return format(value, "f")
