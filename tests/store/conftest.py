"""Databases for the store tests, on both engines (tests/databases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import either_engine, scratch_pg


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from scratch_pg("rin_store")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return either_engine(request, tmp_path)
