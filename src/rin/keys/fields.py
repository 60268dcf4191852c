"""The settable fields of a key, under LiteLLM's names, checked once for the admin API and the CLI
alike. Every problem is an InvalidRequest naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from rin.durations import window
from rin.errors import InvalidRequest
from rin.keys.model import parse_span

#: LiteLLM request name -> VirtualKey field (`duration` becomes `expires_at`)
FIELDS: dict[str, str] = {
    "key_alias": "alias", "models": "models", "max_budget": "max_budget",
    "budget_duration": "budget_duration", "rpm_limit": "rpm", "tpm_limit": "tpm",
    "duration": "expires_at", "metadata": "metadata",
}

_MAX_TEXT = 256
_MAX_MODELS = 1000
_MAX_METADATA = 16 * 1024
_MAX_LIMIT = 10**12
_MAX_BUDGET = Decimal(10**12)
#: far enough for any real key; bounded so the expiry is a date every engine can store
_MAX_SPAN_DAYS = 100 * 366


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"'{name}' must be a non-empty string.", param=name)
    if len(value) > _MAX_TEXT:
        raise InvalidRequest(f"'{name}' must be at most {_MAX_TEXT} characters.", param=name)
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; refuse it on every engine alike
        raise InvalidRequest(f"'{name}' must not contain NUL characters.", param=name)
    return value


def _models(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > _MAX_MODELS:
        raise InvalidRequest(f"'models' must be a list of at most {_MAX_MODELS} model names "
                             "(empty: every model).", param="models")
    return tuple(dict.fromkeys(_text("models", m) for m in value))


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequest("'max_budget' must be a number of USD, e.g. 25.0.", param="max_budget")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest("'max_budget' must be a number of USD, e.g. 25.0.", param="max_budget") from None
    if not amount.is_finite() or not Decimal(0) <= amount <= _MAX_BUDGET:
        raise InvalidRequest(f"'max_budget' must be between 0 and {_MAX_BUDGET} USD.", param="max_budget")
    return amount


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_LIMIT:
        raise InvalidRequest(f"'{name}' must be a whole number from 0 to {_MAX_LIMIT}.", param=name)
    return value


def _budget_duration(value: Any, now: datetime) -> str:
    text = _text("budget_duration", value)
    try:
        window(text, now)
    except ValueError:
        raise InvalidRequest(f"'budget_duration' must be a window such as 30d, 7d, 24h or 1mo, got {text!r}.",
                             param="budget_duration") from None
    return text.strip()


def _expiry(value: Any, now: datetime) -> datetime:
    text = _text("duration", value)
    try:
        span = parse_span(text)
    except ValueError as err:
        raise InvalidRequest(f"'duration' (time until the key expires): {err}.", param="duration") from None
    if span.days > _MAX_SPAN_DAYS:
        raise InvalidRequest(f"'duration' must be at most {_MAX_SPAN_DAYS} days.", param="duration")
    return now + span


def _metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest("'metadata' must be a JSON object.", param="metadata")
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        raise InvalidRequest("'metadata' must be plain JSON.", param="metadata") from None
    if len(encoded) > _MAX_METADATA:
        raise InvalidRequest(f"'metadata' must encode to at most {_MAX_METADATA} bytes.", param="metadata")
    if b"\\u0000" in encoded:
        raise InvalidRequest("'metadata' must not contain NUL characters.", param="metadata")
    return value


def parse_fields(body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """`body`'s key settings as VirtualKey field values. Only fields present are returned; an
    explicit null clears a setting (no alias, every model, no budget, no limit, never expires)."""
    unknown = [name for name in body if name not in FIELDS]
    if unknown:
        raise InvalidRequest(f"Unknown field '{unknown[0]}'; a key takes {', '.join(FIELDS)}.",
                             param=unknown[0])
    out: dict[str, Any] = {}
    for name, value in body.items():
        target = FIELDS[name]
        if value is None:
            out[target] = () if name == "models" else {} if name == "metadata" else None
        elif name == "key_alias":
            out[target] = _text(name, value)
        elif name == "models":
            out[target] = _models(value)
        elif name == "max_budget":
            out[target] = _money(value)
        elif name == "budget_duration":
            out[target] = _budget_duration(value, now)
        elif name in ("rpm_limit", "tpm_limit"):
            out[target] = _count(name, value)
        elif name == "duration":
            out[target] = _expiry(value, now)
        else:
            out[target] = _metadata(value)
    return out
