"""The cached catalogue is read after start-up, off the critical path (rin.catalog.pending): the real
Runtime and App, driven in-process through their ASGI interface, with OpenRouter faked on 127.0.0.1.

`Runtime.start()` only schedules the read, so right after it the load is still pending and what a
test does next deterministically runs before the catalogue arrives; each test then awaits the pending
load itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from rin.catalog import is_synced, load_catalog, parse_catalog, write_catalog
from rin.router import RequestState
from rin.runtime import Runtime
from rin.server.app import App
from rin.types import ChatRequest, Deployment
from tests.catalog.support import EXCERPT, config_from, entry, excerpt, excerpt_doc
from tests.fakes.upstream import FakeUpstream

SYNCED = "openrouter/openai/gpt-4o"  # a catalogue model no model_list entry names
RETIRED_ALIAS = "openrouter/palmyra-x4"  # a hand-written alias of a model the catalogue no longer has
MISSING = "'writer/palmyra-x4' is no longer in the OpenRouter catalogue"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(catalog_path=EXCERPT) as fake:
        yield fake


def config_text(tmp_path: Path, upstream: FakeUpstream, extra_models: str = "", catalog: str = "") -> str:
    return f"""\
model_list:
  - model_name: own-model
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-own
      api_base: {upstream.openai_base}
  - model_name: {RETIRED_ALIAS}
    litellm_params:
      model: openrouter/writer/palmyra-x4
{extra_models}catalog:
  path: {tmp_path / 'models.json'}
  sync_on_startup: false
{catalog}general_settings:
  database_url: sqlite:///{tmp_path / 'spend.db'}
"""


def runtime(tmp_path: Path, upstream: FakeUpstream) -> Runtime:
    env = {"OPENROUTER_API_BASE": upstream.openrouter_base, "OPENROUTER_API_KEY": "sk-or-test"}
    return Runtime(config_from(tmp_path, config_text(tmp_path, upstream), env))


def cached(tmp_path: Path, data: bytes | None = None) -> None:
    """The cached catalogue file: the committed excerpt (11 models), or `data` as given."""
    path = tmp_path / "models.json"
    if data is None:
        write_catalog(path, excerpt())
    else:
        path.write_bytes(data)


async def call(app: App, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any]:
    """One request through the App's ASGI interface, as uvicorn would send it."""
    payload = orjson.dumps(body) if body is not None else b""
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, data = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, orjson.loads(data)


