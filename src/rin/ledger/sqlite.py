"""The SQLite ledger (the default). The stdlib `sqlite3` module in two dedicated threads: a writer
owning one connection (WAL, synchronous=NORMAL, one transaction per batch) and a reader for reports,
so a report never waits behind a batch and the event loop never waits on either.

Money is TEXT holding the exact decimal string: SQLite has no decimal type, REAL would round, and
integer micro-dollars can't hold a price like $0.0000001 a token. `SUM(cost)` in the sqlite3 shell
still works (SQLite reads the text as a number); RIN's own sums use `decimal_sum`, exact."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import orjson

from rin.ledger.backend import (
    KEY_COLUMNS, Filters, LedgerUnavailable, ReportBy, report_row, sort_report, where, yield_cpu,
)
from rin.ledger.row import COLUMNS, COST, QUOTED as _QUOTED, Values, decimal_text, iso_utc
from rin.ledger.sqlite_migrations import migrate
from rin.ledger.writer import WriterProcess
from rin.spend_writer import insert_statement

T = TypeVar("T")

_INSERT = (f"INSERT OR IGNORE INTO spend_log ({', '.join(_QUOTED)}) "
           f"VALUES ({', '.join('?' * len(COLUMNS))})")
_SELECT = f"SELECT {', '.join(_QUOTED)} FROM spend_log"
_GROUP_KEY = {"model": "model", "provider": "provider", "user": '"user"', "key": "api_key_hash",
              "endpoint": "endpoint", "day": "substr(created_at, 1, 10)"}
_AGGREGATES = ("COUNT(*), SUM(status = 'error'), SUM(cost_source = 'unpriced'), SUM(prompt_tokens), "
               "SUM(completion_tokens), SUM(total_tokens), decimal_sum(cost)")


#: rows per INSERT statement. One multi-row statement is one sqlite3_step, so the writer thread
#: gives up and takes back the GIL once per statement instead of once per row (executemany), which
#: would make the event loop hand over the GIL hundreds of times per batch.
_ROWS_PER_STATEMENT = 32766 // len(COLUMNS) // 2


def _insert_many(count: int) -> str:
    return insert_statement(_QUOTED, count)


def _flat_params(rows: list[Values]) -> list[Any]:
    """Every row's values in table order, one flat list (for one multi-row INSERT); only the cost
    needs converting (bools bind as integers already)."""
    params: list[Any] = []
    extend, width = params.extend, len(COLUMNS)
    for row in rows:
        extend(row)
        params[len(params) - width + COST] = decimal_text(row[COST])
    return params


def _record(values: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(COLUMNS, values, strict=True))
    out["cost"] = Decimal(str(out["cost"]))
    out["cache_hit"] = bool(out["cache_hit"])
    out["stream"] = bool(out["stream"])
    return out


class _DecimalSum:
    """`decimal_sum(cost)`: an exact aggregate over the TEXT costs, returned as text."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += Decimal(str(value))

    def finalize(self) -> str:
        return decimal_text(self.total)


_KEY_INSERT = (f"INSERT INTO rin_keys ({', '.join(KEY_COLUMNS)}) VALUES ({', '.join('?' * len(KEY_COLUMNS))}) "
               "ON CONFLICT DO NOTHING")
_KEY_SELECT = f"SELECT {', '.join(KEY_COLUMNS)} FROM rin_keys"
_KEY_TIMES = frozenset({"expires_at", "created_at", "updated_at", "revoked_at"})


def _key_value(column: str, value: Any) -> Any:
    """A rin_keys value as SQLite stores it: JSON text, exact decimal text, ISO-8601 UTC text."""
    if value is None:
        return None
    if column in ("models", "metadata"):
        return orjson.dumps(value).decode()
    if column == "max_budget":
        return decimal_text(value)
    if column in _KEY_TIMES:
        return iso_utc(value)
    return value


def _key_record(values: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(KEY_COLUMNS, values, strict=True))
    out["models"] = orjson.loads(out["models"])
    out["metadata"] = orjson.loads(out["metadata"])
    if out["max_budget"] is not None:
        out["max_budget"] = Decimal(out["max_budget"])
    for column in _KEY_TIMES:
        if out[column] is not None:
            out[column] = datetime.fromisoformat(out[column])
    return out


