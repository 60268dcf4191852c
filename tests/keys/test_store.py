"""KeyStore round trips against real databases: SQLite files and the local PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from rin.errors import InvalidRequest
from rin.keys import KeyStore, VirtualKey, generate_key, hash_key
from rin.ledger import Ledger
from rin.ledger import sqlite_migrations
from rin.ledger.backend import KEY_COLUMNS
from tests.ledger.support import row

T = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

#: stored and returned verbatim; none of them may break a statement
INJECTIONS = [
    "'; DROP TABLE rin_keys; --",
    "\" OR \"1\"=\"1",
    "' OR '1'='1' --",
    "Robert'); DROP TABLE spend_log;--",
    "1; SELECT pg_sleep(5)",
    "$1 $2 ? %s :name",
    "' UNION SELECT key_hash, key_hash FROM rin_keys --",
    "\\'; \\\"; `x`",
    "ünïcødé 🔑 '",
]


def full_key(secret: str, **overrides: object) -> VirtualKey:
    fields: dict[str, object] = dict(
        alias="team-a", models=("gpt-4o", "claude-3-5-sonnet"), max_budget=Decimal("25.0000001"),
        budget_duration="30d", rpm=60, tpm=100_000, expires_at=T + timedelta(days=30),
        metadata={"team": "a", "n": [1, 2.5, None], "nested": {"ok": True}},
    )
    fields.update(overrides)
    return VirtualKey.new(secret, created_at=T, **fields)


async def opened(url: str) -> KeyStore:
    store = KeyStore.from_url(url)
    await store.open()
    return store


def test_round_trip_update_revoke(database_url: str) -> None:
    async def main() -> None:
        store = await opened(database_url)
        secret = generate_key()
        key = full_key(secret)
        await store.put(key)
        bare = VirtualKey.new(generate_key(), created_at=T + timedelta(seconds=1))
        await store.put(bare)

        assert await store.get(key.key_hash) == key
        assert await store.get(bare.key_hash) == bare
        assert await store.all() == [key, bare]
        assert await store.get(hash_key(secret + "x")) is None
        loaded = await store.get(hash_key(secret))
        assert loaded is not None and loaded.max_budget == Decimal("25.0000001")

        # partial: only what is named changes; None clears
        changed = await store.update(key.key_hash, rpm=5, max_budget=None, models=("gpt-4o",))
        assert changed is not None
        again = await store.get(key.key_hash)
        assert again == changed
        assert (again.rpm, again.max_budget, again.models) == (5, None, ("gpt-4o",))
        assert (again.alias, again.tpm, again.budget_duration, again.expires_at, again.metadata) == (
            key.alias, key.tpm, key.budget_duration, key.expires_at, key.metadata)
        assert again.updated_at is not None and again.updated_at > key.created_at
        assert await store.update(hash_key("nope"), rpm=1) is None

        revoked = await store.revoke(key.key_hash, T + timedelta(days=1))
        assert revoked is not None and revoked.revoked_at == T + timedelta(days=1)
        later = await store.revoke(key.key_hash, T + timedelta(days=2))
        assert later is not None and later.revoked_at == T + timedelta(days=1)  # the first time stays
        stored = await store.get(key.key_hash)
        assert stored is not None and stored.revoked_at == T + timedelta(days=1)
        assert await store.revoke(hash_key("nope")) is None
        await store.close()

    asyncio.run(main())


def test_an_alias_names_one_live_key(database_url: str) -> None:
    async def main() -> None:
        store = await opened(database_url)
        first = VirtualKey.new(generate_key(), alias="shared")
        await store.put(first)
        with pytest.raises(InvalidRequest) as err:
            await store.put(VirtualKey.new(generate_key(), alias="shared"))
        assert err.value.param == "key_alias"
        other = VirtualKey.new(generate_key(), alias="other")
        await store.put(other)
        with pytest.raises(InvalidRequest):
            await store.update(other.key_hash, alias="shared")
        await store.revoke(first.key_hash)
        await store.put(VirtualKey.new(generate_key(), alias="shared"))  # a revoked key frees its alias
        assert await store.update(other.key_hash, alias="renamed") is not None
        assert len(await store.all()) == 3
        await store.close()

    asyncio.run(main())


def test_injection_strings_are_stored_and_returned_verbatim(database_url: str) -> None:
    async def main() -> None:
        store = await opened(database_url)
        keys = []
        for i, text in enumerate(INJECTIONS):
            key = VirtualKey.new(generate_key(), alias=text, models=(text, f"m{i}"),
                                 budget_duration="1d", metadata={text: text})
            await store.put(key)
            keys.append(key)
            assert await store.get(hash_key(text)) is None
            assert await store.get(text) is None
            assert await store.update(text, alias="x") is None
            assert await store.revoke(text) is None
        assert await store.all() == keys
        for key in keys:
            assert await store.get(key.key_hash) == key
        await store.update(keys[0].key_hash, alias=INJECTIONS[1] + "!", models=tuple(INJECTIONS))
        changed = await store.get(keys[0].key_hash)
        assert changed is not None and changed.alias == INJECTIONS[1] + "!"
        assert changed.models == tuple(INJECTIONS)
        assert await store.spent_by_key() == {}
        await store.close()

    asyncio.run(main())


def test_spend_per_key_comes_from_spend_log(database_url: str, tmp_path: Path) -> None:
    a, b = hash_key("sk-rin-a"), hash_key("sk-rin-b")

    async def main() -> None:
        ledger = Ledger(database_url, spill_dir=tmp_path / "spill")
        await ledger.start()
        for i in range(300):
            ledger.record(row(i, api_key_hash=a, cost=Decimal("0.0000001")))
        ledger.record(row(1000, api_key_hash=b, cost=Decimal("1.25"),
                          created_at="2026-03-05T00:00:00.000000Z"))
        ledger.record(row(1001, cost=Decimal("7")))  # the master key: no hash
        await ledger.close()
        store = await opened(database_url)
        assert await store.spent_by_key() == {a: Decimal("0.00003"), b: Decimal("1.25")}
        assert await store.spent_by_key(since=datetime(2026, 3, 2, tzinfo=UTC)) == {b: Decimal("1.25")}
        assert await store.spent(a) == Decimal("0.00003")
        assert await store.spent(hash_key("sk-rin-none")) == Decimal(0)
        assert await store.spent(INJECTIONS[0]) == Decimal(0)

        # a key's current spend is its spend in the budget window that holds `now`
        await store.put(VirtualKey(key_hash=a, preview="sk-rin-…a", budget_duration="1d"))
        assert await store.current_spend(a, now=datetime(2026, 3, 1, 23, tzinfo=UTC)) == Decimal("0.00003")
        assert await store.current_spend(a, now=datetime(2026, 3, 2, 0, tzinfo=UTC)) == Decimal(0)
        assert await store.current_spend(b) == Decimal("1.25")  # no key record: all time
        await store.close()

    asyncio.run(main())


def test_an_existing_ledger_database_gains_the_key_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database written before keys existed: the migration adds rin_keys and keeps the rows."""
    db = tmp_path / "old.db"
    url = f"sqlite:///{db}"
    names = [fn.__name__ for fn in sqlite_migrations.MIGRATIONS]
    assert names[:2] == ["m001_spend_log", "m002_rin_keys"]

    async def old_gateway() -> None:
        ledger = Ledger(url)
        await ledger.start()
        await ledger.close()

    with monkeypatch.context() as patch:
        patch.setattr(sqlite_migrations, "MIGRATIONS", sqlite_migrations.MIGRATIONS[:1])
        asyncio.run(old_gateway())
    with sqlite3.connect(db) as conn:
        # that gateway's row, in that gateway's columns (today's ledger writes later ones too)
        conn.execute("INSERT INTO spend_log (request_id, created_at, model, requested_model, cost_source, status) "
                     "VALUES ('req-1', '2026-03-01T12:00:00.000000Z', 'gpt-4o', 'gpt-4o', 'builtin', 'success')")
        assert [n for (n,) in conn.execute("SELECT name FROM rin_migrations")] == ["m001_spend_log"]

    async def new_gateway() -> None:
        store = await opened(url)
        await store.put(VirtualKey.new(generate_key(), alias="after-upgrade"))
        assert [k.alias for k in await store.all()] == ["after-upgrade"]
        await store.close()

    asyncio.run(new_gateway())
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM spend_log").fetchone()[0] == 1
        assert [n for (n,) in conn.execute("SELECT name FROM rin_migrations ORDER BY name")] == names


def test_a_key_record_fills_the_table_the_ledger_defines(tmp_path: Path) -> None:
    """rin_keys' columns live with the database's schema (rin.ledger), below rin.keys: a VirtualKey's
    row must name exactly those columns, in the table's order."""
    db = tmp_path / "keys.db"

    async def main() -> None:
        store = await opened(f"sqlite:///{db}")
        await store.close()

    asyncio.run(main())
    with sqlite3.connect(db) as conn:
        table = [name for (_, name, *_) in conn.execute("PRAGMA table_info(rin_keys)")]
    assert table == list(KEY_COLUMNS)
    assert list(full_key(generate_key()).to_row()) == list(KEY_COLUMNS)
