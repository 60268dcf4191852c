"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a real gateway
in front of the fake upstreams. A screenshot of every browser test lands in test-output/dashboard/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, require_service
from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "test-output" / "dashboard"
MASTER_KEY = "sk-master-canary-0451"
HEADER_SECRET = "hdr-canary-secret-77d1"
#: every secret the test configs hold: none may ever appear in the page or its JSON
CANARIES = [*KEYS.values(), MASTER_KEY, HEADER_SECRET]


def gateway(config: dict[str, Any], workdir: Path, env: dict[str, str]) -> Gateway:
    return Gateway(config, workdir, env=env)


def dashboard_config(fake: Any, **general: Any) -> dict[str, Any]:
    o, a, r = fake.openai_base, fake.anthropic_base, fake.openrouter_base
    return {
        "model_list": [
            deployment("gpt-4o", "openai/gpt-4o", o, max_budget=5, budget_duration="1d", model_info={
                "supports_vision": True, "supports_function_calling": True, "max_input_tokens": 128000,
                "input_cost_per_token": 0.0000025, "output_cost_per_token": 0.00001}),
            deployment("claude", "anthropic/claude-sonnet-4-5", a, "ANTHROPIC_API_KEY", max_tokens=1024,
                       extra_headers={"x-team-token": HEADER_SECRET},
                       model_info={"supports_reasoning": True, "supports_function_calling": True,
                                   "max_input_tokens": 200000}),
            deployment("or-gpt", "openrouter/openai/gpt-4o", r, "OPENROUTER_API_KEY"),
            deployment("flaky", "openai/fail-500", o),
            deployment("needs-key", "openai/gpt-4o", o, "RIN_TEST_UNSET_KEY"),
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 1, "cooldown_time": 600,
                            "provider_budget_config": {"openai": {"budget_limit": 50, "time_period": "1d"}}},
        "general_settings": {"max_budget": 100, "budget_duration": "30d", "max_end_user_budget": 10, **general},
    }


@pytest.fixture(scope="module")
def open_gateway(fake, tmp_path_factory):
    with gateway(dashboard_config(fake), tmp_path_factory.mktemp("ui-open"), KEYS) as gw:
        yield gw


@pytest.fixture(scope="module")
def locked_gateway(fake, tmp_path_factory):
    config = dashboard_config(fake, master_key=MASTER_KEY)
    with gateway(config, tmp_path_factory.mktemp("ui-locked"), KEYS) as gw:
        yield gw


@pytest.fixture(scope="module")
def browser():
    # Module scope, not session: Playwright's sync API keeps an event loop running on this thread
    # while it is open, and `asyncio.run` in any later test would fail.
    require_service("chromium", CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("playwright", False, "the Python package is missing (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Console:
    """What the page logged as an error, and the uncaught exceptions it threw."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def unexpected(self, *allowed: str) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in allowed)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser, console, request):
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.on("console", lambda msg: console.errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: console.errors.append(f"uncaught: {exc}"))
    yield tab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
