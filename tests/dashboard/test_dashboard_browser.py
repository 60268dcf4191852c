"""The dashboard at /ui in chromium, against a real gateway and the fake upstreams: what a user sees,
that it updates without a reload, that it asks for the key, and that no secret reaches it."""

from __future__ import annotations

import uuid

import openai
import pytest

from tests.dashboard.conftest import CANARIES, MASTER_KEY, dashboard_config, gateway
from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway, free_port

HELLO = [{"role": "user", "content": "Tell me about dashboards"}]
#: nothing listens here: OpenRouter "down" for the catalogue sync
UNREACHABLE = f"http://127.0.0.1:{free_port()}/api/v1"


def chat(gw: Gateway, model: str, user: str | None = None, api_key: str = "sk-anything") -> None:
    client = gw.openai(api_key=api_key)
    try:
        client.chat.completions.create(model=model, messages=HELLO, **({"user": user} if user else {}))
    except openai.APIError:
        pass  # failures are traffic too: they become `error` rows


def open_dashboard(page, gw: Gateway) -> None:
    page.goto(gw.base_url + "/ui")
    page.wait_for_selector("#models tbody tr")


def cells(page, selector: str) -> list[str]:
    return page.locator(selector).all_inner_texts()


def test_page_lists_models_with_capabilities_prices_and_status(page, console, open_gateway):
    open_dashboard(page, open_gateway)
    shown = [row.get_attribute("data-model") for row in page.locator("#models tbody tr").all()]
    assert {"gpt-4o", "claude", "or-gpt", "flaky", "needs-key"} <= set(shown)  # + the synced catalogue
    gpt = page.locator('#models tr[data-model="gpt-4o"]')
    assert gpt.locator(".badge.cap").all_inner_texts() == ["vision", "tools"]
    text = gpt.inner_text()
    assert "128,000" in text and "$2.50" in text and "$10.00" in text and "available" in text
    assert page.locator('#models tr[data-model="claude"] .badge.cap').all_inner_texts() == ["tools", "reasoning"]
    disabled = page.locator('#models tr[data-model="needs-key"]')
    assert disabled.get_attribute("data-status") == "disabled"
    assert "RIN_TEST_UNSET_KEY is not set" in disabled.inner_text()
    assert page.locator("#login").is_hidden()
    assert console.unexpected() == []


def test_chart_requests_and_budgets_update_without_reload(page, console, open_gateway):
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    open_dashboard(page, open_gateway)
    page.evaluate("window.notReloaded = true")
    chat(open_gateway, "gpt-4o", alice)
    chat(open_gateway, "gpt-4o", alice)
    chat(open_gateway, "claude", bob)
    page.wait_for_selector(f'#requests td.user:text-is("{bob}")')
    assert cells(page, "#requests td.user").count(alice) == 2
    page.wait_for_function("() => document.querySelectorAll('#chart .u-legend .u-series').length >= 3")
    legend = page.locator("#chart .u-legend").inner_text()
    assert "gpt-4o" in legend and "claude" in legend
    assert page.locator("#chart canvas").count() == 1
    assert page.locator("#spend-total").inner_text() != "$0.00"

    page.select_option("#spend-by", "user")
    page.wait_for_function(f"() => document.querySelector('#chart .u-legend').innerText.includes('{bob}')")
    assert alice in page.locator("#chart .u-legend").inner_text()
    page.select_option("#spend-by", "provider")
    page.wait_for_function("() => document.querySelector('#chart .u-legend').innerText.includes('anthropic')")

    spent = page.locator('#budgets [data-scope="global"] .gauge-spent').inner_text()
    assert spent.startswith("$") and not spent.startswith("$0.00 of")
    assert page.locator(f'#budgets [data-scope="user:{alice}"]').count() == 1
    assert page.evaluate("window.notReloaded") is True
    assert console.unexpected() == []


def test_failing_deployment_shows_cooling_down_until(page, console, open_gateway):
    open_dashboard(page, open_gateway)
    chat(open_gateway, "flaky")
    row = page.locator('#models tr[data-model="flaky"][data-status="cooling_down"]')
    row.wait_for()
    assert "until" in row.inner_text()
    assert console.unexpected() == []


