"""m006: spend_log.billed_quantity / billed_unit (what a media request was billed by), added to
databases and spill files from before it, on SQLite (through the writer process) and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from rin.ledger import Ledger, SpendRow
from tests.ledger.support import row
from tests.ledger.test_postgres_ledger import Pg, pg  # noqa: F401 - the fixture

NEW = ("billed_quantity", "billed_unit")


def _old_columns() -> list[str]:
    return [c for c in row(0).to_dict() if c not in NEW]


def _insert_old(conn: sqlite3.Connection, i: int) -> None:
    columns = _old_columns()
    values = row(i).to_dict()
    quoted = ", ".join('"user"' if c == "user" else c for c in columns)
    conn.execute(f"INSERT INTO spend_log ({quoted}) VALUES ({', '.join('?' * len(columns))})",
                 [values[c] for c in columns])


def test_sqlite_rows_from_before_m006_keep_null_and_new_rows_carry_the_quantity(tmp_path: Path) -> None:
    from rin.ledger import sqlite_migrations

    before = [fn for fn in sqlite_migrations.MIGRATIONS if fn.__name__ != "m006_spend_log_billed_quantity"]
    assert len(before) == len(sqlite_migrations.MIGRATIONS) - 1
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        for fn in before:
            fn(conn)
        conn.execute("CREATE TABLE rin_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        conn.executemany("INSERT INTO rin_migrations VALUES (?, '2026-01-01T00:00:00.000000Z')",
                         [(fn.__name__,) for fn in before])
        _insert_old(conn, 1)
    spilled = {k: v for k, v in row(2).to_dict().items() if k not in NEW}
    (tmp_path / "rin-spend-spill-oldhost-1.jsonl").write_bytes(orjson.dumps(spilled) + b"\n")

    async def main() -> dict[str, tuple[object, object]]:
        ledger = Ledger(f"sqlite:///{db}")
        await ledger.start()
        ledger.record(row(3, endpoint="transcriptions", billed_quantity=12.5, billed_unit="seconds"))
        ledger.record(row(4, endpoint="images", billed_quantity=2.0, billed_unit="images"))
        await ledger.flush()
        got = {r["request_id"]: (r["billed_quantity"], r["billed_unit"]) for r in await ledger.logs()}
        await ledger.close()
        return got

    assert asyncio.run(main()) == {"req-000001": (None, None), "req-000002": (None, None),
                                   "req-000003": (12.5, "seconds"), "req-000004": (2.0, "images")}
    with sqlite3.connect(db) as conn:
        assert [n for (n,) in conn.execute("SELECT name FROM rin_migrations WHERE name LIKE 'm006%'")] == [
            "m006_spend_log_billed_quantity"]


def test_postgres_rows_from_before_m006_keep_null_and_new_rows_carry_the_quantity(pg: Pg, tmp_path: Path) -> None:  # noqa: F811
    from rin.ledger import postgres_migrations

    asyncpg = pytest.importorskip("asyncpg")
    before = [fn for fn in postgres_migrations.MIGRATIONS if fn.__name__ != "m006_spend_log_billed_quantity"]

    async def main() -> None:
        conn = await asyncpg.connect(pg.url)
        try:
            for fn in before:
                await fn(conn)
            await conn.execute("CREATE TABLE rin_migrations (name TEXT PRIMARY KEY, "
                               "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            await conn.executemany("INSERT INTO rin_migrations (name) VALUES ($1)", [(fn.__name__,) for fn in before])
            old = SpendRow.from_dict(row(1).to_dict())
            columns = _old_columns()
            quoted = ", ".join('"user"' if c == "user" else c for c in columns)
            values = [getattr(old, c) for c in columns]
            values[columns.index("created_at")] = datetime.fromisoformat(old.created_at)
            await conn.execute(f"INSERT INTO spend_log ({quoted}) VALUES "
                               f"({', '.join(f'${i}' for i in range(1, len(columns) + 1))})", *values)
        finally:
            await conn.close()

        ledger = Ledger(pg.url, spill_dir=tmp_path)
        await ledger.start()
        ledger.record(row(2, endpoint="speech", billed_quantity=4096.0, billed_unit="characters"))
        ledger.record(row(3, endpoint="rerank", billed_quantity=1.0, billed_unit="search_units"))
        assert await ledger.flush()
        got = {r["request_id"]: (r["billed_quantity"], r["billed_unit"]) for r in await ledger.logs()}
        await ledger.close()
        assert got == {"req-000001": (None, None), "req-000002": (4096.0, "characters"),
                       "req-000003": (1.0, "search_units")}

    asyncio.run(main())
    names = [r[0] for r in asyncio.run(pg.admin("SELECT name FROM rin_migrations ORDER BY name"))]
    assert names[-1] == "m006_spend_log_billed_quantity"


def test_a_billed_unit_must_be_one_the_ledger_knows() -> None:
    with pytest.raises(ValueError, match="billed_unit"):
        SpendRow(request_id="r", model="m", requested_model="m", billed_quantity=1.0, billed_unit="pixels")
    assert SpendRow(request_id="r", model="m", requested_model="m").billed_unit is None
