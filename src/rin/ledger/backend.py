"""The seam between the ledger and a database engine: one small interface, two implementations
(`sqlite.py`, `postgres.py`, which import this module), chosen by the `database_url` scheme in
`engines.py`; the helpers both engines share."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from rin.errors import ServiceUnavailable
from rin.ledger.row import Values

ReportBy = Literal["model", "provider", "day", "user", "key", "endpoint"]
REPORT_BY: tuple[str, ...] = ("model", "provider", "day", "user", "key", "endpoint")

#: the rin_keys columns, in table order; the only names that reach SQL text. The table holds
#: rin.keys' records (`VirtualKey.to_row`), but its schema is the database's, like every table's:
#: rin.keys reaches it through these engines, never the other way round.
KEY_COLUMNS: tuple[str, ...] = (
    "key_hash", "key_alias", "preview", "models", "max_budget", "budget_duration", "rpm_limit",
    "tpm_limit", "expires_at", "metadata", "created_at", "updated_at", "revoked_at",
)


class LedgerUnavailable(ServiceUnavailable):
    """The spend database can't be reached or written; the message never carries a password.
    Every engine exception becomes this, in the backends only."""


@dataclass(frozen=True, slots=True)
class Filters:
    """Row filters shared by the report queries; None means "any"."""

    model: str | None = None
    provider: str | None = None
    deployment_id: str | None = None
    user: str | None = None
    api_key_hash: str | None = None
    endpoint: str | None = None
    start: datetime | None = None
    end: datetime | None = None


class Backend(Protocol):
    """What the ledger needs from an engine. Each call either succeeds or raises LedgerUnavailable."""

    #: where rows go, password removed: safe for logs
    label: str

    async def open(self) -> None:
        """Connects and applies migrations."""
        ...

    async def write(self, rows: list[Values]) -> None:
        """Inserts the rows in one transaction; a request_id already present is skipped."""
        ...

    async def logs(self, filters: Filters, limit: int) -> list[dict[str, Any]]: ...

    async def report(self, by: ReportBy, filters: Filters) -> list[dict[str, Any]]:
        """One dict per group: the key under `by`, requests, errors, unpriced, token sums, cost."""
        ...

    async def spent(self, filters: Filters) -> Decimal: ...

    async def close(self) -> None: ...


#: the niceness of the ledger's own threads: bookkeeping yields the CPU to requests
BACKGROUND_NICE = 10


def yield_cpu() -> None:
    """Lowers the calling thread's CPU priority (Linux only, where it is per thread). On a busy
    machine the kernel then runs the event loop first and the ledger's SQLite work in what is
    left, rather than letting a batch write take the core from request handling. The writer still
    gets a fair share (about a tenth of a core against one busy thread), far above what it needs."""
    if sys.platform == "linux":
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        except OSError:
            pass  # a container may forbid it; then the thread runs at normal priority


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str, url: str) -> str:
    """`text` with the URL's password (if any) masked: engine messages may echo the DSN."""
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def sqlite_path(url: str) -> Path | None:
    """`sqlite:///rel/x.db` -> `rel/x.db` (relative to the working directory), `sqlite:////abs/x.db`
    -> `/abs/x.db`; None for a URL that isn't SQLite."""
    if not url.startswith("sqlite://"):
        return None
    path = urlsplit(url).path
    if not path.startswith("/") or len(path) < 2:
        raise ValueError(f"database_url {url!r}: expected sqlite:///relative/path.db or sqlite:////abs/path.db")
    path = path[1:]
    if path == ":memory:":
        raise ValueError("database_url: an in-memory SQLite database would lose the spend log; name a file")
    return Path(path)


def where(
    filters: Filters, mark: Callable[[int], str], when: Callable[[datetime], Any]
) -> tuple[str, list[Any]]:
    """A parameterised WHERE clause: `mark(n)` writes the n-th placeholder (`?` or `$n`), `when`
    converts a datetime to the engine's parameter type. Only fixed column names reach the SQL text."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("model", filters.model), ("provider", filters.provider),
                          ("deployment_id", filters.deployment_id), ('"user"', filters.user),
                          ("api_key_hash", filters.api_key_hash), ("endpoint", filters.endpoint)):
        if value is not None:
            params.append(value)
            clauses.append(f"{column} = {mark(len(params))}")
    for op, moment in ((">=", filters.start), ("<", filters.end)):
        if moment is not None:
            params.append(when(moment))
            clauses.append(f"created_at {op} {mark(len(params))}")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def report_row(key: str, by: str, values: tuple[Any, ...]) -> dict[str, Any]:
    """Names one aggregate row: (requests, errors, unpriced, prompt, completion, total, cost)."""
    requests, errors, unpriced, prompt, completion, total, cost = values
    return {
        by: key, "requests": int(requests), "errors": int(errors or 0), "unpriced": int(unpriced or 0),
        "prompt_tokens": int(prompt or 0), "completion_tokens": int(completion or 0),
        "total_tokens": int(total or 0), "cost": Decimal(str(cost if cost is not None else 0)),
    }


def sort_report(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Days in calendar order; everything else most expensive first."""
    if by == "day":
        return sorted(rows, key=lambda r: r["day"] or "")
    return sorted(rows, key=lambda r: (-r["cost"], str(r[by])))
