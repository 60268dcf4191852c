"""Syncing against a real HTTP server on 127.0.0.1 (tests/fakes): success writes the file and reports
the changes; an outage, garbage, a timeout, a wrong shape or an empty list keep the last good file."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rin.catalog import SyncError, load_catalog, parse_catalog, sync_catalog, write_catalog
from rin.catalog.cli import run_sync_models
from rin.config import Config
from tests.catalog.support import ALIAS, EXCERPT, config_from, entry, excerpt_doc
from tests.fakes.upstream import FakeUpstream

NOW = datetime(2026, 8, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(catalog_path=EXCERPT) as fake:
        yield fake


@pytest.fixture(autouse=True)
def clean(upstream: FakeUpstream) -> Iterator[None]:
    upstream.reset()
    yield
    upstream.set_fault("models", None)


def make_config(tmp_path: Path, base: str, key: str | None = "sk-or-test") -> Config:
    env = {"OPENROUTER_API_BASE": base, "OPENROUTER_APP_NAME": "Sync Test"}
    if key:
        env["OPENROUTER_API_KEY"] = key
    return config_from(tmp_path, f"model_list: []\ncatalog:\n  path: {tmp_path / 'models.json'}\n", env)


def sync(config: Config, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    return asyncio.run(sync_catalog(config, timeout=timeout, now=NOW))


def previous_file(path: Path) -> bytes:
    """A catalogue from an earlier sync: no gpt-4o yet, a model since retired, an old llama price."""
    doc = excerpt_doc()
    doc["data"] = [e for e in doc["data"] if e["id"] != "openai/gpt-4o"]
    retired = entry("writer/palmyra-x5")
    retired["id"] = "writer/palmyra-x4"
    doc["data"].append(retired)
    for e in doc["data"]:
        if e["id"] == "meta-llama/llama-3.1-70b-instruct":
            e["pricing"]["prompt"] = "0.00000088"
    write_catalog(path, parse_catalog(doc, datetime(2026, 8, 1, tzinfo=UTC)))
    return path.read_bytes()


def test_sync_writes_the_catalogue_and_reports_what_changed(tmp_path: Path, upstream: FakeUpstream) -> None:
    config = make_config(tmp_path, upstream.openrouter_base)
    previous_file(config.catalog.path)
    result = sync(config)
    assert len(result.catalog) == 11 and result.catalog.not_text == 1
    assert result.diff.added == ("openai/gpt-4o",)
    assert result.diff.removed == ("writer/palmyra-x4",)
    assert result.diff.price_changed == ("meta-llama/llama-3.1-70b-instruct",)
    assert result.previous is not None and len(result.previous) == 11
    assert result.url == upstream.openrouter_base + "/models"
    on_disk = load_catalog(config.catalog.path)
    assert on_disk is not None and set(on_disk.models) == set(result.catalog.models)
    assert on_disk.synced_at == NOW
    [request] = upstream.requests
    assert request.path == "/openrouter/api/v1/models"
    assert request.headers["authorization"] == "Bearer sk-or-test"
    assert request.headers["x-title"] == "Sync Test" and request.headers["http-referer"] == "http://localhost:3000"


def test_without_a_key_the_public_catalogue_is_fetched_without_authorization(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    result = sync(make_config(tmp_path, upstream.openrouter_base, key=None))
    assert len(result.catalog) == 11 and result.previous is None
    assert "authorization" not in upstream.requests[0].headers


@pytest.mark.parametrize(("fault", "message"), [
    ("fail-500", r"/models answered HTTP 500: Internal Server Error"),
    ("fail-401", r"/models answered HTTP 401: User not found\."),
    ("garbage", r"/models did not answer with JSON \(application/json, \d+ bytes\)"),
    ("reset", r"cannot fetch the OpenRouter catalogue from http://127\.0\.0\.1:\d+/openrouter/api/v1/models: "
              r"OpenRouter connection failed"),
    ("slow3000", r"cannot fetch the OpenRouter catalogue from .*: OpenRouter timed out"),
])
def test_a_failed_sync_keeps_the_last_good_file(
    tmp_path: Path, upstream: FakeUpstream, fault: str, message: str
) -> None:
    config = make_config(tmp_path, upstream.openrouter_base)
    good = previous_file(config.catalog.path)
    upstream.set_fault("models", fault)
    with pytest.raises(SyncError, match=message):
        sync(config, timeout=0.5)
    assert config.catalog.path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml", "models.json"]


@pytest.mark.parametrize(("served", "message"), [
    ({"data": []}, r"/models listed no chat or image models \(0 answering in neither, 0 without an id\)"),
    ({"data": [entry("openai/text-embedding-3-small")]}, r"listed no chat or image models \(1 answering in neither"),
    ({"models": [entry("openai/gpt-4o")]}, r"did not answer with a model list: expected a JSON object"),
    ([entry("openai/gpt-4o")], r"did not answer with a model list"),
])
def test_an_empty_or_misshapen_list_keeps_the_last_good_file(tmp_path: Path, served: object, message: str) -> None:
    body = tmp_path / "served.json"
    body.write_text(json.dumps(served), encoding="utf-8")
    with FakeUpstream(catalog_path=body) as odd:
        config = make_config(tmp_path, odd.openrouter_base)
        good = previous_file(config.catalog.path)
        with pytest.raises(SyncError, match=message):
            sync(config)
    assert config.catalog.path.read_bytes() == good


def test_an_unreachable_upstream_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(tmp_path, f"http://127.0.0.1:{port}/api/v1")
    with pytest.raises(SyncError, match=rf"cannot fetch the OpenRouter catalogue from http://127\.0\.0\.1:{port}/"
                                        r"api/v1/models: OpenRouter connection failed"):
        sync(config)
    assert not config.catalog.path.exists()


def test_error_messages_never_show_the_key_or_url_credentials(tmp_path: Path, upstream: FakeUpstream) -> None:
    base = upstream.openrouter_base.replace("http://", "http://user:hunter2@")
    upstream.set_fault("models", "fail-500")
    with pytest.raises(SyncError) as caught:
        sync(make_config(tmp_path, base, key=None))
    text = str(caught.value)
    assert "hunter2" not in text
    assert f"http://127.0.0.1:{upstream.port}/openrouter/api/v1/models answered HTTP 500" in text
    with pytest.raises(SyncError) as caught:  # a key and URL credentials together: aiohttp refuses
        sync(make_config(tmp_path, base, key="sk-or-secret-value"))
    text = str(caught.value)
    assert "the request is invalid (ValueError); check OPENROUTER_API_BASE" in text
    assert "hunter2" not in text and "sk-or-secret-value" not in text


# `rin sync-models`


@pytest.fixture
def cli_env(tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env; the default catalogue path lands in tmp_path
    monkeypatch.setenv("OPENROUTER_API_BASE", upstream.openrouter_base)
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    monkeypatch.delenv("RIN_CONFIG", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text("model_list:\n" + ALIAS.replace("openai/gpt-4o", "openai/gpt-4-32k"), encoding="utf-8")
    return path


def run(config_path: Path | None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_sync_models(str(config_path) if config_path else None, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_prints_progress_and_a_summary(cli_env: Path, tmp_path: Path, upstream: FakeUpstream) -> None:
    target = tmp_path / "data" / "openrouter" / "models.json"
    code, out, err = run(cli_env)
    assert (code, err) == (0, "")
    assert f"Fetching {upstream.openrouter_base}/models ..." in out
    assert ("Received 11 models (1 of them image models, for /v1/images/generations) "
            "(left out: 1 answering in neither text nor images)") in out
    assert f"11 models: added 11, removed 0, price changed 0; written to {target}" in out
    assert "11 catalogue models are served as openrouter/<id>" in out
    assert "warning: openrouter/gpt-4o: 'openai/gpt-4-32k' is no longer in the OpenRouter catalogue" in out
    assert target.exists()
    previous_file(target)
    code, out, _ = run(cli_env)
    assert code == 0
    assert "11 models: added 1, removed 1, price changed 1" in out
    assert "  added: openai/gpt-4o\n  removed: writer/palmyra-x4\n" in out


def test_cli_failure_exits_1_and_keeps_the_file(cli_env: Path, tmp_path: Path, upstream: FakeUpstream) -> None:
    target = tmp_path / "data" / "openrouter" / "models.json"
    good = previous_file(target)
    upstream.set_fault("models", "fail-503")
    code, out, err = run(cli_env)
    assert code == 1
    assert "rin sync-models: failed: " in err and "answered HTTP 503" in err
    assert f"kept the last good catalogue: 11 models synced 2026-08-01 00:00 UTC in {target}" in err
    assert target.read_bytes() == good


def test_cli_first_failure_says_nothing_was_written(cli_env: Path, tmp_path: Path, upstream: FakeUpstream) -> None:
    upstream.set_fault("models", "garbage")
    code, _, err = run(cli_env)
    target = tmp_path / "data" / "openrouter" / "models.json"
    assert code == 1 and f"no catalogue was written ({target} does not exist yet)" in err


def test_cli_reports_config_errors(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env.write_text("catalog:\n  min_context: lots\n", encoding="utf-8")
    monkeypatch.setenv("RIN_CONFIG", str(cli_env))
    code, out, err = run(None)
    assert code == 1 and out == ""
    assert f"the config {cli_env} has errors:\n{cli_env}:2: catalog.min_context: 'lots' is not a whole number" in err


def test_cli_respects_a_disabled_catalogue(cli_env: Path, upstream: FakeUpstream) -> None:
    cli_env.write_text("catalog:\n  enabled: false\n", encoding="utf-8")
    code, _, err = run(cli_env)
    assert code == 1 and "catalog.enabled: false" in err
    assert upstream.count(path_contains="/models") == 0


def test_sync_models_script_runs_the_repos_cli_from_anywhere() -> None:
    """The script finds the repository's rin wherever it is run from (tests/e2e/test_data_paths.py
    runs it from another folder against a running gateway)."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "sync_models.sh"
    assert script.stat().st_mode & 0o111
    text = script.read_text(encoding="utf-8")
    assert 'exec "$root/.venv/bin/rin" sync-models "$@"' in text
