"""Open WebUI as a client: requests captured from a real Open WebUI 0.12.4 (tests/e2e/data/openwebui_*.json,
headers and body as it sent them, the key blanked) replayed byte for byte against `rin serve` and the
fake upstream; the `rin openwebui-export` file checked against the fields Open WebUI's importer takes;
docker-compose.yml checked by the compose CLI when one is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from rin.config import load_config
from rin.openwebui import PUBLIC_READ, export_models, model_entry, run_export
from rin.types import Deployment, ModelInfo
from tests.e2e.conftest import KEYS, deployment
from tests.gateway import REPO, Gateway

DATA = Path(__file__).parent / "data"
DB = "data/litellm/litellm_cost_tracking.db"
MASTER = "sk-rin-openwebui-test"
ADMIN, BOB = "admin@localhost", "bob@example.com"


def captured(name: str) -> dict[str, Any]:
    return orjson.loads((DATA / f"openwebui_{name}.json").read_bytes())


def replay(gw: Gateway, name: str) -> tuple[int, dict[str, str], bytes]:
    """Sends a captured request as Open WebUI sent it: same method, path, headers and body bytes;
    only the blanked key is filled in (and Host / Content-Length are the HTTP client's)."""
    doc = captured(name)
    headers = {k: f"Bearer {MASTER}" if k.lower() == "authorization" else v for k, v in doc["headers"]}
    raw = doc["body"].encode() if doc["body"] else None
    return gw.request(doc["method"], doc["path"], headers=headers, raw=raw)


def openwebui_config(fake: Any, **general: Any) -> dict[str, Any]:
    """The config Open WebUI was run against when the data was captured, pointed at the fake."""
    o, a, r = fake.openai_base, fake.anthropic_base, fake.openrouter_base
    return {
        "model_list": [
            deployment("gpt-4o", "openai/gpt-4o", o, temperature=0.7, max_tokens=4096, model_info={
                "description": "OpenAI GPT-4o (direct)", "supports_vision": True,
                "supports_function_calling": True, "max_input_tokens": 128000, "max_output_tokens": 16384,
                "input_cost_per_token": 0.0000025, "output_cost_per_token": 0.00001}),
            deployment("o3-mini", "openai/o3-mini", o, model_info={
                "description": "OpenAI o3-mini (reasoning)", "supports_vision": False,
                "supports_function_calling": True, "supports_reasoning": True, "max_input_tokens": 200000,
                "max_output_tokens": 100000, "input_cost_per_token": 0.0000011,
                "output_cost_per_token": 0.0000044}),
            deployment("claude-3-5-sonnet", "anthropic/claude-sonnet-4-6", a, "ANTHROPIC_API_KEY",
                       max_tokens=8192, model_info={
                           "description": "Anthropic Claude Sonnet 4.6", "supports_vision": True,
                           "supports_function_calling": True, "max_input_tokens": 200000,
                           "max_output_tokens": 64000, "input_cost_per_token": 0.000003,
                           "output_cost_per_token": 0.000015}),
            deployment("openrouter/gpt-4o", "openrouter/openai/gpt-4o", r, "OPENROUTER_API_KEY"),
            deployment("text-only", "openai/mystery-model-x", o, model_info={
                "supports_vision": False, "supports_function_calling": False}),
            deployment("slow-model", "openai/slow12000", o),
            deployment("stream-error", "openrouter/error-in-stream", r, "OPENROUTER_API_KEY"),
            deployment("cut-model", "openai/cut-mid", o),
            deployment("down-model", "openai/fail-500", o),
        ],
        "router_settings": {"num_retries": 0, "timeout": 30},
        "general_settings": {"master_key": MASTER, "user_header_name": "X-OpenWebUI-User-Email", **general},
        "catalog": {"enabled": False},
    }


@pytest.fixture(scope="module")
def gateway(fake, tmp_path_factory):
    with Gateway(openwebui_config(fake), tmp_path_factory.mktemp("openwebui"), env=KEYS) as gw:
        yield gw


def sse_payloads(body: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, in order (comments such as keep-alives skipped)."""
    out = []
    for event in body.decode().split("\n\n"):
        for line in event.splitlines():
            if line.startswith("data: "):
                out.append(line[len("data: "):])
    return out


def spend_rows(gw: Gateway, request_ids: list[str], timeout: float = 5.0) -> dict[str, dict]:
    """spend_log rows by request id, read with the sqlite3 program once the batch writer has them."""
    quoted = ",".join(f"'{rid}'" for rid in request_ids)  # ids come from RIN's own header: hex only
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["sqlite3", "-json", str(gw.workdir / DB),
                              f"SELECT * FROM spend_log WHERE request_id IN ({quoted})"],
                             capture_output=True, text=True).stdout
        rows = {r["request_id"]: r for r in orjson.loads(out)} if out.strip() else {}
        if len(rows) == len(request_ids) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


# --- what Open WebUI sends, replayed --------------------------------------------------------------


def test_captures_are_what_the_issue_describes():
    page, reasoning = orjson.loads(captured("page_chat")["body"]), orjson.loads(captured("reasoning_chat")["body"])
    assert page["stream"] is True and page["stream_options"] == {"include_usage": True}
    assert len(page["tools"]) == 36
    assert [m["role"] for m in reasoning["messages"]] == ["developer", "user"]
    assert reasoning["max_completion_tokens"] == 2048 and "max_tokens" not in reasoning
    headers = dict(captured("user_chat")["headers"])
    assert headers["X-OpenWebUI-User-Email"] == BOB and headers["X-OpenWebUI-User-Role"] == "user"
    assert "X-OpenWebUI-Chat-Id" in headers
    for name in ("models", "api_chat", "page_chat", "title", "tags", "follow_ups", "reasoning_chat",
                 "user_chat", "user_title", "user_param"):
        assert dict(captured(name)["headers"])["Authorization"] == "Bearer <RIN master key>"


def test_model_list_gives_every_model_a_name(gateway):
    status, _, body = replay(gateway, "models")
    assert status == 200
    models = orjson.loads(body)["data"]
    assert {m["id"] for m in models} >= {"gpt-4o", "o3-mini", "claude-3-5-sonnet", "text-only"}
    assert all(isinstance(m["name"], str) and m["name"] for m in models)
    assert next(m for m in models if m["id"] == "gpt-4o")["name"] == "OpenAI GPT-4o (direct)"


@pytest.mark.parametrize("name", ["page_chat", "reasoning_chat", "user_chat"])
def test_streamed_page_message_answers_with_usage_last(gateway, upstream, name):
    status, headers, body = replay(gateway, name)
    assert status == 200, body
    assert headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(body)
    assert payloads[-1] == "[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    assert not any("error" in c for c in chunks)
    *answer, usage = chunks
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == (
        usage["usage"]["prompt_tokens"] + usage["usage"]["completion_tokens"]) > 0
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in answer if c["choices"])
    assert text
    assert all("usage" not in c or c["usage"] is None for c in answer)

    sent = orjson.loads(captured(name)["body"])
    forwarded = upstream.requests[-1].json
    assert len(forwarded["tools"]) == len(sent["tools"])
    assert [m["role"] for m in forwarded["messages"]] == [m["role"] for m in sent["messages"]]
    if "max_completion_tokens" in sent:
        assert forwarded["max_completion_tokens"] == sent["max_completion_tokens"]


@pytest.mark.parametrize("name", ["api_chat", "title", "tags", "follow_ups", "user_title"])
def test_json_requests_answer(gateway, name):
    status, headers, body = replay(gateway, name)
    assert status == 200, body
    answer = orjson.loads(body)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"]
    assert answer["usage"]["total_tokens"] > 0
    assert float(headers["x-rin-response-cost"]) > 0


def test_spend_is_attributed_to_the_open_webui_user(gateway):
    ids = {}
    for name in ("page_chat", "user_chat", "title", "user_title"):
        status, headers, _ = replay(gateway, name)
        assert status == 200
        ids[name] = headers["x-rin-request-id"]
    rows = spend_rows(gateway, list(ids.values()))
    assert {name: rows[rid]["user"] for name, rid in ids.items()} == {
        "page_chat": ADMIN, "user_chat": BOB, "title": ADMIN, "user_title": BOB}
    assert rows[ids["user_chat"]]["stream"] in (1, "1") and rows[ids["user_chat"]]["status"] == "success"


def test_per_user_budget_refuses_that_user_once_spent(fake, tmp_path):
    config = openwebui_config(fake, max_end_user_budget=0.06, enforce_budget=True)
    config["model_list"][0]["model_info"].update(
        input_cost_per_request=0.05, input_cost_per_token=0.000000001, output_cost_per_token=0.000000001)
    with Gateway(config, tmp_path, env=KEYS) as gw:
        status, _, _ = replay(gw, "user_chat")
        assert status == 200
        status, _, body = replay(gw, "user_title")
        assert status == 429
        error = orjson.loads(body)["error"]
        assert error["type"] == "insufficient_quota" and BOB in error["message"]
        status, _, _ = replay(gw, "api_chat")  # another user's budget is untouched
        assert status == 200


def test_chat_parameter_cannot_move_spend_to_another_user(gateway):
    status, headers, _ = replay(gateway, "user_param")
    assert status == 200
    row = spend_rows(gateway, [headers["x-rin-request-id"]])[headers["x-rin-request-id"]]
    assert row["user"] == BOB


# --- rin openwebui-export -------------------------------------------------------------------------

#: Open WebUI 0.12.4 backend/open_webui/models/models.py: `class ModelForm` (extra fields ignored)
MODEL_FORM_FIELDS = {"commit_message", "id", "base_model_id", "name", "meta", "params", "access_grants",
                     "is_active"}
#: src/lib/constants.ts DEFAULT_CAPABILITIES (+ usage), the switches the model editor shows
CAPABILITIES = {"file_context", "vision", "file_upload", "web_search", "image_generation", "code_interpreter",
                "terminal", "citations", "status_updates", "usage", "memory", "builtin_tools"}


@pytest.fixture
def exported(fake, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(openwebui_config(fake)))
    return export_models(load_config(path, env=KEYS))


def test_export_has_the_shape_open_webui_imports(exported):
    assert isinstance(exported, list)  # the import file is a JSON array of models
    for entry in exported:
        assert set(entry) <= MODEL_FORM_FIELDS
        assert isinstance(entry["id"], str) and entry["id"] and not any(c.isspace() for c in entry["id"])
        assert entry["base_model_id"] is None  # an override of the model of the same id
        assert isinstance(entry["name"], str) and entry["name"] != ""
        assert isinstance(entry["is_active"], bool) and isinstance(entry["params"], dict)
        meta = entry["meta"]
        assert isinstance(meta["description"], str)
        assert set(meta["capabilities"]) <= CAPABILITIES
        assert all(isinstance(v, bool) for v in meta["capabilities"].values())
        assert all(set(tag) == {"name"} and tag["name"] for tag in meta["tags"])
        assert entry["access_grants"] == [PUBLIC_READ]
    assert orjson.loads(orjson.dumps(exported)) == exported


def test_export_carries_rins_capabilities(exported):
    by_id = {e["id"]: e for e in exported}
    gpt, o3, text = by_id["gpt-4o"], by_id["o3-mini"], by_id["text-only"]
    assert gpt["meta"]["capabilities"]["vision"] is True and gpt["params"] == {"function_calling": "native"}
    assert o3["meta"]["capabilities"]["vision"] is False  # known False: no image upload in the picker
    assert text["meta"]["capabilities"]["builtin_tools"] is False and text["params"] == {}
    for entry in exported:
        caps = entry["meta"]["capabilities"]
        assert caps["usage"] is True and caps["citations"] is True
        assert not (caps["web_search"] or caps["image_generation"] or caps["code_interpreter"])
    assert by_id["openrouter/gpt-4o"]["name"] == "GPT-4o (OpenRouter)"
    assert by_id["text-only"]["name"] == "Text Only"
    assert {t["name"] for t in o3["meta"]["tags"]} == {"openai", "tools", "reasoning"}


def test_embedding_and_media_models_stay_out_of_the_chat_picker():
    """Any group that answers no chat request (its mode set, or known from its id: whisper-1,
    dall-e-3, a Bedrock Titan embedding, ...) is inactive, with no chat capabilities."""
    def dep(provider: str, model: str, **info: str) -> Deployment:
        return Deployment(model, provider, model, "http://127.0.0.1:9/v1", model, info=ModelInfo(**info))

    for d in (dep("openai", "text-embedding-3-small", mode="embedding"), dep("openai", "whisper-1"),
              dep("openai", "tts-1"), dep("openai", "dall-e-3"), dep("cohere", "rerank-v3.5"),
              dep("bedrock", "amazon.titan-embed-text-v2:0"), dep("bedrock", "cohere.embed-english-v3"),
              dep("vertex_ai", "text-embedding-005")):
        entry = model_entry(d.model_name, [d])
        assert entry["is_active"] is False, d.provider_model
        caps = entry["meta"]["capabilities"]
        assert caps["vision"] is False and caps["builtin_tools"] is False and entry["params"] == {}, d.provider_model
    assert model_entry("gpt-4o", [dep("openai", "gpt-4o")])["is_active"] is True


def test_export_matches_what_open_webui_stored_on_import(exported):
    """openwebui_imported_models.json is Open WebUI's own record after importing this export."""
    stored = {m["id"]: m for m in captured("imported_models")["models"]}
    assert set(stored) == {e["id"] for e in exported}
    for entry in exported:
        model = stored[entry["id"]]
        assert model["name"] == entry["name"] and model["base_model_id"] is None and model["is_active"]
        for key in ("description", "capabilities", "tags"):
            assert model["meta"][key] == entry["meta"][key], (entry["id"], key)
        assert [(g["principal_type"], g["principal_id"], g["permission"]) for g in model["access_grants"]] == [
            ("user", "*", "read")]


def test_run_export_writes_the_file(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(openwebui_config(fake)))
    out = tmp_path / "models.json"
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    assert run_export(config, out) == 1  # no key: no model RIN would serve
    assert "OPENAI_API_KEY" in capsys.readouterr().err and not out.exists()
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    assert run_export(config, out) == 0
    assert [m["id"] for m in orjson.loads(out.read_bytes())][:2] == ["gpt-4o", "o3-mini"]
    assert run_export(config, "-") == 0
    assert orjson.loads(capsys.readouterr().out) == orjson.loads(out.read_bytes())
    assert run_export(tmp_path / "missing.yaml", out) == 1


def test_default_config_exports_readable_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no synced catalogue here
    config = load_config(REPO / "config" / "litellm" / "config.yaml", env=KEYS)
    exported = export_models(config)
    assert len(exported) == len(config.groups)
    assert all(e["name"] != e["id"] for e in exported)


# --- docker-compose.yml ---------------------------------------------------------------------------


def compose_command() -> list[str]:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("no docker compose CLI (neither `docker compose` nor `docker-compose`)")


def test_compose_file_is_valid(tmp_path):
    compose = compose_command()
    for name in ("docker-compose.yml", "Dockerfile", ".env.example"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copy(REPO / ".env.example", tmp_path / ".env")  # the first step the file's header asks for
    run = subprocess.run([*compose, "--profile", "redis", "--profile", "postgres", "config"],
                         cwd=tmp_path, capture_output=True, text=True, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    assert set(services) == {"rin", "open-webui", "redis", "postgres"}
    webui = services["open-webui"]["environment"]
    assert webui["OPENAI_API_BASE_URL"] == "http://rin:4000/v1"
    assert webui["ENABLE_FORWARD_USER_INFO_HEADERS"] == "true" and webui["ENABLE_OLLAMA_API"] == "false"
    assert "0.0.0.0" in services["rin"]["command"]
    assert services["redis"]["profiles"] == ["redis"] and services["postgres"]["profiles"] == ["postgres"]
    plain = subprocess.run([*compose, "config", "--services"], cwd=tmp_path, capture_output=True, text=True)
    assert {"rin", "open-webui"} <= set(plain.stdout.split())


def test_dockerfile_runs_rin_unprivileged_with_a_healthcheck():
    text = (REPO / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text and "USER rin" in text
    assert "/health/liveliness" in text
    cmd = next(line for line in text.splitlines() if line.startswith("CMD"))
    assert orjson.loads(cmd[len("CMD "):]) == ["rin", "serve", "--host", "0.0.0.0", "--port", "4000",
                                               "--config", "config/litellm/config.yaml"]
    assert ".env" in (REPO / ".dockerignore").read_text().split()


def test_env_example_names_the_guides_variables():
    names = {line.split("=", 1)[0] for line in (REPO / ".env.example").read_text().splitlines()
             if line and not line.startswith("#")}
    assert names >= {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "OPENROUTER_SITE_URL",
                     "OPENROUTER_APP_NAME", "LITELLM_MASTER_KEY"}
    assert "os.environ/LITELLM_MASTER_KEY" in (REPO / "config" / "litellm" / "config.yaml").read_text()
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert "LITELLM_MASTER_KEY" in compose["services"]["open-webui"]["environment"]["OPENAI_API_KEY"]
