"""Shared fixtures: the fake upstream providers and the real-service policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: real-world material kept beside the repo (../shared/fixtures); tests using it skip when absent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


def require_service(name: str, available: bool, why: str) -> None:
    """Skip when a local service is missing, unless CI said services are required."""
    if available:
        return
    if os.environ.get("RIN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (RIN_REQUIRE_SERVICES=1) but unavailable: {why}")
    pytest.skip(f"{name} unavailable: {why}")


def shared_fixture(*parts: str) -> Path:
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real-world fixture {path} is absent (../shared/fixtures)")
    return path


@pytest.fixture(scope="session")
def fake():
    from tests.fakes.upstream import FakeUpstream

    with FakeUpstream() as upstream:
        yield upstream