_RESPONSE_PUT = ("INSERT OR REPLACE INTO rin_responses (id, owner, created_at, model, response, items) "
                 "VALUES (?, ?, ?, ?, ?, ?)")
_RESPONSE_GET = "SELECT response, items FROM rin_responses WHERE id = ? AND owner = ?"
#: the newest row past the `keep` newest, and every row older than it (index rin_responses_created_at)
_RESPONSE_PRUNE = ("DELETE FROM rin_responses WHERE (created_at, id) <= (SELECT created_at, id FROM rin_responses "
                   "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?)")


class SqliteBackend:
    def __init__(self, path: Path, *, busy_timeout: float = 5.0, writer_process: bool = True) -> None:
        self.path = path.absolute()
        self.label = f"sqlite:///{path}"
        self._busy_timeout = busy_timeout
        #: spend rows go to SQLite from a separate process (rin.ledger.writer: why), else the thread
        self.process = WriterProcess(self.path, self.label, busy_timeout) if writer_process else None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="rin-ledger-writer", initializer=yield_cpu)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="rin-ledger-reader", initializer=yield_cpu)
        self._wdb: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None

    async def _call(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except (sqlite3.Error, OSError) as err:
            raise LedgerUnavailable(f"{self.label}: {type(err).__name__}: {err}") from err

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                               check_same_thread=False)

    def _open_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            migrate(db)
        except BaseException:
            db.close()
            raise
        self._wdb = db
        return db

    def _write(self, rows: list[Values]) -> None:
        def insert(db: sqlite3.Connection) -> None:
            for start in range(0, len(rows), _ROWS_PER_STATEMENT):
                chunk = rows[start:start + _ROWS_PER_STATEMENT]
                db.execute(_insert_many(len(chunk)), _flat_params(chunk))

        self._transaction(insert)

    def _transaction(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """`work` on the writer connection in one transaction (all of it or none)."""
        db = self._wdb or self._open_writer()
        try:
            db.execute("BEGIN IMMEDIATE")
            work(db)
            db.execute("COMMIT")
        except BaseException:
            # A fresh connection next time: after "disk I/O error" or a replaced file the old one
            # may never recover.
            with suppress(sqlite3.Error):
                if db.in_transaction:
                    db.execute("ROLLBACK")
            db.close()
            self._wdb = None
            raise

    async def open(self) -> None:
        """Creates the file and applies migrations now rather than at the first write."""
        await self._call(self._writer, lambda: self._wdb or self._open_writer())

    async def write(self, rows: list[Values]) -> None:
        if self.process is None or self.process.broken:
            await self._call(self._writer, self._write, rows)
            return
        if self._wdb is None:  # the file and its migrations first (after an outage at startup)
            await self.open()
        try:
            await self.process.write(rows)
        except LedgerUnavailable:
            if not self.process.broken:
                raise
            await self._call(self._writer, self._write, rows)  # it never worked: this thread writes

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        if self._rdb is None:
            db = self._connect()
            db.execute("PRAGMA query_only=1")
            db.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]  # typeshed: int only
            self._rdb = db
        try:
            return self._rdb.execute(sql, params).fetchall()
        except BaseException:
            self._rdb.close()
            self._rdb = None
            raise

    async def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return await self._call(self._reader, self._query, sql, params)

    @staticmethod
    def _where(filters: Filters) -> tuple[str, list[Any]]:
        return where(filters, lambda n: "?", iso_utc)

    async def logs(self, filters: Filters, limit: int) -> list[dict[str, Any]]:
        clause, params = self._where(filters)
        rows = await self._fetch(f"{_SELECT}{clause} ORDER BY created_at DESC LIMIT ?", [*params, limit])
        return [_record(r) for r in rows]

    async def report(self, by: ReportBy, filters: Filters) -> list[dict[str, Any]]:
        clause, params = self._where(filters)
        key = _GROUP_KEY[by]
        rows = await self._fetch(f"SELECT {key}, {_AGGREGATES} FROM spend_log{clause} GROUP BY {key}", params)
        return sort_report([report_row(r[0], by, r[1:]) for r in rows], by)

    async def spent(self, filters: Filters) -> Decimal:
        clause, params = self._where(filters)
        rows = await self._fetch(f"SELECT decimal_sum(cost) FROM spend_log{clause}", params)
        return Decimal(rows[0][0] or "0")  # no rows: SQLite skips the aggregate, NULL

    def _modify(self, sql: str, params: list[Any]) -> int:
        """One autocommit statement on the writer connection: rows changed, 0 on a uniqueness clash."""
        db = self._wdb or self._open_writer()
        try:
            return db.execute(sql, params).rowcount
        except sqlite3.IntegrityError as err:
            if err.sqlite_errorname not in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
                raise
            return 0
        except BaseException:
            db.close()
            self._wdb = None
            raise

    async def key_insert(self, row: dict[str, Any]) -> bool:
        """Adds a rin_keys row; False when its hash or its live alias is already there."""
        params = [_key_value(c, row[c]) for c in KEY_COLUMNS]
        return await self._call(self._writer, self._modify, _KEY_INSERT, params) == 1

    async def key_update(self, key_hash: str, changes: dict[str, Any]) -> bool:
        """Sets the given columns; False when the key is absent or the new alias is taken."""
        columns = [c for c in KEY_COLUMNS if c in changes and c != "key_hash"]
        if len(columns) != len(changes):
            raise ValueError(f"not rin_keys columns: {sorted(set(changes) - set(columns))}")
        sql = f"UPDATE rin_keys SET {', '.join(f'{c} = ?' for c in columns)} WHERE key_hash = ?"
        params = [_key_value(c, changes[c]) for c in columns] + [key_hash]
        return await self._call(self._writer, self._modify, sql, params) == 1

    async def key_get(self, key_hash: str) -> dict[str, Any] | None:
        rows = await self._fetch(f"{_KEY_SELECT} WHERE key_hash = ?", [key_hash])
        return _key_record(rows[0]) if rows else None

    async def key_all(self) -> list[dict[str, Any]]:
        return [_key_record(r) for r in await self._fetch(f"{_KEY_SELECT} ORDER BY created_at, key_hash", [])]

    async def spent_by_key(self, since: datetime | None = None, key_hash: str | None = None) -> dict[str, Decimal]:
        """USD per api_key_hash in spend_log (since `since`, for one key if given)."""
        sql = "SELECT api_key_hash, decimal_sum(cost) FROM spend_log WHERE api_key_hash IS NOT NULL"
        params: list[Any] = []
        if key_hash is not None:
            sql += " AND api_key_hash = ?"
            params.append(key_hash)
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(iso_utc(since))
        rows = await self._fetch(sql + " GROUP BY api_key_hash", params)
        return {h: Decimal(total or "0") for h, total in rows}

    async def response_put(self, rows: list[tuple[str, str, str, str | None, bytes, bytes]]) -> None:
        """Inserts or replaces rin_responses rows (id, owner, created_at, model, response, items), in
        one transaction."""
        await self._call(self._writer, self._transaction, lambda db: db.executemany(_RESPONSE_PUT, rows))

    async def response_get(self, response_id: str, owner: str) -> tuple[bytes, bytes] | None:
        """(response, items) of the caller's own response; None when absent or someone else's."""
        rows = await self._fetch(_RESPONSE_GET, [response_id, owner])
        return (bytes(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def response_delete(self, response_id: str, owner: str) -> bool:
        sql = "DELETE FROM rin_responses WHERE id = ? AND owner = ?"
        return await self._call(self._writer, self._modify, sql, [response_id, owner]) == 1

    async def response_prune(self, keep: int) -> int:
        """Deletes all but the newest `keep` responses; returns how many went."""
        return await self._call(self._writer, self._modify, _RESPONSE_PRUNE, [keep])

    async def close(self) -> None:
        if self.process is not None:
            await self.process.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._close_writer)
        await loop.run_in_executor(self._reader, self._close_reader)
        self._writer.shutdown()
        self._reader.shutdown()

    def _close_writer(self) -> None:
        if self._wdb is not None:
            self._wdb.close()
            self._wdb = None

    def _close_reader(self) -> None:
        if self._rdb is not None:
            self._rdb.close()
            self._rdb = None
