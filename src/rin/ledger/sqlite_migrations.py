"""The SQLite ledger's schema: named migrations, in order, each applied once per database and
recorded in `rin_migrations` (tests pin the resulting schema). The tables are spend_log (rin.ledger),
rin_keys (rin.keys) and rin_responses (rin.store). A new migration keeps the name of the PostgreSQL
one that makes the same change (rin.ledger.postgres_migrations)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import suppress

from rin.ledger.row import utc_now

#: schema changes, in order; each runs once per database and is recorded in rin_migrations
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []


def migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_spend_log(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE spend_log (
            request_id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            model TEXT NOT NULL,
            requested_model TEXT NOT NULL,
            provider TEXT,
            provider_model TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            total_tokens INTEGER NOT NULL DEFAULT 0,
            cost TEXT NOT NULL DEFAULT '0',
            cost_source TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1,
            fallback_from TEXT,
            cache_hit INTEGER NOT NULL DEFAULT 0,
            stream INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL,
            "user" TEXT,
            api_key_hash TEXT,
            deployment_id TEXT,
            error_type TEXT,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("CREATE INDEX spend_log_created_at ON spend_log (created_at)")
    db.execute("CREATE INDEX spend_log_model ON spend_log (model, created_at)")
    db.execute('CREATE INDEX spend_log_user ON spend_log ("user", created_at)')


@migration
def m002_rin_keys(db: sqlite3.Connection) -> None:
    """Virtual keys (rin.keys): only the SHA-256 of each key is stored. Models and metadata are JSON
    text, max_budget exact decimal text. An alias names one live key; a revoked key frees it."""
    db.execute("""
        CREATE TABLE rin_keys (
            key_hash TEXT PRIMARY KEY,
            key_alias TEXT,
            preview TEXT NOT NULL,
            models TEXT NOT NULL DEFAULT '[]',
            max_budget TEXT,
            budget_duration TEXT,
            rpm_limit INTEGER,
            tpm_limit INTEGER,
            expires_at TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            revoked_at TEXT
        )""")
    db.execute("CREATE UNIQUE INDEX rin_keys_alias ON rin_keys (key_alias) WHERE revoked_at IS NULL")
    db.execute("CREATE INDEX spend_log_api_key_hash ON spend_log (api_key_hash, created_at)")


@migration
def m003_partial_indexes(db: sqlite3.Connection) -> None:
    """The user and key indexes only hold rows that have a user or a key: a request without one
    (the common case for scripts) then updates four B-trees, not six. Queries filtering on either
    (`"user" = ?`, `api_key_hash = ?`, `... IS NOT NULL`) still use them."""
    db.execute("DROP INDEX IF EXISTS spend_log_user")
    db.execute('CREATE INDEX spend_log_user ON spend_log ("user", created_at) WHERE "user" IS NOT NULL')
    db.execute("DROP INDEX IF EXISTS spend_log_api_key_hash")
    db.execute("CREATE INDEX spend_log_api_key_hash ON spend_log (api_key_hash, created_at) "
               "WHERE api_key_hash IS NOT NULL")


@migration
def m004_spend_log_endpoint(db: sqlite3.Connection) -> None:
    """The client protocol of each request (rin.codecs); rows from before it came in through chat.
    Nullable, so a row a future caller leaves without one is stored rather than failing its batch."""
    db.execute("ALTER TABLE spend_log ADD COLUMN endpoint TEXT DEFAULT 'chat'")


@migration
def m005_rin_responses(db: sqlite3.Connection) -> None:
    """Stored Responses API responses (rin.store.responses), each readable by its owner only: the
    Response JSON and the conversation as input items, both as orjson bytes."""
    db.execute("""
        CREATE TABLE rin_responses (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            created_at TEXT NOT NULL,
            model TEXT,
            response BLOB NOT NULL,
            items BLOB NOT NULL
        )""")
    db.execute("CREATE INDEX rin_responses_created_at ON rin_responses (created_at, id)")


@migration
def m006_spend_log_billed_quantity(db: sqlite3.Connection) -> None:
    """What a media request was billed by besides tokens (seconds of audio, characters, images,
    search units) and how much; NULL for rows before it and for token-only requests."""
    db.execute("ALTER TABLE spend_log ADD COLUMN billed_quantity REAL")
    db.execute("ALTER TABLE spend_log ADD COLUMN billed_unit TEXT")


def migrate(db: sqlite3.Connection) -> None:
    """Applies the missing migrations in one transaction (BEGIN IMMEDIATE: two workers starting at
    once take turns instead of both creating the table)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS rin_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {name for (name,) in db.execute("SELECT name FROM rin_migrations")}
        for fn in MIGRATIONS:
            if fn.__name__ not in done:
                fn(db)
                db.execute("INSERT INTO rin_migrations (name, applied_at) VALUES (?, ?)", (fn.__name__, utc_now()))
        db.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