def first_call(rt: Runtime, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """Starts `rt` and makes one call through the app while the cached catalogue is still loading."""
    app = App(rt)

    async def main() -> tuple[int, dict[str, str], Any]:
        await rt.start()
        try:
            assert rt.pending_catalog is not None
            return await call(app, method, path, body)
        finally:
            await rt.close()

    return asyncio.run(main())


def listed(body: dict[str, Any]) -> set[str]:
    return {m["id"] for m in body["data"]}


def served_ids(rt: Runtime) -> set[str]:
    return {dep.provider_model for dep in rt.config.deployments if is_synced(dep)}


def test_construction_serves_the_config_alone_and_leaves_the_catalogue_pending(tmp_path, upstream) -> None:
    cached(tmp_path)
    rt = runtime(tmp_path, upstream)
    assert rt.pending_catalog is not None and rt.pending_catalog.path == tmp_path / "models.json"
    assert rt.gen.catalog is None and served_ids(rt) == set()
    assert set(rt.config.groups) == {"own-model", RETIRED_ALIAS}
    assert not any(MISSING in w for w in rt.config.warnings)  # said once the catalogue is read
    assert rt.sync_status["models"] == 0


def test_without_a_cached_file_nothing_is_pending(tmp_path, upstream) -> None:
    rt = runtime(tmp_path, upstream)
    assert rt.pending_catalog is None and rt.router.upcoming is None


def test_a_model_lookup_before_the_load_waits_for_it_then_routes(tmp_path, upstream, caplog) -> None:
    cached(tmp_path)
    rt = runtime(tmp_path, upstream)
    caplog.set_level(logging.WARNING)

    async def main() -> None:
        first = rt.router
        await rt.start()
        try:
            assert rt.pending_catalog is not None and SYNCED not in first.config.groups
            called: list[Deployment] = []

            async def answer(dep: Deployment, timeout: float) -> str:
                called.append(dep)
                return "answered"

            state = RequestState(ChatRequest({"model": SYNCED}, SYNCED))
            assert await first.run(state, answer) == "answered"  # the router that lacked it
            assert [d.provider_model for d in called] == ["openai/gpt-4o"] and state.model_group == SYNCED
            assert rt.pending_catalog is None and rt.router is not first
            assert first.upcoming is None and rt.router.upcoming is None
        finally:
            await rt.close()

    asyncio.run(main())
    assert served_ids(rt) == set(parse_catalog(excerpt_doc()).models)
    assert rt.sync_status["models"] == 11
    # the catalogue's warnings reach the log once, when it arrives
    assert [r.getMessage() for r in caplog.records].count(next(w for w in rt.config.warnings if MISSING in w)) == 1


def test_a_chat_request_before_the_load_is_answered_by_the_catalogue_model(tmp_path, upstream) -> None:
    cached(tmp_path)
    rt = runtime(tmp_path, upstream)
    upstream.reset()
    status, headers, body = first_call(rt, "POST", "/v1/chat/completions",
                                       {"model": SYNCED, "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200, body
    assert headers["x-rin-model"] == SYNCED and body["choices"][0]["message"]["content"]
    assert [r.model for r in upstream.requests if r.path.endswith("/chat/completions")] == ["openai/gpt-4o"]


def test_counting_tokens_before_the_load_finds_the_catalogue_model(tmp_path, upstream) -> None:
    cached(tmp_path)
    rt = runtime(tmp_path, upstream)
    status, headers, body = first_call(rt, "POST", "/v1/messages/count_tokens",
                                       {"model": SYNCED, "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200 and headers["x-rin-token-count"] == "estimate" and body["input_tokens"] > 0


def test_an_unknown_model_is_still_a_404_once_the_catalogue_is_in(tmp_path, upstream) -> None:
    cached(tmp_path)
    rt = runtime(tmp_path, upstream)
    status, _, body = first_call(rt, "POST", "/v1/chat/completions",
                                 {"model": "openrouter/nobody/nothing", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 404 and body["error"]["code"] == "model_not_found"
    assert rt.pending_catalog is None and SYNCED in rt.config.groups


def test_model_listings_before_the_load_include_the_catalogue(tmp_path, upstream) -> None:
    cached(tmp_path)
    rt = runtime(tmp_path, upstream)
    app = App(rt)

    async def main() -> list[tuple[int, dict[str, str], Any]]:
        await rt.start()
        try:
            assert rt.pending_catalog is not None
            answers = [await call(app, "GET", "/v1/models")]
            answers += [await call(app, "GET", path) for path in ("/model/info", "/health")]
            return answers
        finally:
            await rt.close()

    (s1, _, models), (s2, _, info), (s3, _, health) = asyncio.run(main())
    assert s1 == s2 == s3 == 200
    synced = {f"openrouter/{i}" for i in parse_catalog(excerpt_doc()).models}
    assert SYNCED in synced and synced | {"own-model", RETIRED_ALIAS} == listed(models)
    assert SYNCED in {m["model_name"] for m in info["data"]}
    assert SYNCED in {e["model"] for e in health["healthy_endpoints"]}


def test_a_damaged_file_is_logged_when_found_and_served_without(tmp_path, upstream, caplog) -> None:
    cached(tmp_path, b'{"data": [')
    rt = runtime(tmp_path, upstream)
    app = App(rt)
    caplog.set_level(logging.WARNING)

    async def main() -> tuple[int, dict[str, str], Any]:
        pending = rt.pending_catalog
        assert pending is not None
        await rt.start()
        try:
            await pending.wait()
            assert rt.pending_catalog is None
            return await call(app, "POST", "/v1/chat/completions",
                              {"model": SYNCED, "messages": [{"role": "user", "content": "hi"}]})
        finally:
            await rt.close()

    status, _, body = asyncio.run(main())
    assert status == 404 and body["error"]["code"] == "model_not_found"
    warning = (f"catalog: {tmp_path / 'models.json'}: the catalogue is not valid JSON; run `rin sync-models` "
               "to fetch it again; serving without it until the next sync")
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("catalog:")] == [warning]
    assert rt.gen.catalog is None and set(rt.config.groups) == {"own-model", RETIRED_ALIAS}


def test_a_reload_during_the_load_is_what_stays_served(tmp_path, upstream) -> None:
    cached(tmp_path)
    rt = runtime(tmp_path, upstream)
    late = """\
  - model_name: late-model
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-late
"""
    # the newer config file: one more model, and the catalogue's openai/* models left out
    (tmp_path / "config.yaml").write_text(config_text(tmp_path, upstream, late, '  exclude: ["openai/*"]\n'))

    async def main() -> None:
        await rt.start()
        try:
            assert rt.pending_catalog is not None
            await rt.reload()
            assert rt.pending_catalog is None
        finally:
            await rt.close()

    asyncio.run(main())
    assert {"own-model", "late-model"} <= set(rt.config.groups)
    assert SYNCED not in rt.config.groups and "openrouter/anthropic/claude-3-haiku" in rt.config.groups
    assert rt.gen.catalog is not None and rt.config.catalog.exclude == ("openai/*",)


def test_a_sync_during_the_load_is_what_stays_served(tmp_path, upstream) -> None:
    doc = excerpt_doc()  # an older cached file: gpt-4o not yet listed, palmyra-x4 still there
    doc["data"] = [e for e in doc["data"] if e["id"] != "openai/gpt-4o"]
    retired = entry("writer/palmyra-x5")
    retired["id"] = "writer/palmyra-x4"
    doc["data"].append(retired)
    cached(tmp_path, orjson.dumps(doc))
    rt = runtime(tmp_path, upstream)

    async def main() -> dict[str, Any]:
        await rt.start()
        try:
            assert rt.pending_catalog is not None
            return await rt.sync_catalog()
        finally:
            await rt.close()

    summary = asyncio.run(main())
    assert summary["added"] == 1 and summary["removed"] == 1
    assert "openai/gpt-4o" in served_ids(rt) and "writer/palmyra-x4" not in served_ids(rt)
    assert rt.pending_catalog is None and rt.sync_status["state"] == "ok"
    on_disk = load_catalog(tmp_path / "models.json")
    assert on_disk is not None and set(on_disk.models) == set(rt.gen.catalog.models)
