"""Durations written as `30d`, `24h`, `60m`, `2w` or `1mo`, and the aligned windows they cut time
into: budgets' windows (rin.budgets, virtual keys' among them) and spend reports' spans back from now.

A window is aligned (every `30d` window starts at a multiple of 30 days since the Unix epoch, `1mo` at
a calendar month), so a restarted gateway finds the same window as before."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d|w)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window(duration: str | None, now: datetime) -> tuple[datetime, datetime | None]:
    """The window containing `now`: (start, end); no duration means one window forever."""
    if not duration:
        return EPOCH, None
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"budget_duration {duration!r}: use e.g. 30d, 7d, 24h, 60m or 1mo")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "mo":
        months = now.year * 12 + now.month - 1
        first = months - months % count
        start = datetime(first // 12, first % 12 + 1, 1, tzinfo=UTC)
        end_m = first + count
        return start, datetime(end_m // 12, end_m % 12 + 1, 1, tzinfo=UTC)
    span = count * _SECONDS[unit]
    offset = int((now - EPOCH).total_seconds()) // span * span
    start = EPOCH + timedelta(seconds=offset)
    return start, start + timedelta(seconds=span)


def fixed_span(text: str) -> timedelta | None:
    """`30d`, `24h`, `60m`, `2w`, `10s` -> their length; None for anything else, months included
    (they have no fixed length)."""
    match = _DURATION.match(text)
    if match is None or match.group(2) == "mo":
        return None
    return timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])
