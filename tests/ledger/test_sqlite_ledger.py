"""The SQLite ledger against real database files: the guide's SQL, batching, durability, faults."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from rin.ledger import Ledger, LedgerUnavailable, SpendRow, redact_url
from tests.conftest import require_service
from tests.ledger.support import T0, eventually, messages, row


def url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path: sqlite:////tmp/...


def count(path: Path, sql: str = "SELECT COUNT(*) FROM spend_log") -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(sql).fetchone()[0])


def fast(path: Path, **kw: object) -> Ledger:
    """A ledger that gives up on a locked database quickly and retries often."""
    opts: dict[str, object] = {"busy_timeout": 0.05, "retry_initial": 0.05, "retry_max": 0.2}
    opts.update(kw)
    return Ledger(url(path), **opts)  # type: ignore[arg-type]


def test_guide_sql_runs_as_written_with_the_sqlite3_program(tmp_path: Path) -> None:
    cli = shutil.which("sqlite3")
    require_service("sqlite3 CLI", cli is not None, "the sqlite3 program is not installed")
    db = tmp_path / "litellm_cost_tracking.db"

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        for i in range(6):
            model = "gpt-4o" if i % 2 else "claude-3-5-sonnet"
            ledger.record(row(i, model=model, cost=Decimal("0.25")))
        await ledger.close()

    asyncio.run(main())

    def sql(statement: str) -> str:
        done = subprocess.run([str(cli), str(db), statement], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert sql("SELECT model, SUM(cost) as total_cost FROM spend_log GROUP BY model;").splitlines() == [
        "claude-3-5-sonnet|0.75", "gpt-4o|0.75"]
    latest = sql("SELECT * FROM spend_log ORDER BY created_at DESC LIMIT 10;").splitlines()
    assert len(latest) == 6 and latest[0].startswith("req-000005|2026-03-01T12:00:05.000000Z|gpt-4o|")
    assert sql("SELECT COUNT(*) FROM spend_log;") == "6"


#: the blank database's schema; changing it takes a new migration and a deliberate edit here
PINNED_SCHEMA = [
    ("index", "rin_keys_alias",
     "CREATE UNIQUE INDEX rin_keys_alias ON rin_keys (key_alias) WHERE revoked_at IS NULL"),
    ("index", "rin_responses_created_at", "CREATE INDEX rin_responses_created_at ON rin_responses (created_at, id)"),
    ("index", "spend_log_api_key_hash",
     "CREATE INDEX spend_log_api_key_hash ON spend_log (api_key_hash, created_at) WHERE api_key_hash IS NOT NULL"),
    ("index", "spend_log_created_at", "CREATE INDEX spend_log_created_at ON spend_log (created_at)"),
    ("index", "spend_log_model", "CREATE INDEX spend_log_model ON spend_log (model, created_at)"),
    ("index", "spend_log_user",
     'CREATE INDEX spend_log_user ON spend_log ("user", created_at) WHERE "user" IS NOT NULL'),
    ("index", "sqlite_autoindex_rin_keys_1", None),
    ("index", "sqlite_autoindex_rin_migrations_1", None),
    ("index", "sqlite_autoindex_rin_responses_1", None),
    ("index", "sqlite_autoindex_spend_log_1", None),
    ("table", "rin_keys",
     "CREATE TABLE rin_keys ( key_hash TEXT PRIMARY KEY, key_alias TEXT, preview TEXT NOT NULL, "
     "models TEXT NOT NULL DEFAULT '[]', max_budget TEXT, budget_duration TEXT, rpm_limit INTEGER, "
     "tpm_limit INTEGER, expires_at TEXT, metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, "
     "updated_at TEXT NOT NULL, revoked_at TEXT )"),
    ("table", "rin_migrations",
     "CREATE TABLE rin_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"),
    ("table", "rin_responses",
     "CREATE TABLE rin_responses ( id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at TEXT NOT NULL, "
     "model TEXT, response BLOB NOT NULL, items BLOB NOT NULL )"),
    ("table", "spend_log",
     "CREATE TABLE spend_log ( request_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, model TEXT NOT NULL, "
     "requested_model TEXT NOT NULL, provider TEXT, provider_model TEXT, "
     "prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0, "
     "total_tokens INTEGER NOT NULL DEFAULT 0, cost TEXT NOT NULL DEFAULT '0', cost_source TEXT NOT NULL, "
     "status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, fallback_from TEXT, "
     "cache_hit INTEGER NOT NULL DEFAULT 0, stream INTEGER NOT NULL DEFAULT 0, latency_ms REAL, "
     '"user" TEXT, api_key_hash TEXT, deployment_id TEXT, error_type TEXT, '
     "cached_tokens INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0 , "
     "endpoint TEXT DEFAULT 'chat', billed_quantity REAL, billed_unit TEXT)"),
]


def test_blank_database_schema_is_pinned(tmp_path: Path) -> None:
    db = tmp_path / "x.db"

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        await ledger.close()
        again = Ledger(url(db))  # reopening applies nothing twice
        await again.start()
        await again.close()

    asyncio.run(main())
    with sqlite3.connect(db) as conn:
        schema = [(t, n, " ".join(s.split()) if s else None)
                  for t, n, s in conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")]
        applied = [name for (name,) in conn.execute("SELECT name FROM rin_migrations")]
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert schema == PINNED_SCHEMA
    assert applied == ["m001_spend_log", "m002_rin_keys", "m003_partial_indexes", "m004_spend_log_endpoint",
                       "m005_rin_responses", "m006_spend_log_billed_quantity"]
    assert journal == "wal"


def test_rows_written_before_the_endpoint_column_read_as_chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database and a spill file from before m004: the migration keeps the rows, marks them chat,
    and a spilled row without the field is replayed as chat too."""
    from rin.ledger import sqlite_migrations

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        for fn in sqlite_migrations.MIGRATIONS[:3]:
            fn(conn)
        conn.execute("CREATE TABLE rin_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        conn.executemany("INSERT INTO rin_migrations VALUES (?, '2026-01-01T00:00:00.000000Z')",
                         [(fn.__name__,) for fn in sqlite_migrations.MIGRATIONS[:3]])
        old_columns = [c for c in row(0).to_dict() if c not in ("endpoint", "billed_quantity", "billed_unit")]
        quoted = ", ".join('"user"' if c == "user" else c for c in old_columns)
        values = row(1).to_dict()
        conn.execute(f"INSERT INTO spend_log ({quoted}) VALUES ({', '.join('?' * len(old_columns))})",
                     [values[c] for c in old_columns])
    import orjson

    spilled = {k: v for k, v in row(2).to_dict().items() if k not in ("endpoint", "billed_quantity", "billed_unit")}
    (tmp_path / "rin-spend-spill-oldhost-1.jsonl").write_bytes(orjson.dumps(spilled) + b"\n")

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        ledger.record(row(3, endpoint="embeddings"))
        await ledger.flush()
        got = {r["request_id"]: r["endpoint"] for r in await ledger.logs()}
        assert got == {"req-000001": "chat", "req-000002": "chat", "req-000003": "embeddings"}
        await ledger.close()

    asyncio.run(main())


