"""ResponseStore against real databases: SQLite files and the local PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from rin.ledger import LedgerUnavailable
from rin.ledger.engines import open_backend
from rin.store import ResponseStore
from tests.ledger.support import eventually

ALICE = "a" * 64
BOB = "b" * 64


def response(n: int, text: str = "hello") -> dict[str, Any]:
    return {"id": f"resp_{n}", "object": "response", "model": "gpt-4o",
            "output": [{"type": "message", "content": [{"type": "output_text", "text": f"{text} {n} ünïcødé 🔑"}]}]}


def items(n: int) -> list[Any]:
    return [{"role": "user", "content": f"question {n}"}, {"role": "assistant", "content": f"answer {n}"}]


def quiet(url: str, **options: Any) -> ResponseStore:
    """A store whose timer never fires during a test: writes happen when the test says so."""
    return ResponseStore.from_url(url, flush_interval=3600, **options)


async def stored(url: str, *ids: str, owner: str = ALICE) -> list[str]:
    """Which of `ids` a fresh store (a restarted gateway: nothing in memory) finds for `owner`."""
    store = quiet(url)
    await store.start()
    try:
        return [i for i in ids if await store.get(i, owner) is not None]
    finally:
        await store.close()


class CountingReads:
    """A real backend that counts the reads reaching the database."""

    def __init__(self, url: str) -> None:
        self.backend = open_backend(url)
        self.label = self.backend.label
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    async def response_get(self, response_id: str, owner: str) -> tuple[bytes, bytes] | None:
        self.reads += 1
        inner: Any = self.backend
        result: tuple[bytes, bytes] | None = await inner.response_get(response_id, owner)
        return result


def test_put_get_from_memory_then_from_the_database_after_a_restart(database_url: str) -> None:
    async def main() -> None:
        backend = CountingReads(database_url)
        store = ResponseStore(backend, flush_interval=3600)  # type: ignore[arg-type]
        await store.start()
        store.put("resp_1", ALICE, "gpt-4o", response(1), items(1))
        assert store.pending == 1
        got = await store.get("resp_1", ALICE)
        assert got == (response(1), items(1)) and backend.reads == 0
        got[0]["output"].clear()  # the caller's copy, not the stored one
        assert await store.get("resp_1", ALICE) == (response(1), items(1))
        assert await store.flush() and store.pending == 0
        assert await store.get("resp_1", ALICE) == (response(1), items(1)) and backend.reads == 0
        assert await store.get("resp_missing", ALICE) is None and backend.reads == 1
        await store.close()

        again = quiet(database_url)
        await again.start()
        assert await again.get("resp_1", ALICE) == (response(1), items(1))
        again.put("resp_1", ALICE, "gpt-4o", response(1, "replaced"), items(2))  # same id: replaced
        await again.close()
        assert await stored(database_url, "resp_1") == ["resp_1"]
        final = quiet(database_url)
        assert await final.get("resp_1", ALICE) == (response(1, "replaced"), items(2))
        await final.close()

    asyncio.run(main())


def test_someone_elses_response_looks_missing(database_url: str) -> None:
    async def main() -> None:
        store = quiet(database_url)
        await store.start()
        store.put("resp_a", ALICE, "gpt-4o", response(1), items(1))
        store.put("resp_master", "", None, response(2), items(2))
        for _ in range(2):  # from memory, then (after a flush) from the database via a fresh store
            assert await store.get("resp_a", BOB) is None
            assert await store.get("resp_a", "") is None
            assert await store.get("resp_master", ALICE) is None
            assert await store.get("resp_master", "") == (response(2), items(2))
            assert not await store.delete("resp_a", BOB)
            assert await store.get("resp_a", ALICE) == (response(1), items(1))
            await store.close()
            store = quiet(database_url)
            await store.start()
        await store.close()
        assert await stored(database_url, "resp_a") == ["resp_a"]
        assert await stored(database_url, "resp_a", "resp_master", owner=BOB) == []

    asyncio.run(main())


def test_delete_removes_from_memory_queue_and_database(database_url: str) -> None:
    async def main() -> None:
        store = quiet(database_url)
        await store.start()
        store.put("resp_written", ALICE, "gpt-4o", response(1), items(1))
        await store.flush()
        store.put("resp_queued", ALICE, "gpt-4o", response(2), items(2))
        assert await store.delete("resp_written", ALICE)
        assert await store.delete("resp_queued", ALICE)
        assert store.pending == 0
        assert await store.get("resp_written", ALICE) is None
        assert await store.get("resp_queued", ALICE) is None
        assert not await store.delete("resp_written", ALICE)
        await store.close()
        assert await stored(database_url, "resp_written", "resp_queued") == []

    asyncio.run(main())


def test_prune_keeps_the_newest(database_url: str) -> None:
    ids = [f"resp_{n}" for n in range(5)]

    async def main() -> None:
        store = quiet(database_url, max_stored=3)
        await store.start()
        for n, i in enumerate(ids):
            store.put(i, ALICE, "gpt-4o", response(n), items(n))
        await store.flush()
        assert await store.prune() == 2
        assert await store.prune() == 0
        await store.close()
        assert await stored(database_url, *ids) == ids[2:]

        # the writer prunes by itself after writing (at most once per prune_interval)
        background = ResponseStore.from_url(database_url, flush_interval=0.01, max_stored=1)
        await background.start()
        background.put("resp_new", ALICE, "gpt-4o", response(9), items(9))
        await eventually(lambda: background.pending == 0, what="the writer to write")
        await asyncio.sleep(0.1)
        await background.close()
        assert await stored(database_url, *ids, "resp_new") == ["resp_new"]

    asyncio.run(main())


def test_close_flushes_and_a_restarted_store_finds_everything(database_url: str) -> None:
    async def main() -> None:
        store = quiet(database_url)
        await store.start()
        for n in range(50):
            store.put(f"resp_{n}", ALICE if n % 2 else BOB, "gpt-4o", response(n), items(n))
        await store.close()
        assert store.pending == 0

    asyncio.run(main())
    odd = [f"resp_{n}" for n in range(1, 50, 2)]
    even = [f"resp_{n}" for n in range(0, 50, 2)]
    assert asyncio.run(stored(database_url, *odd, *even)) == odd
    assert asyncio.run(stored(database_url, *odd, *even, owner=BOB)) == even


def test_the_background_writer_writes_without_being_asked(database_url: str) -> None:
    async def main() -> None:
        store = ResponseStore.from_url(database_url, flush_interval=0.02)
        await store.start()
        store.put("resp_1", ALICE, "gpt-4o", response(1), items(1))
        await eventually(lambda: store.pending == 0, what="the writer to write")
        assert await stored(database_url, "resp_1") == ["resp_1"]
        await store.close()

    asyncio.run(main())


def test_memory_is_bounded_and_what_it_drops_comes_from_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rin.db'}"

    async def main() -> None:
        backend = CountingReads(url)
        store = ResponseStore(backend, flush_interval=3600, max_entries=2)  # type: ignore[arg-type]
        await store.start()
        for n in range(3):
            store.put(f"resp_{n}", ALICE, "gpt-4o", response(n), items(n))
        assert await store.get("resp_0", ALICE) == (response(0), items(0))  # out of the LRU, still queued
        assert backend.reads == 0
        await store.flush()
        assert await store.get("resp_0", ALICE) == (response(0), items(0))
        assert backend.reads == 1
        assert await store.get("resp_0", ALICE) == (response(0), items(0))  # kept in memory again
        assert backend.reads == 1
        await store.close()

        small = ResponseStore(CountingReads(url), flush_interval=3600, max_bytes=1000)  # type: ignore[arg-type]
        await small.start()
        small.put("resp_big", ALICE, "gpt-4o", {"text": "x" * 2000}, [])
        small.put("resp_small", ALICE, "gpt-4o", response(1), items(1))
        await small.flush()
        assert await small.get("resp_small", ALICE) is not None
        assert small.backend.reads == 0  # type: ignore[attr-defined]
        assert await small.get("resp_big", ALICE) == ({"text": "x" * 2000}, [])
        assert small.backend.reads == 1  # type: ignore[attr-defined]
        await small.close()

    asyncio.run(main())


def test_a_locked_database_keeps_the_queue_bounded_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "rin.store")
    db = tmp_path / "rin.db"

    async def main() -> None:
        store = ResponseStore(open_backend(f"sqlite:///{db}", busy_timeout=0.05),  # type: ignore[arg-type]
                              flush_interval=0.02, max_pending=3)
        await store.start()
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        for n in range(5):
            store.put(f"resp_{n}", ALICE, "gpt-4o", response(n), items(n))
        assert store.pending == 3 and store.dropped_total == 2
        await asyncio.sleep(0.3)  # several failed ticks
        assert store.pending == 3
        assert await store.get("resp_4", ALICE) == (response(4), items(4))  # served from memory meanwhile
        blocker.execute("COMMIT")
        blocker.close()
        await eventually(lambda: store.pending == 0, what="the writer to recover")
        await store.close()
        assert await stored(f"sqlite:///{db}", *(f"resp_{n}" for n in range(5))) == ["resp_2", "resp_3", "resp_4"]

    asyncio.run(main())
    logged = [r.getMessage() for r in caplog.records if r.name == "rin.store"]
    assert sum("dropping the oldest" in m for m in logged) == 1
    assert sum("cannot write" in m for m in logged) == 1
    assert sum("is back" in m for m in logged) == 1


def test_an_unreachable_database_fails_reads_with_503_but_not_startup(tmp_path: Path) -> None:
    blocked = tmp_path / "volume"
    blocked.write_text("not a directory")

    async def main() -> None:
        store = quiet(f"sqlite:///{blocked / 'rin.db'}")
        await store.start()
        store.put("resp_1", ALICE, "gpt-4o", response(1), items(1))
        assert await store.get("resp_1", ALICE) == (response(1), items(1))
        assert not await store.flush()
        with pytest.raises(LedgerUnavailable) as err:
            await store.get("resp_other", ALICE)
        assert err.value.status == 503
        await store.close()

    asyncio.run(main())


def test_find_sees_what_another_worker_wrote_after_its_flush(database_url: str) -> None:
    """Two stores on one database stand for two workers: a miss waits one flush for the other."""
    async def main() -> None:
        writer, reader = quiet(database_url), ResponseStore.from_url(database_url, flush_interval=0.25)
        await writer.start()
        await reader.start()
        try:
            writer.put("resp_peer", ALICE, "m", response(1), items(1))
            assert await reader.get("resp_peer", ALICE) is None  # not written yet: a plain get misses
            flushed = asyncio.ensure_future(writer.flush())  # the other worker's writer, meanwhile
            assert await reader.find("resp_peer", ALICE) is not None  # find waits one flush
            assert await flushed
            assert await reader.find("resp_peer", BOB) is None
        finally:
            await writer.close()
            await reader.close()

    asyncio.run(main())
