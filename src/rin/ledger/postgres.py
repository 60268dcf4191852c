"""The PostgreSQL ledger, for several RIN instances sharing one spend log.

asyncpg rather than psycopg 3: it is asyncio-native (no thread hop per batch), its `executemany`
pipelines a whole batch in one round trip, and its wheels need no system libpq. Money is NUMERIC,
so `SUM(cost)` is exact in SQL. Extra server settings ride in the URL's query string, e.g.
`postgresql://rin@db:5432/rin?options=-csearch_path%3Dledger`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from rin.ledger.backend import (
    KEY_COLUMNS,
    Filters,
    LedgerUnavailable,
    ReportBy,
    redact_url,
    report_row,
    scrub,
    sort_report,
    where,
)
from rin.ledger.postgres_migrations import migrate
from rin.ledger.row import COLUMNS, QUOTED as _QUOTED, Values, iso_utc

_INSERT = (f"INSERT INTO spend_log ({', '.join(_QUOTED)}) "
           f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
           "ON CONFLICT (request_id) DO NOTHING")
_SELECT = f"SELECT {', '.join(_QUOTED)} FROM spend_log"
_GROUP_KEY = {"model": "model", "provider": "provider", "user": '"user"', "key": "api_key_hash",
              "endpoint": "endpoint", "day": "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"}
_AGGREGATES = ("COUNT(*), COUNT(*) FILTER (WHERE status = 'error'), "
               "COUNT(*) FILTER (WHERE cost_source = 'unpriced'), SUM(prompt_tokens), "
               "SUM(completion_tokens), SUM(total_tokens), COALESCE(SUM(cost), 0)")
_CREATED = COLUMNS.index("created_at")
#: engine and network failures, all of which mean "not now"
_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def _params(row: Values) -> tuple[Any, ...]:
    values = list(row)
    values[_CREATED] = datetime.fromisoformat(row[_CREATED])
    return tuple(values)


def _record(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(zip(COLUMNS, record, strict=True))
    out["created_at"] = iso_utc(out["created_at"])
    return out


_KEY_INSERT = (f"INSERT INTO rin_keys ({', '.join(KEY_COLUMNS)}) "
               f"VALUES ({', '.join(f'${i}' for i in range(1, len(KEY_COLUMNS) + 1))}) ON CONFLICT DO NOTHING")
_KEY_SELECT = f"SELECT {', '.join(KEY_COLUMNS)} FROM rin_keys"


def _key_value(column: str, value: Any) -> Any:
    """asyncpg maps lists to TEXT[], Decimal to NUMERIC, datetimes to TIMESTAMPTZ; JSONB takes text."""
    return orjson.dumps(value).decode() if column == "metadata" and value is not None else value


def _key_record(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(zip(KEY_COLUMNS, record, strict=True))
    out["metadata"] = orjson.loads(out["metadata"])
    return out


_RESPONSE_PUT = ("INSERT INTO rin_responses (id, owner, created_at, model, response, items) "
                 "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, "
                 "created_at = EXCLUDED.created_at, model = EXCLUDED.model, response = EXCLUDED.response, "
                 "items = EXCLUDED.items")
#: the newest row past the `keep` newest, and every row older than it (index rin_responses_created_at)
_RESPONSE_PRUNE = ("DELETE FROM rin_responses WHERE (created_at, id) <= (SELECT created_at, id FROM rin_responses "
                   "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $1)")


class PostgresBackend:
    def __init__(self, url: str, *, connect_timeout: float = 5.0, command_timeout: float = 30.0) -> None:
        self._url = url
        self.label = redact_url(url)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._migrated = False

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, migrations applied; every engine failure becomes LedgerUnavailable."""
        try:
            if self._pool is None:
                # min_size=0: creating the pool connects nowhere, so a down server is found (and
                # retried) at the first use instead of failing startup.
                self._pool = await asyncpg.create_pool(
                    self._url, min_size=0, max_size=4, timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                )
            async with self._pool.acquire() as conn:
                if not self._migrated:
                    await migrate(conn)
                    self._migrated = True
                yield conn
        except _FAILURES as err:
            message = scrub(f"{type(err).__name__}: {err}", self._url)
            raise LedgerUnavailable(f"{self.label}: {message}") from err

    async def open(self) -> None:
        async with self._conn():
            pass

    async def write(self, rows: list[Values]) -> None:
        async with self._conn() as conn, conn.transaction():
            await conn.executemany(_INSERT, [_params(row) for row in rows])

    async def _fetch(self, sql: str, params: list[Any]) -> list[asyncpg.Record]:
        async with self._conn() as conn:
            result: list[asyncpg.Record] = await conn.fetch(sql, *params)
            return result

    @staticmethod
    def _where(filters: Filters) -> tuple[str, list[Any]]:
        return where(filters, lambda n: f"${n}", lambda moment: datetime.fromisoformat(iso_utc(moment)))

    async def logs(self, filters: Filters, limit: int) -> list[dict[str, Any]]:
        clause, params = self._where(filters)
        sql = f"{_SELECT}{clause} ORDER BY created_at DESC LIMIT ${len(params) + 1}"
        return [_record(r) for r in await self._fetch(sql, [*params, limit])]

    async def report(self, by: ReportBy, filters: Filters) -> list[dict[str, Any]]:
        clause, params = self._where(filters)
        rows = await self._fetch(f"SELECT {_GROUP_KEY[by]}, {_AGGREGATES} FROM spend_log{clause} GROUP BY 1",
                                 params)
        return sort_report([report_row(r[0], by, tuple(r)[1:]) for r in rows], by)

    async def spent(self, filters: Filters) -> Decimal:
        clause, params = self._where(filters)
        rows = await self._fetch(f"SELECT COALESCE(SUM(cost), 0) FROM spend_log{clause}", params)
        return Decimal(rows[0][0])

    async def key_insert(self, row: dict[str, Any]) -> bool:
        """Adds a rin_keys row; False when its hash or its live alias is already there."""
        async with self._conn() as conn:
            status = await conn.execute(_KEY_INSERT, *[_key_value(c, row[c]) for c in KEY_COLUMNS])
        return bool(status == "INSERT 0 1")

    async def key_update(self, key_hash: str, changes: dict[str, Any]) -> bool:
        """Sets the given columns; False when the key is absent or the new alias is taken."""
        columns = [c for c in KEY_COLUMNS if c in changes and c != "key_hash"]
        if len(columns) != len(changes):
            raise ValueError(f"not rin_keys columns: {sorted(set(changes) - set(columns))}")
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=1))
        sql = f"UPDATE rin_keys SET {sets} WHERE key_hash = ${len(columns) + 1}"
        async with self._conn() as conn:
            try:
                status = await conn.execute(sql, *[_key_value(c, changes[c]) for c in columns], key_hash)
            except asyncpg.UniqueViolationError:
                return False
        return bool(status == "UPDATE 1")

    async def key_get(self, key_hash: str) -> dict[str, Any] | None:
        rows = await self._fetch(f"{_KEY_SELECT} WHERE key_hash = $1", [key_hash])
        return _key_record(rows[0]) if rows else None

    async def key_all(self) -> list[dict[str, Any]]:
        return [_key_record(r) for r in await self._fetch(f"{_KEY_SELECT} ORDER BY created_at, key_hash", [])]

    async def spent_by_key(self, since: datetime | None = None, key_hash: str | None = None) -> dict[str, Decimal]:
        """USD per api_key_hash in spend_log (since `since`, for one key if given)."""
        sql = "SELECT api_key_hash, SUM(cost) FROM spend_log WHERE api_key_hash IS NOT NULL"
        params: list[Any] = []
        if key_hash is not None:
            params.append(key_hash)
            sql += f" AND api_key_hash = ${len(params)}"
        if since is not None:
            params.append(datetime.fromisoformat(iso_utc(since)))
            sql += f" AND created_at >= ${len(params)}"
        rows = await self._fetch(sql + " GROUP BY api_key_hash", params)
        return {r[0]: Decimal(r[1]) for r in rows}

    async def response_put(self, rows: list[tuple[str, str, str, str | None, bytes, bytes]]) -> None:
        """Inserts or replaces rin_responses rows (id, owner, created_at, model, response, items), in
        one transaction."""
        params = [(i, owner, datetime.fromisoformat(at), model, response, items)
                  for i, owner, at, model, response, items in rows]
        async with self._conn() as conn, conn.transaction():
            await conn.executemany(_RESPONSE_PUT, params)

    async def response_get(self, response_id: str, owner: str) -> tuple[bytes, bytes] | None:
        """(response, items) of the caller's own response; None when absent or someone else's."""
        rows = await self._fetch("SELECT response, items FROM rin_responses WHERE id = $1 AND owner = $2",
                                 [response_id, owner])
        return (bytes(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def response_delete(self, response_id: str, owner: str) -> bool:
        async with self._conn() as conn:
            status = await conn.execute("DELETE FROM rin_responses WHERE id = $1 AND owner = $2", response_id, owner)
        return bool(status == "DELETE 1")

    async def response_prune(self, keep: int) -> int:
        """Deletes all but the newest `keep` responses; returns how many went."""
        async with self._conn() as conn:
            status: str = await conn.execute(_RESPONSE_PRUNE, keep)
        return int(status.rsplit(" ", 1)[1])

    async def close(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        try:
            await asyncio.wait_for(pool.close(), timeout=5.0)
        except (TimeoutError, *_FAILURES):
            pool.terminate()