def test_user_and_key_filters_use_their_partial_indexes(tmp_path: Path) -> None:
    """The user and key indexes skip rows without one (cheaper writes); the queries that filter on
    them must still be index searches, not scans of the whole table."""
    db = tmp_path / "x.db"

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        await ledger.close()

    asyncio.run(main())
    queries = {
        "spend_log_user": ('SELECT cost FROM spend_log WHERE "user" = ? AND created_at >= ?', ["u", "2026"]),
        "spend_log_api_key_hash": ("SELECT api_key_hash, cost FROM spend_log WHERE api_key_hash IS NOT NULL "
                                   "AND api_key_hash = ? AND created_at >= ?", ["k", "2026"]),
    }
    with sqlite3.connect(db) as conn:
        for index, (sql, params) in queries.items():
            plan = " ".join(str(step[3]) for step in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert f"INDEX {index}" in plan, plan


def test_a_thousand_rows_are_written_exactly_once_by_the_background_writer(tmp_path: Path) -> None:
    db = tmp_path / "x.db"

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        for i in range(1000):
            ledger.record(row(i))
        assert ledger.pending == 1000  # record() wrote nothing itself
        await eventually(lambda: ledger.pending == 0, what="the writer to drain the buffer")
        assert ledger.written_total == 1000 and ledger.healthy and ledger.lag_seconds == 0.0
        await ledger.close()

    asyncio.run(main())
    assert count(db) == 1000
    assert count(db, "SELECT COUNT(DISTINCT request_id) FROM spend_log") == 1000


def test_a_duplicate_request_id_is_not_duplicated(tmp_path: Path) -> None:
    db = tmp_path / "x.db"

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        ledger.record(row(1, cost=Decimal("1")))
        await ledger.flush()
        ledger.record(row(1, cost=Decimal("2")))  # a replayed row
        ledger.record(row(2))
        ledger.record(row(2))  # a duplicate inside one batch
        await ledger.close()

    asyncio.run(main())
    assert count(db) == 2
    assert count(db, "SELECT cost FROM spend_log WHERE request_id = 'req-000001'") == 1


def test_close_flushes_everything_recorded(tmp_path: Path) -> None:
    db = tmp_path / "x.db"

    async def main() -> None:
        ledger = Ledger(url(db), flush_interval=3600)  # the timer alone would never write
        await ledger.start()
        for i in range(1234):
            ledger.record(row(i))
        await ledger.close()

    asyncio.run(main())
    assert count(db) == 1234


def test_money_is_exact(tmp_path: Path) -> None:
    db = tmp_path / "x.db"

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        for i in range(1000):
            ledger.record(row(i, cost=Decimal("0.0000001")))
        await ledger.flush()
        assert await ledger.spent_since(None) == Decimal("0.0001")
        (by_model,) = await ledger.report("model")
        assert by_model["cost"] == Decimal("0.0001") and by_model["requests"] == 1000
        assert (await ledger.logs(limit=1))[0]["cost"] == Decimal("0.0000001")
        await ledger.close()

    asyncio.run(main())
    assert 0.1 + 0.2 != 0.3  # why floats can't be trusted with money
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT DISTINCT cost, typeof(cost) FROM spend_log").fetchall() == [("0.0000001", "text")]


def test_reports_logs_and_budget_windows_filter_and_group(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    rows = [
        row(1, model="gpt-4o", provider="openai", user="alice", cost=Decimal("1.10")),
        row(2, model="gpt-4o", provider="openrouter", user="bob", cost=Decimal("2.20"), deployment_id="dep-b",
            created_at="2026-03-02T13:00:00.000000Z", endpoint="responses"),
        row(3, model="claude", provider="anthropic", user="alice", cost=Decimal("0.05"), status="error",
            endpoint="messages"),
        row(4, model="mystery", provider="openai", user=None, cost=Decimal("0"), cost_source="unpriced",
            created_at="2026-03-03T09:00:00.000000Z"),
    ]

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        for r in rows:
            ledger.record(r)
        await ledger.flush()
        by_model = await ledger.report("model")
        assert [(r["model"], r["cost"], r["requests"]) for r in by_model] == [
            ("gpt-4o", Decimal("3.3"), 2), ("claude", Decimal("0.05"), 1), ("mystery", Decimal("0"), 1)]
        assert by_model[2]["unpriced"] == 1 and by_model[1]["errors"] == 1
        assert [(r["day"], r["cost"]) for r in await ledger.report("day")] == [
            ("2026-03-01", Decimal("1.15")), ("2026-03-02", Decimal("2.2")), ("2026-03-03", Decimal("0"))]
        assert [r["provider"] for r in await ledger.report("provider")] == ["openrouter", "openai", "anthropic"]
        assert [(r["user"], r["cost"]) for r in await ledger.report("user", since=T0 + timedelta(days=1))] == [
            ("bob", Decimal("2.2")), (None, Decimal("0"))]

        assert [r["request_id"] for r in await ledger.logs()] == ["req-000004", "req-000002", "req-000003",
                                                                   "req-000001"]
        assert [r["request_id"] for r in await ledger.logs(user="alice", limit=1)] == ["req-000003"]
        assert [(r["endpoint"], r["cost"], r["requests"]) for r in await ledger.report("endpoint")] == [
            ("responses", Decimal("2.2"), 1), ("chat", Decimal("1.1"), 2), ("messages", Decimal("0.05"), 1)]
        assert [r["request_id"] for r in await ledger.logs(endpoint="messages")] == ["req-000003"]
        assert [r["request_id"] for r in await ledger.logs(endpoint="chat")] == ["req-000004", "req-000001"]
        window = await ledger.logs(start=T0 + timedelta(days=1), end=T0 + timedelta(days=1, hours=12))
        assert [r["request_id"] for r in window] == ["req-000002"]
        first = (await ledger.logs(model="claude"))[0]
        assert first["status"] == "error" and first["cache_hit"] is False and first["latency_ms"] == 12.5

        assert await ledger.spent_since(T0) == Decimal("3.35")
        assert await ledger.spent_since(T0, user="alice") == Decimal("1.15")
        assert await ledger.spent_since(T0, provider="openai") == Decimal("1.10")
        assert await ledger.spent_since(T0, deployment_id="dep-b", model="gpt-4o") == Decimal("2.20")
        assert await ledger.spent_since(T0 + timedelta(days=3)) == Decimal("0")
        with pytest.raises(ValueError):
            await ledger.report("color")  # type: ignore[arg-type]
        await ledger.close()

    asyncio.run(main())


def test_a_locked_database_buffers_rows_then_writes_them_when_released(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process (a backup, a `sqlite3` session left in a transaction) holds the write lock."""
    caplog.set_level(logging.INFO, "rin.ledger")
    db = tmp_path / "x.db"

    async def main() -> None:
        ledger = fast(db)
        await ledger.start()
        ledger.record(row(0))
        await ledger.flush()

        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        for i in range(1, 301):
            ledger.record(row(i))
        await eventually(lambda: not ledger.healthy and ledger.spilled == 300, what="rows to reach the spill file")
        assert ledger.pending == 300 and ledger.lag_seconds > 0
        (spill,) = tmp_path.glob("rin-spend-spill-*.jsonl")
        assert len(spill.read_text().splitlines()) == 300
        await asyncio.sleep(0.5)  # several failed retries: still one log line
        for i in range(301, 401):  # rows keep arriving during the outage
            ledger.record(row(i))

        blocker.execute("COMMIT")
        blocker.close()
        await eventually(lambda: ledger.pending == 0 and ledger.healthy, what="recovery")
        assert ledger.written_total == 401
        await ledger.close()
        assert not list(tmp_path.glob("rin-spend-spill-*"))

    asyncio.run(main())
    assert count(db) == 401
    assert len(messages(caplog, "database unavailable")) == 1
    assert len(messages(caplog, "database recovered")) == 1


def test_a_missing_volume_at_startup_then_mounted(tmp_path: Path) -> None:
    """The database's directory can't be created (a file sits where it should be) until fixed."""
    blocked = tmp_path / "volume"
    blocked.write_text("not a directory")
    db = blocked / "litellm" / "x.db"

    async def main() -> None:
        ledger = fast(db, spill_dir=tmp_path / "spill")
        await ledger.start()  # no exception: the gateway must come up and keep serving
        assert not ledger.healthy
        for i in range(50):
            ledger.record(row(i))
        await eventually(lambda: ledger.spilled == 50, what="rows to reach the spill file")
        with pytest.raises(LedgerUnavailable):
            await ledger.logs()
        blocked.unlink()
        await eventually(lambda: ledger.pending == 0 and ledger.healthy, what="recovery")
        await ledger.close()

    asyncio.run(main())
    assert count(db) == 50


def test_rows_spilled_when_shutdown_comes_during_an_outage_are_written_at_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "x.db"

    async def main() -> None:
        first = fast(db)
        await first.start()
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        for i in range(20):
            first.record(row(i))
        await first.close()  # the database is still locked: nothing may be lost
        assert first.dropped_total == 0
        first.record(row(20))  # a straggler after close() is kept too
        blocker.execute("COMMIT")
        blocker.close()
        assert count(db) == 0

        second = fast(db)
        await second.start()  # replays what the first left on disk before returning
        assert second.pending == 0 and await second.spent_since(None) == Decimal("0.000075") * 21
        await second.close()

    asyncio.run(main())
    assert count(db) == 21
    assert not list(tmp_path.glob("rin-spend-spill-*"))


def test_a_torn_spill_line_from_a_hard_kill_is_skipped(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    good = row(1).to_dict()
    import orjson

    (tmp_path / "rin-spend-spill-deadhost-1.jsonl").write_bytes(orjson.dumps(good) + b'\n{"request_id": "req-0')

    async def main() -> None:
        ledger = Ledger(url(db))
        await ledger.start()
        await ledger.close()

    asyncio.run(main())
    assert count(db) == 1


def test_lag_is_the_age_of_the_oldest_unwritten_row(tmp_path: Path) -> None:
    now = [100.0]
    ledger = Ledger(url(tmp_path / "x.db"), clock=lambda: now[0])
    assert ledger.lag_seconds == 0.0
    ledger.record(row(1))
    now[0] = 102.5
    ledger.record(row(2))
    assert ledger.lag_seconds == 2.5 and ledger.pending == 2

    async def main() -> None:
        await ledger.start()
        await ledger.close()

    asyncio.run(main())
    assert ledger.lag_seconds == 0.0 and ledger.written_total == 2


def test_database_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    async def main() -> None:
        relative = Ledger("sqlite:///data/litellm/litellm_cost_tracking.db")
        await relative.start()
        relative.record(row(1))
        await relative.close()
        absolute = Ledger(f"sqlite:///{tmp_path}/abs/x.db")
        await absolute.start()
        await absolute.close()

    asyncio.run(main())
    assert count(tmp_path / "data/litellm/litellm_cost_tracking.db") == 1
    assert (tmp_path / "abs/x.db").exists()
    with pytest.raises(ValueError, match="unsupported scheme 'mysql'") as err:
        Ledger("mysql://root:hunter2@db/rin")
    assert "hunter2" not in str(err.value)
    with pytest.raises(ValueError, match="in-memory"):
        Ledger("sqlite:///:memory:")
    assert redact_url("postgresql://rin:s3cr%40t@db.internal:5432/rin") == "postgresql://rin:***@db.internal:5432/rin"
    assert redact_url("postgresql://rin@db/rin") == "postgresql://rin@db/rin"


def test_spend_rows_reject_float_money_and_unknown_labels() -> None:
    with pytest.raises(TypeError):
        SpendRow(request_id="r", model="m", requested_model="m", cost=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SpendRow(request_id="r", model="m", requested_model="m", cost_source="guess")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SpendRow(request_id="r", model="m", requested_model="m", status="ok")  # type: ignore[arg-type]
    stamp = SpendRow(request_id="r", model="m", requested_model="m").created_at
    assert len(stamp) == 27 and stamp.endswith("Z") and stamp[10] == "T"


def test_when_even_the_spill_directory_is_unwritable_memory_is_bounded_and_drops_are_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "rin.ledger")
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")

    async def main() -> None:
        ledger = fast(blocked / "x.db", spill_dir=blocked / "spill", max_pending=10)
        await ledger.start()
        for i in range(25):
            ledger.record(row(i))
        await eventually(lambda: ledger.dropped_total == 15, what="the bound to be enforced")
        assert ledger.pending == 10
        for i in range(25, 30):
            ledger.record(row(i))
        await eventually(lambda: ledger.dropped_total == 20, what="the bound to be enforced again")
        await ledger.close()
        assert ledger.dropped_total == 30  # close() could neither write nor spill the last ten

    asyncio.run(main())
    assert len(messages(caplog, "cannot write the spill file")) == 1
    assert len(messages(caplog, "dropping spend rows")) == 1