def test_request_filters(page, console, open_gateway):
    carol = f"carol-{uuid.uuid4().hex[:6]}"
    for model in ("gpt-4o", "claude", "flaky"):
        chat(open_gateway, model, carol)
    open_dashboard(page, open_gateway)
    page.fill("#filter-user", carol)
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#requests td.user')].map(td => td.innerText).join() === "
        f"'{carol},{carol},{carol}'")

    page.select_option("#filter-model", "claude")
    page.wait_for_function("() => document.querySelectorAll('#requests tbody tr').length === 1")
    assert page.locator("#requests tbody tr").get_attribute("data-model") == "claude"

    page.select_option("#filter-model", "")
    page.select_option("#filter-status", "error")
    # in between the table shows the claude row alone, then all three rows (the model filter
    # cleared): wait for the one state the status filter gives, a single error row
    page.wait_for_function(
        "() => { const rows = document.querySelectorAll('#requests tbody tr');"
        " return rows.length === 1 && rows[0].dataset.status === 'error'; }")
    rows = page.locator("#requests tbody tr")
    assert rows.count() == 1
    assert rows.get_attribute("data-model") == "flaky"

    page.fill("#filter-user", "nobody-" + carol)
    page.locator("#requests-empty").wait_for()
    assert console.unexpected() == []


def test_sync_now_syncs_the_catalogue(page, console, open_gateway):
    open_dashboard(page, open_gateway)
    page.click("#sync-now")
    page.wait_for_function("() => document.querySelector('#sync-message').className === 'ok'")
    assert page.locator("#sync-message").inner_text().startswith("Synced: models: ")
    page.wait_for_function("() => document.querySelector('#sync-status').innerText.startsWith('Catalogue synced')")
    assert page.locator("#sync-now").is_enabled()
    assert console.unexpected() == []


def test_sync_now_shows_why_a_sync_failed(page, console, fake, tmp_path):
    config = dashboard_config(fake)
    config["model_list"] = [deployment("or-gpt", "openrouter/openai/gpt-4o", UNREACHABLE, "OPENROUTER_API_KEY")]
    with gateway(config, tmp_path, KEYS) as gw:
        open_dashboard(page, gw)
        page.click("#sync-now")
        page.wait_for_function("() => document.querySelector('#sync-message').className === 'error'")
        text = page.locator("#sync-message").inner_text()
        assert "503" in text and "Catalogue sync failed" in text
        page.wait_for_function("() => document.querySelector('#sync-status').innerText.startsWith('Last sync failed')")
    assert console.unexpected("status of 503") == []


def test_page_asks_for_the_master_key(page, console, locked_gateway):
    status, _, _ = locked_gateway.request("GET", "/ui/api/state")
    assert status == 401
    page.goto(locked_gateway.base_url + "/ui")
    page.locator("#login").wait_for()
    assert page.locator("#app").is_hidden()
    assert page.locator("#models tbody tr").count() == 0

    page.fill("#key", "sk-wrong-key")
    page.click("#login button")
    page.wait_for_function("() => document.querySelector('#login-error').innerText.includes('not accepted')")
    assert page.locator("#app").is_hidden()

    page.fill("#key", MASTER_KEY)
    page.click("#login button")
    page.wait_for_selector("#models tbody tr")
    assert page.locator("#login").is_hidden()
    page.reload()  # the key lives on in this tab
    page.wait_for_selector("#models tbody tr")
    chat(locked_gateway, "gpt-4o", "dave", api_key=MASTER_KEY)
    page.wait_for_selector('#requests td.user:text-is("dave")')

    page.click("#lock")
    page.locator("#login").wait_for()
    assert console.unexpected("status of 401") == []


@pytest.mark.parametrize("gw_name", ["open_gateway", "locked_gateway"])
def test_no_secret_reaches_the_page(page, request, gw_name):
    gw: Gateway = request.getfixturevalue(gw_name)
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    chat(gw, "claude", "erin", api_key=MASTER_KEY)
    chat(gw, "flaky", "erin", api_key=MASTER_KEY)
    bodies = [gw.request("GET", "/ui")[2],
              gw.request("POST", "/ui/api/sync", headers={**auth, "x-rin-dashboard": "1"})[2]]
    for query in ("", "?spend_by=user", "?spend_by=provider&status=error", "?model=claude&user=erin&days=90"):
        status, headers, body = gw.request("GET", "/ui/api/state" + query, headers=auth)
        assert status == 200 and headers["content-type"] == "application/json"
        bodies.append(body)
    for name in ("dashboard.js", "dashboard.css", "uPlot.iife.min.js", "uPlot.min.css"):
        bodies.append(gw.request("GET", f"/ui/static/{name}")[2])

    page.goto(gw.base_url + "/ui")
    page.evaluate(f"sessionStorage.setItem('rin-dashboard-key', {MASTER_KEY!r})")
    page.reload()
    page.wait_for_selector('#requests td.user:text-is("erin")')
    page.select_option("#spend-by", "user")
    page.wait_for_function("() => document.querySelector('#chart .u-legend').innerText.includes('erin')")
    rendered = page.content().encode()

    for secret in CANARIES:
        for body in (*bodies, rendered):
            assert secret.encode() not in body, f"{secret} leaked"
