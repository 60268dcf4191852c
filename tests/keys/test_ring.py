"""KeyRing: exact lookups on the full key's hash, expiry, and changes from other processes."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from rin.errors import AuthenticationFailed
from rin.keys import KeyRing, KeyStore, VirtualKey, generate_key, hash_key
from tests.ledger.support import eventually

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now


async def ring_on(url: str, clock: Clock | None = None) -> KeyRing:
    ring = KeyRing(KeyStore.from_url(url), now=clock or Clock())
    await ring.store.open()
    return ring


def test_lookup_is_exact_on_the_whole_key(database_url: str) -> None:
    async def main() -> None:
        ring = await ring_on(database_url)
        secret = generate_key()
        key = VirtualKey.new(secret, alias="exact")
        await ring.create(key)
        assert ring.lookup(secret) == key
        last = secret[-1]
        near_misses = [
            secret[:-1] + ("A" if last != "A" else "B"),  # the last character differs
            secret[:-1],  # a prefix
            secret[:20],
            "sk-rin-",
            secret + "x",  # an extension
            " " + secret,
            secret.upper() if secret.upper() != secret else secret.lower(),
            key.preview,
            key.key_hash,  # the hash is not a key
            "",
        ]
        for token in near_misses:
            assert ring.lookup(token) is None, token
            with pytest.raises(AuthenticationFailed):
                ring.authenticate(token)
        assert ring.authenticate(secret) == key
        await ring.close()

    asyncio.run(main())


def test_expiry_follows_the_clock(database_url: str) -> None:
    async def main() -> None:
        clock = Clock()
        ring = await ring_on(database_url, clock)
        secret = generate_key()
        await ring.create(VirtualKey.new(secret, created_at=T, expires_at=T + timedelta(hours=1)))
        forever = generate_key()
        await ring.create(VirtualKey.new(forever, created_at=T))
        assert ring.lookup(secret) is not None
        clock.now = T + timedelta(minutes=59, seconds=59)
        assert ring.lookup(secret) is not None
        clock.now = T + timedelta(hours=1)
        assert ring.lookup(secret) is None
        with pytest.raises(AuthenticationFailed) as err:
            ring.authenticate(secret)
        assert err.value.code == "expired_key" and secret not in err.value.message
        assert ring.lookup(forever) is not None
        await ring.refresh()  # an expired key stays expired after a reload
        assert ring.lookup(secret) is None
        await ring.close()

    asyncio.run(main())


def test_revoked_here_stops_at_once_elsewhere_at_the_next_refresh(database_url: str) -> None:
    """Two rings on one database: two workers or instances. Writes through one apply to it at once;
    the other sees them when it refreshes."""

    async def main() -> None:
        here, there = await ring_on(database_url), await ring_on(database_url)
        secret = generate_key()
        key = VirtualKey.new(secret)
        await here.create(key)
        assert here.lookup(secret) == key and there.lookup(secret) is None
        await there.refresh()
        assert there.lookup(secret) == key

        await here.update(key.key_hash, rpm=7)
        found = here.lookup(secret)
        assert found is not None and found.rpm == 7
        await here.revoke(key.key_hash)
        assert here.lookup(secret) is None
        assert there.lookup(secret) is not None  # until its refresh
        await there.refresh()
        assert there.lookup(secret) is None

        await here.update(key.key_hash, rpm=8)  # updating a revoked key doesn't revive it
        assert here.lookup(secret) is None
        await here.close()
        await there.close()

    asyncio.run(main())


def test_the_refresh_loop_picks_up_keys_made_and_revoked_by_another_process(database_url: str) -> None:
    async def main() -> None:
        ring = KeyRing(KeyStore.from_url(database_url))
        await ring.start(interval=0.05)
        cli = KeyStore.from_url(database_url)  # what `rin keys` does
        await cli.open()
        secret = generate_key()
        await cli.put(VirtualKey.new(secret, alias="from-cli"))
        await eventually(lambda: ring.lookup(secret) is not None, timeout=5, what="the new key")
        await cli.revoke(hash_key(secret))
        await eventually(lambda: ring.lookup(secret) is None, timeout=5, what="the revocation")
        await cli.close()
        await ring.close()

    asyncio.run(main())


@pytest.mark.services
def test_a_database_outage_keeps_the_last_known_keys(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The server throws the ring's role out and refuses it for a while: lookups keep working from
    memory, one warning is logged, and changes made meanwhile arrive once it is back."""
    import asyncpg

    from tests.databases import ADMIN

    role = pg_url.split("//", 1)[1].split("@", 1)[0]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    caplog.set_level(logging.INFO, logger="rin.keys")

    async def main() -> None:
        ring = KeyRing(KeyStore.from_url(pg_url))
        await ring.start(interval=0.05)
        secret = generate_key()
        await ring.create(VirtualKey.new(secret))
        await admin(f"ALTER ROLE {role} NOLOGIN")
        await admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        await eventually(lambda: any("can't read the key table" in r.getMessage() for r in caplog.records),
                         timeout=10, what="the outage warning")
        assert ring.lookup(secret) is not None
        await asyncio.sleep(0.3)
        await admin(f"ALTER ROLE {role} LOGIN")
        other = KeyStore.from_url(pg_url)
        await other.open()
        await other.revoke(hash_key(secret))
        await other.close()
        await eventually(lambda: ring.lookup(secret) is None, timeout=10, what="recovery")
        await ring.close()

    asyncio.run(main())
    warnings = [r.getMessage() for r in caplog.records if "can't read the key table" in r.getMessage()]
    assert len(warnings) == 1
    assert any("database back" in r.getMessage() for r in caplog.records)
