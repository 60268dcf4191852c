"""The PostgreSQL ledger's schema: named migrations, in order, each applied once per database and
recorded in `rin_migrations`, under an advisory lock so that instances starting together take turns.
Names match the SQLite ones (rin.ledger.sqlite_migrations) that make the same change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

Migration = Callable[[asyncpg.Connection], Awaitable[None]]

#: schema changes, in order; each runs once per database and is recorded in rin_migrations
MIGRATIONS: list[Migration] = []
#: pg_advisory_xact_lock key serialising migrations across instances starting together ("RINL")
_MIGRATION_LOCK = 0x52494E4C


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
async def m001_spend_log(db: asyncpg.Connection) -> None:
    await db.execute("""
        CREATE TABLE spend_log (
            request_id TEXT PRIMARY KEY,
            created_at TIMESTAMPTZ NOT NULL,
            model TEXT NOT NULL,
            requested_model TEXT NOT NULL,
            provider TEXT,
            provider_model TEXT,
            prompt_tokens BIGINT NOT NULL DEFAULT 0,
            completion_tokens BIGINT NOT NULL DEFAULT 0,
            total_tokens BIGINT NOT NULL DEFAULT 0,
            cost NUMERIC NOT NULL DEFAULT 0,
            cost_source TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1,
            fallback_from TEXT,
            cache_hit BOOLEAN NOT NULL DEFAULT FALSE,
            stream BOOLEAN NOT NULL DEFAULT FALSE,
            latency_ms DOUBLE PRECISION,
            "user" TEXT,
            api_key_hash TEXT,
            deployment_id TEXT,
            error_type TEXT,
            cached_tokens BIGINT NOT NULL DEFAULT 0,
            reasoning_tokens BIGINT NOT NULL DEFAULT 0
        )""")
    await db.execute("CREATE INDEX spend_log_created_at ON spend_log (created_at)")
    await db.execute("CREATE INDEX spend_log_model ON spend_log (model, created_at)")
    await db.execute('CREATE INDEX spend_log_user ON spend_log ("user", created_at)')


@migration
async def m002_rin_keys(db: asyncpg.Connection) -> None:
    """Virtual keys (rin.keys): only the SHA-256 of each key is stored. An alias names one live key;
    a revoked key frees it."""
    await db.execute("""
        CREATE TABLE rin_keys (
            key_hash TEXT PRIMARY KEY,
            key_alias TEXT,
            preview TEXT NOT NULL,
            models TEXT[] NOT NULL DEFAULT '{}',
            max_budget NUMERIC,
            budget_duration TEXT,
            rpm_limit BIGINT,
            tpm_limit BIGINT,
            expires_at TIMESTAMPTZ,
            metadata JSONB NOT NULL DEFAULT '{}',
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            revoked_at TIMESTAMPTZ
        )""")
    await db.execute("CREATE UNIQUE INDEX rin_keys_alias ON rin_keys (key_alias) WHERE revoked_at IS NULL")
    await db.execute("CREATE INDEX spend_log_api_key_hash ON spend_log (api_key_hash, created_at)")


# m003 is SQLite's alone (partial indexes); names stay aligned across engines, so the next is m004.
@migration
async def m004_spend_log_endpoint(db: asyncpg.Connection) -> None:
    """The client protocol of each request (rin.codecs); rows from before it came in through chat.
    A constant default: PostgreSQL 11+ adds the column without rewriting the table."""
    await db.execute("ALTER TABLE spend_log ADD COLUMN endpoint TEXT DEFAULT 'chat'")


@migration
async def m005_rin_responses(db: asyncpg.Connection) -> None:
    """Stored Responses API responses (rin.store.responses), each readable by its owner only: the
    Response JSON and the conversation as input items, both as orjson bytes."""
    await db.execute("""
        CREATE TABLE rin_responses (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            model TEXT,
            response BYTEA NOT NULL,
            items BYTEA NOT NULL
        )""")
    await db.execute("CREATE INDEX rin_responses_created_at ON rin_responses (created_at, id)")


@migration
async def m006_spend_log_billed_quantity(db: asyncpg.Connection) -> None:
    """What a media request was billed by besides tokens (seconds of audio, characters, images,
    search units) and how much; NULL for rows before it and for token-only requests."""
    await db.execute("ALTER TABLE spend_log ADD COLUMN billed_quantity DOUBLE PRECISION, "
                     "ADD COLUMN billed_unit TEXT")


async def migrate(db: asyncpg.Connection) -> None:
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await db.execute("CREATE TABLE IF NOT EXISTS rin_migrations "
                         "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        done = {r["name"] for r in await db.fetch("SELECT name FROM rin_migrations")}
        for fn in MIGRATIONS:
            if fn.__name__ not in done:
                await fn(db)
                await db.execute("INSERT INTO rin_migrations (name) VALUES ($1)", fn.__name__)
