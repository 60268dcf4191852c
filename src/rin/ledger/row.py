"""One `spend_log` row: what one client request cost (never one per attempt)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from operator import attrgetter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from rin.money import decimal_text
from rin.types import CostSource

Status = Literal["success", "error", "cancelled"]

COST_SOURCES: frozenset[str] = frozenset({"config", "provider", "catalog", "builtin", "unpriced"})
STATUSES: frozenset[str] = frozenset({"success", "error", "cancelled"})
#: what a media request is billed by besides tokens (rin.types.Usage's fields of the same names)
BILLED_UNITS: frozenset[str] = frozenset({"seconds", "characters", "images", "search_units"})

#: the table's columns, in table order (DESIGN.md's contract first, then RIN's additions)
COLUMNS: tuple[str, ...] = (
    "request_id", "created_at", "model", "requested_model", "provider", "provider_model",
    "prompt_tokens", "completion_tokens", "total_tokens", "cost", "cost_source", "status",
    "attempts", "fallback_from", "cache_hit", "stream", "latency_ms", "user", "api_key_hash",
    "deployment_id", "error_type", "cached_tokens", "reasoning_tokens", "endpoint", "billed_quantity",
    "billed_unit",
)
#: the columns as SQL names ("user" is a keyword in PostgreSQL, and quoted in SQLite too)
QUOTED: tuple[str, ...] = tuple('"user"' if c == "user" else c for c in COLUMNS)


def iso_utc(moment: datetime) -> str:
    """`2026-01-31T12:00:00.000123Z`: fixed width, so text order is time order. Naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_second: list[Any] = [-1, ""]


def utc_now() -> str:
    """`iso_utc` of now, formatting the date part once per second (it runs once per request)."""
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second[0] = whole
        _second[1] = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{_second[1]}{int((now - whole) * 1_000_000):06d}Z"


@dataclass(slots=True, kw_only=True)
class SpendRow:
    """A finished client request. `cost` is USD as an exact Decimal; `created_at` comes from
    `iso_utc` / `utc_now`."""

    request_id: str
    model: str
    requested_model: str
    created_at: str = field(default_factory=utc_now)
    provider: str | None = None
    provider_model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)
    cost_source: CostSource = "unpriced"
    status: Status = "success"
    attempts: int = 1
    fallback_from: str | None = None
    cache_hit: bool = False
    stream: bool = False
    latency_ms: float = 0.0
    user: str | None = None
    api_key_hash: str | None = None
    #: the answering Deployment.id, so per-deployment budget windows can be rebuilt at startup
    deployment_id: str | None = None
    #: RIN's error class name for status "error" / "cancelled"
    error_type: str | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    #: the client protocol the request came in through (rin.codecs): "chat", "embeddings", "messages",
    #: "responses", "completions", ...
    endpoint: str = "chat"
    #: the quantity a media request was billed by, in `billed_unit` (one of BILLED_UNITS); None for
    #: requests measured in tokens only
    billed_quantity: float | None = None
    billed_unit: str | None = None

    def __post_init__(self) -> None:
        # Wiring mistakes surface at the call site, not as a poisoned batch later.
        if not isinstance(self.cost, Decimal):
            raise TypeError(f"SpendRow.cost must be a Decimal, not {type(self.cost).__name__}")
        if self.cost_source not in COST_SOURCES:
            raise ValueError(f"SpendRow.cost_source {self.cost_source!r} is not one of {sorted(COST_SOURCES)}")
        if self.status not in STATUSES:
            raise ValueError(f"SpendRow.status {self.status!r} is not one of {sorted(STATUSES)}")
        if self.billed_unit is not None and self.billed_unit not in BILLED_UNITS:
            raise ValueError(f"SpendRow.billed_unit {self.billed_unit!r} is not one of {sorted(BILLED_UNITS)}")

    def values(self) -> Values:
        """The row as the ledger carries it: its values in COLUMNS order."""
        return _VALUES(self)

    @classmethod
    def from_values(cls, values: Values) -> SpendRow:
        return cls(**dict(zip(COLUMNS, values, strict=True)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: cost as its exact decimal string."""
        return values_dict(self.values())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpendRow:
        values = {name: data[name] for name in COLUMNS if name in data}
        values["cost"] = Decimal(str(values.get("cost", "0")))
        return cls(**values)


#: a spend row as the ledger carries it from the request path to the database: a plain tuple in
#: COLUMNS order (built without a SpendRow on the hot path, rin.runtime; `SpendRow.values()` else)
Values = tuple[Any, ...]
_VALUES = attrgetter(*COLUMNS)
COST = COLUMNS.index("cost")


def values_dict(values: Values) -> dict[str, Any]:
    """JSON-safe: cost as its exact decimal string (the spill file's lines)."""
    out = dict(zip(COLUMNS, values, strict=True))
    out["cost"] = decimal_text(out["cost"])
    return out
