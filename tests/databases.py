"""Scratch databases for tests that run on both engines: a fresh SQLite file, or a fresh schema and
login role on the local PostgreSQL (127.0.0.1:5432, database `test`), dropped afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_service

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


async def _admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN, timeout=3)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _reachable() -> str | None:
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as err:  # noqa: BLE001 - any reason means "skip"
        return f"{type(err).__name__}: {err}"
    return None


def scratch_pg(prefix: str) -> Iterator[str]:
    """A PostgreSQL URL whose search path is a new schema owned by a new role; both dropped after."""
    why = _reachable()
    require_service("PostgreSQL", why is None, why or "")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE ROLE {name} LOGIN", f"CREATE SCHEMA {name}",
                       f"GRANT USAGE, CREATE ON SCHEMA {name} TO {name}"))
    try:
        yield f"postgresql://{name}@127.0.0.1:5432/test?options=-csearch_path%3D{name}"
    finally:
        asyncio.run(_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'",
            f"DROP SCHEMA IF EXISTS {name} CASCADE", f"DROP OWNED BY {name}", f"DROP ROLE IF EXISTS {name}"))


def either_engine(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The `database_url` fixtures' body: SQLite, or (param "postgres") the `pg_url` fixture."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rin.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
