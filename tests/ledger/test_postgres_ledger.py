"""The PostgreSQL ledger against the local server (127.0.0.1:5432, database `test`). Each test gets
its own schema and login role, both dropped afterwards."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from rin.ledger import Ledger
from tests.conftest import require_service
from tests.ledger.support import T0, eventually, messages, row

asyncpg = pytest.importorskip("asyncpg")
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "s3cret-pw"  # trust auth ignores it; it is here to prove it never reaches a log

pytestmark = pytest.mark.services


@dataclass
class Pg:
    schema: str
    role: str
    url: str

    async def admin(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(ADMIN, server_settings={"search_path": self.schema})
        try:
            result: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return result
        finally:
            await conn.close()


async def _reachable() -> str | None:
    try:
        conn = await asyncpg.connect(ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        return f"{type(err).__name__}: {err}"
    await conn.close()
    return None


@pytest.fixture
def pg() -> Iterator[Pg]:
    why = asyncio.run(_reachable())
    require_service("PostgreSQL", why is None, why or "")
    name = f"rin_test_{uuid.uuid4().hex[:12]}"
    setup = Pg(name, name, f"postgresql://{name}:{PASSWORD}@127.0.0.1:5432/test?options=-csearch_path%3D{name}")

    async def create() -> None:
        conn = await asyncpg.connect(ADMIN)
        try:
            await conn.execute(f"CREATE ROLE {name} LOGIN")
            await conn.execute(f"CREATE SCHEMA {name}")
            await conn.execute(f"GRANT USAGE, CREATE ON SCHEMA {name} TO {name}")
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(ADMIN)
        try:
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name)
            await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            await conn.execute(f"DROP OWNED BY {name}")
            await conn.execute(f"DROP ROLE IF EXISTS {name}")
        finally:
            await conn.close()

    asyncio.run(create())
    try:
        yield setup
    finally:
        asyncio.run(drop())


#: the migrated schema; changing it takes a new migration and a deliberate edit here
PINNED_COLUMNS = [
    ("request_id", "text", "NO"), ("created_at", "timestamp with time zone", "NO"), ("model", "text", "NO"),
    ("requested_model", "text", "NO"), ("provider", "text", "YES"), ("provider_model", "text", "YES"),
    ("prompt_tokens", "bigint", "NO"), ("completion_tokens", "bigint", "NO"), ("total_tokens", "bigint", "NO"),
    ("cost", "numeric", "NO"), ("cost_source", "text", "NO"), ("status", "text", "NO"),
    ("attempts", "integer", "NO"), ("fallback_from", "text", "YES"), ("cache_hit", "boolean", "NO"),
    ("stream", "boolean", "NO"), ("latency_ms", "double precision", "YES"), ("user", "text", "YES"),
    ("api_key_hash", "text", "YES"), ("deployment_id", "text", "YES"), ("error_type", "text", "YES"),
    ("cached_tokens", "bigint", "NO"), ("reasoning_tokens", "bigint", "NO"), ("endpoint", "text", "YES"),
    ("billed_quantity", "double precision", "YES"), ("billed_unit", "text", "YES"),
]

PINNED_KEY_COLUMNS = [
    ("key_hash", "text", "NO"), ("key_alias", "text", "YES"), ("preview", "text", "NO"),
    ("models", "ARRAY", "NO"), ("max_budget", "numeric", "YES"), ("budget_duration", "text", "YES"),
    ("rpm_limit", "bigint", "YES"), ("tpm_limit", "bigint", "YES"),
    ("expires_at", "timestamp with time zone", "YES"), ("metadata", "jsonb", "NO"),
    ("created_at", "timestamp with time zone", "NO"), ("updated_at", "timestamp with time zone", "NO"),
    ("revoked_at", "timestamp with time zone", "YES"),
]

PINNED_RESPONSE_COLUMNS = [
    ("id", "text", "NO"), ("owner", "text", "NO"), ("created_at", "timestamp with time zone", "NO"),
    ("model", "text", "YES"), ("response", "bytea", "NO"), ("items", "bytea", "NO"),
]


def test_postgres_ledger_writes_once_sums_exactly_and_reports(pg: Pg, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = Ledger(pg.url, spill_dir=tmp_path)
        await ledger.start()
        for i in range(1000):
            ledger.record(row(i, cost=Decimal("0.0000001")))
        ledger.record(row(5, cost=Decimal("9")))  # a duplicate request_id
        ledger.record(row(2000, model="claude", provider="anthropic", user="bob", cost=Decimal("1.5"),
                          created_at="2026-03-05T10:00:00.000000Z", cache_hit=True, endpoint="messages"))
        await eventually(lambda: ledger.pending == 0, what="the writer to drain the buffer")
        assert await ledger.spent_since(None, model="gpt-4o") == Decimal("0.0001")
        assert await ledger.spent_since(T0 + timedelta(days=1)) == Decimal("1.5")
        assert await ledger.spent_since(T0, user="bob", provider="anthropic") == Decimal("1.5")
        assert await ledger.spent_since(T0, deployment_id="dep-a") == Decimal("1.5001")
        by_model = await ledger.report("model")
        assert [(r["model"], r["cost"], r["requests"]) for r in by_model] == [
            ("claude", Decimal("1.5"), 1), ("gpt-4o", Decimal("0.0001"), 1000)]
        assert [(r["day"], r["requests"]) for r in await ledger.report("day")] == [
            ("2026-03-01", 1000), ("2026-03-05", 1)]
        latest = await ledger.logs(limit=2)
        assert [r["request_id"] for r in latest] == ["req-002000", "req-000999"]
        assert latest[0]["created_at"] == "2026-03-05T10:00:00.000000Z" and latest[0]["cache_hit"] is True
        assert [r["request_id"] for r in await ledger.logs(user="bob")] == ["req-002000"]
        assert [r["request_id"] for r in await ledger.logs(endpoint="messages")] == ["req-002000"]
        assert latest[0]["endpoint"] == "messages" and latest[1]["endpoint"] == "chat"
        assert [(r["endpoint"], r["requests"]) for r in await ledger.report("endpoint")] == [
            ("messages", 1), ("chat", 1000)]
        await ledger.close()

        # The guide's statements, run as written.
        totals = await pg.admin("SELECT model, SUM(cost) as total_cost FROM spend_log GROUP BY model ORDER BY model")
        assert [(r["model"], r["total_cost"]) for r in totals] == [
            ("claude", Decimal("1.5")), ("gpt-4o", Decimal("0.0001000"))]
        assert len(await pg.admin("SELECT * FROM spend_log ORDER BY created_at DESC LIMIT 10")) == 10
        assert (await pg.admin("SELECT COUNT(*) FROM spend_log"))[0][0] == 1001
        columns = await pg.admin(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'spend_log' ORDER BY ordinal_position", pg.schema)
        assert [tuple(c) for c in columns] == PINNED_COLUMNS
        indexes = await pg.admin("SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY 1", pg.schema)
        assert [i[0] for i in indexes] == ["rin_keys_alias", "rin_keys_pkey", "rin_migrations_pkey",
                                          "rin_responses_created_at", "rin_responses_pkey",
                                          "spend_log_api_key_hash", "spend_log_created_at", "spend_log_model",
                                          "spend_log_pkey", "spend_log_user"]
        keys = await pg.admin(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'rin_keys' ORDER BY ordinal_position", pg.schema)
        assert [tuple(c) for c in keys] == PINNED_KEY_COLUMNS
        responses = await pg.admin(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'rin_responses' ORDER BY ordinal_position", pg.schema)
        assert [tuple(c) for c in responses] == PINNED_RESPONSE_COLUMNS
        alias_index = await pg.admin("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 "
                                     "AND indexname = 'rin_keys_alias'", pg.schema)
        assert alias_index[0][0].endswith("USING btree (key_alias) WHERE (revoked_at IS NULL)")
        assert [r[0] for r in await pg.admin("SELECT name FROM rin_migrations ORDER BY name")] == [
            "m001_spend_log", "m002_rin_keys", "m004_spend_log_endpoint", "m005_rin_responses",
            "m006_spend_log_billed_quantity"]

    asyncio.run(main())


def test_postgres_refusing_the_ledger_buffers_rows_until_it_lets_it_back_in(
    pg: Pg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server drops the ledger's connections and refuses its role new ones, then relents."""
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        ledger = Ledger(pg.url, spill_dir=tmp_path, retry_initial=0.05, retry_max=0.2)
        await ledger.start()
        ledger.record(row(0))
        assert await ledger.flush()

        await pg.admin(f"ALTER ROLE {pg.role} NOLOGIN")
        await pg.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", pg.role)
        for i in range(1, 201):
            ledger.record(row(i))
        await eventually(lambda: not ledger.healthy and ledger.spilled == 200, what="rows to reach the spill file")
        await asyncio.sleep(0.5)  # several failed retries, one log line

        await pg.admin(f"ALTER ROLE {pg.role} LOGIN")
        await eventually(lambda: ledger.pending == 0 and ledger.healthy, what="recovery")
        await ledger.close()
        assert (await pg.admin("SELECT COUNT(*) FROM spend_log"))[0][0] == 201

    asyncio.run(main())
    assert len(messages(caplog, "database unavailable")) == 1
    assert len(messages(caplog, "database recovered")) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in logged and ":***@127.0.0.1" in logged
