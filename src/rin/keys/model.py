"""A virtual key as RIN keeps it: the SHA-256 of the key, never the key itself, plus its limits."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

PREFIX = "sk-rin-"

_HASH = re.compile(r"^[0-9a-f]{64}$")
_SPAN = re.compile(r"^\s*(\d{1,9})\s*(mo|s|m|h|d|w)\s*$")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}


def generate_key() -> str:
    """A new key: 256 random bits after the `sk-rin-` prefix."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 hex of the whole key: what is stored, logged and looked up."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def preview_of(key: str) -> str:
    """`sk-rin-…a1b2`: enough to recognise a key, far too little to use it."""
    return f"{PREFIX}…{key[-4:]}"


def is_hash(text: str) -> bool:
    return _HASH.match(text) is not None


def key_hash_of(ref: str) -> str:
    """A reference to a key as admins send it: the key itself, or its hash (64 hex digits)."""
    return ref if is_hash(ref) else hash_key(ref)


def parse_span(text: str) -> timedelta:
    """`30d`, `24h`, `90m`, `2w`, `1mo` (30 days) -> timedelta; ValueError otherwise."""
    match = _SPAN.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a span such as 30d, 24h, 60m, 2w or 1mo")
    return timedelta(seconds=int(match.group(1)) * _SPAN_SECONDS[match.group(2)])


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """One key's record. `models` empty means every model; None limits mean unlimited."""

    key_hash: str
    preview: str
    alias: str | None = None
    models: tuple[str, ...] = ()
    max_budget: Decimal | None = None
    budget_duration: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    expires_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=now_utc)
    #: defaults to created_at
    updated_at: datetime | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.updated_at is None:
            object.__setattr__(self, "updated_at", self.created_at)

    @classmethod
    def new(cls, key: str, created_at: datetime | None = None, **fields: Any) -> VirtualKey:
        """The record for a freshly generated `key` (which is not kept)."""
        return cls(key_hash=hash_key(key), preview=preview_of(key), created_at=created_at or now_utc(), **fields)

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and not self.expired(now)

    def with_changes(self, **changes: Any) -> VirtualKey:
        return replace(self, **changes)

    def to_row(self) -> dict[str, Any]:
        """Column name -> Python value; each backend encodes them for its engine."""
        return {
            "key_hash": self.key_hash, "key_alias": self.alias, "preview": self.preview,
            "models": list(self.models), "max_budget": self.max_budget,
            "budget_duration": self.budget_duration, "rpm_limit": self.rpm, "tpm_limit": self.tpm,
            "expires_at": self.expires_at, "metadata": dict(self.metadata),
            "created_at": self.created_at, "updated_at": self.updated_at, "revoked_at": self.revoked_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> VirtualKey:
        return cls(
            key_hash=row["key_hash"], preview=row["preview"], alias=row["key_alias"],
            models=tuple(row["models"] or ()), max_budget=row["max_budget"],
            budget_duration=row["budget_duration"], rpm=row["rpm_limit"], tpm=row["tpm_limit"],
            expires_at=row["expires_at"], metadata=dict(row["metadata"] or {}),
            created_at=row["created_at"], updated_at=row["updated_at"], revoked_at=row["revoked_at"],
        )

    def info(self, spend: Decimal | None = None) -> dict[str, Any]:
        """LiteLLM's /key/info names. Money becomes a JSON number only here, at the edge."""
        def when(moment: datetime | None) -> str | None:
            return moment.isoformat().replace("+00:00", "Z") if moment else None

        out: dict[str, Any] = {
            "token": self.key_hash, "key_name": self.preview, "key_alias": self.alias,
            "models": list(self.models),
            "max_budget": float(self.max_budget) if self.max_budget is not None else None,
            "budget_duration": self.budget_duration, "rpm_limit": self.rpm, "tpm_limit": self.tpm,
            "expires": when(self.expires_at), "metadata": dict(self.metadata),
            "created_at": when(self.created_at), "updated_at": when(self.updated_at),
            "revoked_at": when(self.revoked_at), "blocked": self.revoked_at is not None,
        }
        if spend is not None:
            out["spend"] = float(spend)
        return out
