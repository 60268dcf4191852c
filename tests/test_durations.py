"""rin.durations: aligned windows (budgets, virtual keys) and fixed spans (spend reports)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rin.durations import EPOCH, fixed_span, window


def test_a_day_window_starts_at_midnight_utc_and_a_restart_finds_the_same_one() -> None:
    morning = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
    start, end = window("1d", morning)
    assert (start, end) == (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC))
    assert window("1d", morning + timedelta(hours=14)) == (start, end)


def test_day_windows_are_multiples_of_their_length_since_the_epoch() -> None:
    start, end = window("30d", datetime(2026, 3, 5, tzinfo=UTC))
    assert (start - EPOCH) % timedelta(days=30) == timedelta(0)
    assert end - start == timedelta(days=30)
    assert start <= datetime(2026, 3, 5, tzinfo=UTC) < end


def test_month_windows_follow_the_calendar() -> None:
    assert window("1mo", datetime(2026, 2, 28, 23, tzinfo=UTC)) == (
        datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert window("3mo", datetime(2026, 12, 31, tzinfo=UTC)) == (
        datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_no_duration_is_one_window_forever() -> None:
    assert window(None, datetime(2026, 3, 5, tzinfo=UTC)) == (EPOCH, None)


def test_an_unreadable_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="30d"):
        window("thirty days", datetime(2026, 3, 5, tzinfo=UTC))


def test_fixed_spans_have_a_length_and_months_have_none() -> None:
    assert fixed_span("7d") == timedelta(days=7)
    assert fixed_span(" 24h ") == timedelta(hours=24)
    assert fixed_span("2w") == timedelta(weeks=2)
    assert fixed_span("1mo") is None
    assert fixed_span("2026-01-31") is None
