"""The value types the YAML's models are built from, and the one place validation errors become
`FILE:LINE: key.path: what is wrong and what is allowed` lines.

Numbers refuse booleans (YAML's `yes` is not 1), ranges say their bounds, money is an exact
`Decimal`, durations are `30s` ... `1mo`. The models themselves are in `model_entry` (a `model_list`
entry) and `sections` (the settings sections).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from rin.config.problems import KeyPath, Problems, is_sensitive

ROUTING_STRATEGIES = (
    "simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing",
    "usage-based-routing-v2", "cost-based-routing",
)
_DURATION = re.compile(r"^\d+(s|m|h|d|w|mo)$")


def not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("is not a number")
    return value


def between(low: float, high: float) -> AfterValidator:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"is out of range, must be between {low:g} and {high:g}")
        return value
    return AfterValidator(check)


def _at_least(low: float) -> AfterValidator:
    def check(value: Any) -> Any:
        if value < low:
            raise ValueError(f"is too small, must be {low:g} or more")
        return value
    return AfterValidator(check)


def positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _decimal_input(value: Any) -> Any:
    not_bool(value)
    # str() of a float is its shortest exact decimal form: 0.0000025 stays 0.0000025
    return str(value) if isinstance(value, float) else value


def _money(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("must be a number of 0 or more (USD)")
    return value


def _duration(value: str) -> str:
    value = value.strip()
    if not _DURATION.match(value):
        raise ValueError("is not a duration: use a whole number followed by s, m, h, d, w or mo "
                         "(e.g. 30s, 60m, 24h, 7d, 30d, 1mo)")
    return value


def _strategy(value: str) -> str:
    if value not in ROUTING_STRATEGIES:
        raise ValueError(f"is not a routing strategy, must be one of: {', '.join(ROUTING_STRATEGIES)}")
    return value


def _text(value: Any) -> Any:
    """Numbers become text (a numeric password is still a password); anything else is checked as str."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty, must be a non-empty string")
    return value.strip()


Float = Annotated[float, BeforeValidator(not_bool)]
Int = Annotated[int, BeforeValidator(not_bool)]
NonNegInt = Annotated[int, BeforeValidator(not_bool), _at_least(0)]
PositiveInt = Annotated[int, BeforeValidator(not_bool), _at_least(1)]
NonNegFloat = Annotated[float, BeforeValidator(not_bool), _at_least(0)]
Positive = Annotated[float, BeforeValidator(not_bool), AfterValidator(positive)]
Temperature = Annotated[float, BeforeValidator(not_bool), between(0, 2)]
Unit = Annotated[float, BeforeValidator(not_bool), between(0, 1)]
Penalty = Annotated[float, BeforeValidator(not_bool), between(-2, 2)]
Port = Annotated[int, BeforeValidator(not_bool), between(1, 65535)]
Money = Annotated[Decimal, BeforeValidator(_decimal_input), AfterValidator(_money)]
Duration = Annotated[str, AfterValidator(_duration)]
Strategy = Annotated[str, AfterValidator(_strategy)]
Text = Annotated[str, BeforeValidator(_text)]
NonEmpty = Annotated[str, AfterValidator(_non_empty)]


class Strict(BaseModel):
    """A model that refuses keys it does not name (unknown keys were already sorted out and warned about)."""

    model_config = ConfigDict(extra="forbid")


def duration_seconds(value: str) -> float:
    """`6h` -> 21600.0; a month counts as 30 days. `value` must already be a valid Duration."""
    match = re.match(r"^(\d+)(mo|s|m|h|d|w)$", value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}[match.group(2)]
    return float(int(match.group(1)) * unit)


M = TypeVar("M", bound=BaseModel)

_PHRASES = {
    "float_parsing": "is not a number", "float_type": "is not a number",
    "int_parsing": "is not a whole number", "int_type": "is not a whole number",
    "int_from_float": "is not a whole number",
    "decimal_parsing": "is not a number", "decimal_type": "is not a number",
    "finite_number": "is not a finite number",
    "bool_parsing": "is not true or false", "bool_type": "is not true or false",
    "string_type": "is not a string", "dict_type": "is not a mapping", "model_type": "is not a mapping",
    "model_attributes_type": "is not a mapping", "list_type": "is not a list",
    "extra_forbidden": "is not a known key",
}


def validate(
    model: type[M], data: Any, path: KeyPath, problems: Problems, from_env: dict[KeyPath, str]
) -> M | None:
    """`model` built from `data`, or None after recording one error line per invalid value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            at = (*path, *err["loc"])
            problems.error(at, describe(err["type"], err.get("ctx"), err["msg"],
                                        _shown(err.get("input"), at, from_env)))
        return None


def describe(kind: str, ctx: dict[str, Any] | None, msg: str, shown: str) -> str:
    if kind == "missing":
        return "is required but missing"
    if kind == "value_error" and ctx and "error" in ctx:
        return f"{shown} {ctx['error']}"
    return f"{shown} {_PHRASES.get(kind, msg[:1].lower() + msg[1:])}"


def _shown(value: Any, at: KeyPath, from_env: dict[KeyPath, str]) -> str:
    """How a value appears in a message: never a secret, never a value that came from the environment."""
    if at in from_env:
        return f"the value of {from_env[at]}"
    if is_sensitive(at):
        return "the value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    return str(value)

