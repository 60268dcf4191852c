"""The fakes' own tests: one fake upstream per test module, reset before each test, and SDK clients
pointed straight at it."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.fakes.upstream import FakeUpstream


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake):
    fake.reset()


@pytest.fixture
def oai(fake):
    return openai.OpenAI(base_url=fake.openai_base, api_key="k", max_retries=0, timeout=5)


@pytest.fixture
def claude(fake):
    return anthropic.Anthropic(base_url=fake.anthropic_base, api_key="k", max_retries=0, timeout=5)
