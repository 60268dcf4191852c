"""What every entry point does first: log settings from flags and variables, the JSON line format."""

from __future__ import annotations

import logging
import sys
from decimal import Decimal

import orjson
import pytest

from rin.bootstrap import JsonFormatter, LogSettings, log_settings


def test_defaults_and_flags_over_variables() -> None:
    assert log_settings(env={}) == LogSettings("INFO", "text", False, 50)
    env = {"RIN_LOG_LEVEL": "debug", "RIN_LOG_FORMAT": "JSON", "RIN_ACCESS_LOG": "1", "RIN_ACCESS_LOG_RATE": "7"}
    assert log_settings(env=env) == LogSettings("DEBUG", "json", True, 7)
    assert log_settings("warning", "text", None, "3", env=env) == LogSettings("WARNING", "text", True, 3)
    settings = LogSettings("INFO", "json", True, 9)
    assert log_settings(env=settings.as_env()) == settings  # what `rin serve --workers N` hands its workers


@pytest.mark.parametrize("kwargs, message", [
    ({"env": {"RIN_LOG_FORMAT": "xml"}}, "RIN_LOG_FORMAT='xml' is not a log format: use text or json"),
    ({"fmt": "pretty", "env": {}}, "--log-format='pretty' is not a log format: use text or json"),
    ({"env": {"RIN_LOG_LEVEL": "loud"}}, "log level 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ({"env": {"RIN_ACCESS_LOG": "maybe"}}, "RIN_ACCESS_LOG='maybe': use 1 (on) or 0 (off)"),
    ({"env": {"RIN_ACCESS_LOG_RATE": "0"}}, "RIN_ACCESS_LOG_RATE='0' is not a rate"),
    ({"rate": "many", "env": {}}, "--access-log-rate='many' is not a rate"),
])
def test_bad_values_are_named_with_what_is_allowed(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        log_settings(**kwargs)
    assert str(info.value).startswith(message)


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord("rin.router", logging.WARNING, __file__, 1, msg, args, exc_info)
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_has_the_fixed_fields_then_the_structured_ones() -> None:
    line = JsonFormatter().format(record("retry: %s attempt %d", "gpt-4o", 2, request_id="r1", cost=Decimal("0.5")))
    assert "\n" not in line
    parsed = orjson.loads(line)
    assert list(parsed)[:4] == ["ts", "level", "logger", "message"]
    assert parsed["ts"].endswith("Z") and len(parsed["ts"]) == len("2026-01-01T00:00:00.000Z")
    assert parsed | {"ts": None} == {"ts": None, "level": "WARNING", "logger": "rin.router",
                                     "message": "retry: gpt-4o attempt 2", "request_id": "r1", "cost": "0.5"}


def test_a_multi_line_message_and_a_traceback_stay_one_line() -> None:
    line = JsonFormatter().format(record("config errors:\nline 1\nline 2", exc=True))
    assert "\n" not in line
    parsed = orjson.loads(line)
    assert parsed["message"] == "config errors:\nline 1\nline 2"
    assert "RuntimeError: boom" in parsed["exc_info"]
