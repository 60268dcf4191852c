"""The dashboard's pure parts, without a browser: the spend series, the secret guard, the routes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from rin.catalog import SyncError
from rin.config.resolved import Config, GeneralSettings, LiteLLMSettings, OpenRouterAccess, RouterSettings
from rin.dashboard import PUBLIC, ROUTES, assets, sync
from rin.dashboard.redact import MASK, redact, secret_values
from rin.dashboard.series import MAX_SERIES, OTHER, daily_spend
from rin.dashboard.state import View
from rin.errors import InvalidRequest, ServiceUnavailable
from rin.types import Deployment, Secret

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


class FakeLedger:
    """`report(by, since)` over an in-memory list of rows, as the real backends compute it."""

    def __init__(self, rows: list[tuple[datetime, str | None, str]]) -> None:
        self.rows = rows

    async def report(self, by: str, since: datetime) -> list[dict]:
        totals: dict[str | None, Decimal] = {}
        for created, key, cost in self.rows:
            if created >= since:
                totals[key] = totals.get(key, Decimal(0)) + Decimal(cost)
        return [{by: key, "cost": cost} for key, cost in totals.items()]


def spend(rows, by="model", days=3):
    return asyncio.run(daily_spend(FakeLedger(rows), by, days, NOW))


def test_spend_per_day_per_model_is_exact_and_oldest_first():
    day = timedelta(days=1)
    result = spend([
        (NOW, "gpt-4o", "0.10"), (NOW - day, "gpt-4o", "0.20"), (NOW - day, "claude", "0.05"),
        (NOW - 2 * day, "claude", "0.01"), (NOW - 9 * day, "gpt-4o", "5"),  # outside the window
    ])
    assert result["days"] == ["2026-03-08", "2026-03-09", "2026-03-10"]
    assert result["series"] == [
        {"name": "gpt-4o", "total": "0.30", "values": [0.0, 0.2, 0.1]},
        {"name": "claude", "total": "0.06", "values": [0.01, 0.05, 0.0]},
    ]
    assert result["total"] == "0.36"


def test_spend_names_missing_keys_and_folds_the_tail_into_other():
    rows = [(NOW, f"user-{n}", str(n + 1)) for n in range(MAX_SERIES + 2)] + [(NOW, None, "0.5")]
    result = spend(rows, by="user", days=1)
    names = [s["name"] for s in result["series"]]
    assert len(names) == MAX_SERIES and names[-1] == OTHER
    assert names[0] == f"user-{MAX_SERIES + 1}"
    other = result["series"][-1]
    assert Decimal(other["total"]) == Decimal("0.5") + sum(Decimal(n + 1) for n in range(3))
    assert Decimal(result["total"]) == Decimal("0.5") + sum(Decimal(n + 1) for n in range(MAX_SERIES + 2))


def test_spend_without_rows_is_empty():
    assert spend([])["series"] == [] and spend([])["total"] == "0"


def _config() -> Config:
    dep = Deployment(model_name="m", provider="openrouter", provider_model="x", api_base="http://up", id="d1",
                     api_key=Secret("sk-provider-secret"),
                     extra_headers={"X-Team-Token": "team-header-secret", "HTTP-Referer": "http://localhost:3000"})
    general = GeneralSettings(master_key=Secret("sk-master-secret"),
                              database_url="postgresql://rin:db-pass-secret@db:5432/rin",
                              alert_webhook_url="https://hooks.example/T000/hook-token-secret")
    return Config(path=None, deployments=[dep], general=general,
                  router=RouterSettings(redis_password=Secret("redis-pass-secret")),
                  litellm=LiteLLMSettings(cache_params={"password": "cache-pass-secret", "host": "redis"}),
                  openrouter=OpenRouterAccess(api_key=Secret("sk-or-env-secret"),
                                              headers={"X-Title": "RIN app", "X-Custom": "custom-header-secret"}))


def test_secret_values_cover_every_credential_but_public_headers():
    found = set(secret_values(_config()))
    assert {"sk-provider-secret", "team-header-secret", "sk-master-secret", "db-pass-secret",
            "redis-pass-secret", "cache-pass-secret", "https://hooks.example/T000/hook-token-secret",
            "sk-or-env-secret", "custom-header-secret"} <= found
    assert not {"http://localhost:3000", "RIN app", "redis"} & found


def test_redact_masks_raw_and_json_escaped_secrets():
    secrets = secret_values(_config()) + ['quo"te-secret']
    body = orjson.dumps({"a": "key sk-provider-secret here", "b": 'quo"te-secret', "n": 1})
    cleaned = redact(body, secrets)
    assert b"sk-provider-secret" not in cleaned and b"quo" not in cleaned
    assert orjson.loads(cleaned) == {"a": f"key {MASK.decode()} here", "b": MASK.decode(), "n": 1}


def test_routes_whitelist_static_files_and_keep_the_api_private():
    assert {"/ui", "/ui/api/state", "/ui/api/sync"} <= set(ROUTES)
    assert "/ui/api/state" not in PUBLIC and "/ui/api/sync" not in PUBLIC
    static = {p for p in ROUTES if p.startswith("/ui/static/")}
    assert static == {f"/ui/static/{name}" for name in assets.STATIC} and static <= PUBLIC
    for name in assets.STATIC:
        assert assets.static_file(name)
    with pytest.raises(KeyError):
        assets.static_file("../templates/dashboard.html")
    assert b"v1.6.32" in assets.static_file("uPlot.iife.min.js")
    assert b"MIT License" in assets.static_file("uPlot.LICENSE.txt")


def test_page_escapes_what_it_interpolates():
    page = assets.render_page(version='1.0"><script>x</script>', key_required=True, poll_ms=3000)
    assert b"<script>x</script>" not in page and b"&lt;script&gt;" in page
    assert b'data-auth="key"' in page and b'data-poll-ms="3000"' in page


def test_view_rejects_bad_parameters():
    assert View.parse({}) == View()
    assert View.parse({"status": "error", "spend_by": "user", "days": "30"}).days == 30
    for bad in ({"status": "weird"}, {"spend_by": "day"}, {"days": "0"}, {"days": "91"}, {"limit": "x"}):
        with pytest.raises(InvalidRequest):
            View.parse(bad)


class BareRuntime:
    """A runtime without a catalogue synchroniser."""


class FakeRuntime:
    def __init__(self, outcome=None) -> None:
        self.outcome = outcome
        self.sync_status = {"state": "ok", "synced_at": "2026-03-10T00:00:00+00:00", "error": None,
                            "models": 3, "added": ["a", "b"], "nested": {"x": 1}, "obj": object()}

    async def sync_catalog(self):
        await asyncio.sleep(0.01)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_sync_status_shows_only_scalars_and_counts():
    status = sync.status(FakeRuntime())
    assert status == {"available": True, "running": False, "state": "ok",
                      "synced_at": "2026-03-10T00:00:00+00:00", "error": None,
                      "facts": {"models": 3, "added": 2, "nested": 1}}
    assert sync.status(BareRuntime())["available"] is False


def test_sync_run_reports_results_refusals_and_failures():
    async def scenario():
        ok = FakeRuntime({"models": 3, "added": 1})
        assert await sync.run(ok) == {"ok": True, "summary": {"models": 3, "added": 1}}
        first = asyncio.ensure_future(sync.run(ok))
        await asyncio.sleep(0)
        with pytest.raises(InvalidRequest) as busy:
            await sync.run(ok)
        assert busy.value.status == 409
        await first
        with pytest.raises(ServiceUnavailable, match="last good catalogue stays in use: down"):
            await sync.run(FakeRuntime(SyncError("down")))
        with pytest.raises(ServiceUnavailable, match="not available"):
            await sync.run(BareRuntime())

    asyncio.run(scenario())
