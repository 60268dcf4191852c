"""The OpenRouter catalogue in a running gateway: background sync, hot swap, filters, failures."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import REPO, Gateway, listed, wait_for

MESSAGES = [{"role": "user", "content": "hello"}]
ADMIN = "sk-admin-catalog"


def catalog_config(fake, **catalog) -> dict:
    return {
        "model_list": [
            # the guide's alias, unpriced in config: its prices come from the catalogue
            deployment("openrouter/gpt-4o", "openrouter/openai/gpt-4o", fake.openrouter_base, "OPENROUTER_API_KEY"),
            deployment("openrouter/retired", "openrouter/openai/gpt-3.5-turbo-0301", fake.openrouter_base,
                       "OPENROUTER_API_KEY"),
        ],
        "catalog": {"exclude": ["openrouter/*"], **catalog},
        "general_settings": {"master_key": ADMIN},
    }


def env(fake) -> dict[str, str]:
    return {**KEYS, "OPENROUTER_API_BASE": fake.openrouter_base}


def test_startup_sync_adds_the_catalogue_and_enriches_aliases(fake, tmp_path):
    fake.set_fault("models", None)
    with Gateway(catalog_config(fake), tmp_path, env=env(fake), api_key=ADMIN) as gw:
        assert wait_for(lambda: "openrouter/anthropic/claude-sonnet-4.5" in listed(gw))
        ids = listed(gw)
        assert "openrouter/openai/gpt-4o-mini" in ids and "openrouter/auto" not in ids  # exclude filter
        assert "openrouter/~anthropic/claude-sonnet-latest" in ids
        assert (tmp_path / "data/openrouter/models.json").exists()
        entry = next(m for m in orjson.loads(gw.request("GET", "/v1/models")[2])["data"]
                     if m["id"] == "openrouter/perplexity/sonar")
        assert entry["rin"]["capabilities"]["function_calling"] is False
        assert entry["rin"]["pricing"]["source"] == "catalog"
        client = gw.openai()
        synced = client.chat.completions.with_raw_response.create(
            model="openrouter/anthropic/claude-sonnet-4.5", messages=MESSAGES)
        assert synced.headers["x-rin-model"] == "openrouter/anthropic/claude-sonnet-4.5"
        # tools to a catalogue model without tool support: a clear 400 before any upstream call
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="openrouter/perplexity/sonar", messages=MESSAGES,
                                           tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
        assert info.value.body["param"] == "tools"
        assert "left the catalogue" in gw.log() or "no longer in the OpenRouter catalogue" in gw.log()
        assert "openai/gpt-3.5-turbo-0301" in gw.log()
        fake.set_fault("openai/gpt-4o", "ok")
        alias = client.chat.completions.with_raw_response.create(model="openrouter/gpt-4o", messages=MESSAGES)
        fake.set_fault("openai/gpt-4o", None)
        logs = orjson.loads(gw.request("GET", "/spend/logs?model=openrouter/gpt-4o")[2])
    row = next(r for r in logs if r["request_id"] == alias.headers["x-rin-request-id"])
    assert row["cost_source"] == "provider"  # OpenRouter reported usage.cost; no config price
    assert Decimal(row["cost"]) > 0


def test_unlisted_catalogue_models_stay_routable(fake, tmp_path):
    with Gateway(catalog_config(fake, expose=False), tmp_path, env=env(fake), api_key=ADMIN) as gw:
        status, _, body = gw.request("POST", "/admin/sync")
        assert status == 200 and orjson.loads(body)["models"] >= 10
        assert listed(gw) == {"openrouter/gpt-4o", "openrouter/retired"}
        answer = gw.openai().chat.completions.create(model="openrouter/openai/gpt-4o-mini", messages=MESSAGES)
        assert answer.choices[0].message.content


def test_failed_sync_keeps_the_last_good_catalogue(fake, tmp_path):
    with Gateway(catalog_config(fake, sync_on_startup=False), tmp_path, env=env(fake), api_key=ADMIN) as gw:
        assert gw.request("POST", "/admin/sync")[0] == 200
        before = listed(gw)
        fake.set_fault("models", "fail-500")
        try:
            status, _, body = gw.request("POST", "/admin/sync")
        finally:
            fake.set_fault("models", None)
        assert status == 503 and orjson.loads(body)["error"]["code"] == "sync_failed"
        assert listed(gw) == before and len(before) > 5
    with Gateway(catalog_config(fake, sync_on_startup=False), tmp_path, env=env(fake), api_key=ADMIN) as gw:
        assert listed(gw) == before  # served at once from the cached file on the next start


def test_sync_under_load_fails_no_request(fake, tmp_path):
    with Gateway(catalog_config(fake, sync_on_startup=False), tmp_path, env=env(fake), api_key=ADMIN) as gw:
        stop = threading.Event()
        statuses: list[int] = []

        def client() -> None:
            while not stop.is_set():
                statuses.append(gw.request("POST", "/v1/chat/completions",
                                           {"model": "openrouter/gpt-4o", "messages": MESSAGES})[0])

        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(6):
                pool.submit(client)
            for _ in range(5):
                assert gw.request("POST", "/admin/sync")[0] == 200
            stop.set()
        assert len(statuses) > 10 and set(statuses) == {200}


def test_sync_models_command_and_script(fake, tmp_path):
    config = tmp_path / "config.yaml"
    import yaml

    config.write_text(yaml.safe_dump(catalog_config(fake)))
    environment = env(fake)
    import os

    full_env = {**os.environ, **environment}
    out = subprocess.run([sys.executable, "-m", "rin", "sync-models", "--config", str(config)], cwd=tmp_path,
                         env=full_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "added" in out.stdout and (tmp_path / "data/openrouter/models.json").exists()
    assert "no running gateway found for this config (no run file at" in out.stdout
    written = (tmp_path / "data/openrouter/models.json").read_bytes()
    fake.set_fault("models", "garbage")
    try:
        out = subprocess.run([sys.executable, "-m", "rin", "sync-models", "--config", str(config)], cwd=tmp_path,
                             env=full_env, capture_output=True, text=True)
        # the script runs the same command; the config's path is read from where it is run
        script = subprocess.run([str(REPO / "scripts/sync_models.sh"), "--config", str(config)], cwd=tmp_path,
                                env=full_env, capture_output=True, text=True)
    finally:
        fake.set_fault("models", None)
    assert out.returncode == 1 and "kept the last good catalogue" in out.stdout + out.stderr
    assert (tmp_path / "data/openrouter/models.json").read_bytes() == written
    assert script.returncode == 1 and "did not answer with JSON" in script.stderr
