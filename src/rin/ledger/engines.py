"""The engine for a `database_url`: SQLite or PostgreSQL. The backends import the interface
(backend.py); this module, beside them, is the only one that knows both."""

from __future__ import annotations

from urllib.parse import urlsplit

from rin.ledger.backend import Backend, redact_url, sqlite_path


def open_backend(url: str, *, busy_timeout: float = 5.0, connect_timeout: float = 5.0) -> Backend:
    """The backend for `url`. Opening is lazy: an unreachable database is not an error here."""
    path = sqlite_path(url)
    if path is not None:
        from rin.ledger.sqlite import SqliteBackend

        return SqliteBackend(path, busy_timeout=busy_timeout)
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres"):
        from rin.ledger.postgres import PostgresBackend  # asyncpg: imported only when configured

        return PostgresBackend(url, connect_timeout=connect_timeout)
    raise ValueError(
        f"database_url {redact_url(url)!r}: unsupported scheme {scheme!r}; "
        "use sqlite:///path.db or postgresql://user@host:5432/db"
    )
