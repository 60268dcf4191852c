"""Google Vertex AI: what a deployment's setup makes of LiteLLM's keys and variables (project,
region, credentials, config errors at the key's line), the pure adapter (URLs, bodies, Google's and
Anthropic's error envelopes, embeddings), and end to end through `rin serve` against the fake Vertex
and Google token endpoint (tests/fakes/vertex_fmt.py): the token fetched at start and sent as
`Authorization: Bearer`, refreshed before it expires, a failing token endpoint as a 401 with a
fallback answering and never a hang, Vertex's own prices, the private key never shown; without
google-auth the deployment loads disabled naming the extra."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from rin import pricing_builtin
from rin.config import ConfigError, load_config
from rin.errors import (
    ContextWindowExceeded,
    CredentialRefreshFailed,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
)
from rin.providers import PROVIDERS, UNSUPPORTED
from rin.types import ChatRequest
from tests.e2e.conftest import KEYS, deployment
from tests.fakes.faults import Fault
from tests.fakes.vertex_fmt import ANTHROPIC_VERSION, VertexClaudeFormat, VertexGeminiFormat
from tests.gateway import REPO, Gateway

adapter = PROVIDERS["vertex_ai"].adapter
#: how long the tests wait for something the gateway does in the background
PATIENCE = 60.0


@pytest.fixture(scope="module")
def account(fake) -> dict[str, Any]:
    """One service account's key file (project rin-test), for the tests that need any."""
    return fake.google.service_account(fake.google_token_uri)


def load(tmp_path: Path, params: dict[str, Any], env: dict[str, str] | None = None, model: str = "gemini-2.5-flash",
         info: dict[str, Any] | None = None):
    path = tmp_path / "config.yaml"
    entry: dict[str, Any] = {"model_name": "v", "litellm_params": {"model": f"vertex_ai/{model}", **params}}
    if info:
        entry["model_info"] = info
    path.write_text(yaml.safe_dump({"model_list": [entry]}, sort_keys=False))
    return load_config(path, env=env or {})


def one(tmp_path: Path, params: dict[str, Any], env: dict[str, str] | None = None, model: str = "gemini-2.5-flash"):
    config = load(tmp_path, params, env, model)
    [dep] = config.deployments
    return dep, config


def ready(tmp_path: Path, params: dict[str, Any], model: str = "gemini-2.5-flash"):
    """A deployment whose credential holds a token from the fake (fetched here, as the refresher would)."""
    dep, _ = one(tmp_path, params, model=model)
    dep.credential.refresh()
    return dep


def chat(body: dict[str, Any], stream: bool = False) -> ChatRequest:
    body = {"model": "v", "messages": [{"role": "user", "content": "Hi"}], **body}
    return ChatRequest(body=body, model="v", stream=stream)


# what setup makes of the config


def test_registered_and_no_longer_unsupported():
    assert "vertex_ai" in PROVIDERS and "vertex_ai" not in UNSUPPORTED
    assert PROVIDERS["vertex_ai"].setup is not None and not PROVIDERS["vertex_ai"].key_required


def test_project_comes_from_the_config_then_the_variables_then_the_credentials(tmp_path, account):
    base = {"vertex_credentials": account, "vertex_location": "us-east5"}
    env = {"VERTEXAI_PROJECT": "from-env", "GOOGLE_CLOUD_PROJECT": "from-google-env"}
    assert one(tmp_path, {**base, "vertex_project": "mine"}, env)[0].options["project"] == "mine"
    assert one(tmp_path, {**base, "vertex_ai_project": "alias"}, env)[0].options["project"] == "alias"
    assert one(tmp_path, base, env)[0].options["project"] == "from-env"
    assert one(tmp_path, base, {"GOOGLE_CLOUD_PROJECT": "g"})[0].options["project"] == "g"
    assert one(tmp_path, base)[0].options["project"] == account["project_id"]


def test_a_missing_project_is_a_config_error_naming_the_key_at_its_line(tmp_path, account):
    nameless = {k: v for k, v in account.items() if k != "project_id"}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"vertex_credentials": nameless, "vertex_location": "us-east5"})
    [line] = caught.value.errors
    assert line.startswith(f"{tmp_path / 'config.yaml'}:3: model_list[0].litellm_params.vertex_project: ")
    assert "add vertex_project" in line and "VERTEXAI_PROJECT" in line


def test_the_location_defaults_to_us_central1_with_a_warning_naming_the_key(tmp_path, account):
    dep, config = one(tmp_path, {"vertex_credentials": account})
    assert dep.options["location"] == "us-central1" and dep.enabled
    assert dep.api_base == "https://us-central1-aiplatform.googleapis.com"
    [warning] = [w for w in config.warnings if "vertex_location" in w]
    assert ":3: model_list[0].litellm_params.vertex_location: not set: using us-central1" in warning
    dep, config = one(tmp_path, {"vertex_credentials": account}, {"VERTEXAI_LOCATION": "europe-west4"})
    assert dep.options["location"] == "europe-west4" and not [w for w in config.warnings if "vertex_location" in w]
    dep, _ = one(tmp_path, {"vertex_credentials": account, "vertex_location": "global"})
    assert dep.api_base == "https://aiplatform.googleapis.com"


def test_credentials_as_a_file_a_json_string_a_mapping_or_a_variable(tmp_path, account):
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(account))
    located = {"vertex_location": "us-east5"}
    forms = [
        one(tmp_path, {**located, "vertex_credentials": str(key_file)})[0],
        one(tmp_path, {**located, "vertex_credentials": json.dumps(account)})[0],
        one(tmp_path, {**located, "vertex_ai_credentials": account})[0],
        one(tmp_path, located, {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})[0],
        one(tmp_path, located, {"VERTEXAI_CREDENTIALS": json.dumps(account)})[0],
    ]
    assert all(dep.enabled for dep in forms)
    assert len({id(dep.credential) for dep in forms}) == 1  # one key file: one credential, one token
    assert account["client_email"] in forms[0].credential.label


def test_without_credentials_the_model_is_disabled_saying_what_to_set(tmp_path):
    dep, _ = one(tmp_path, {"vertex_project": "p", "vertex_location": "us-east5"})
    assert not dep.enabled
    assert "vertex_credentials" in dep.disabled_reason and "GOOGLE_APPLICATION_CREDENTIALS" in dep.disabled_reason
    dep, _ = one(tmp_path, {"vertex_project": "p"}, {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "nope.json")})
    assert dep.disabled_reason == f"GOOGLE_APPLICATION_CREDENTIALS: no such file: {tmp_path / 'nope.json'}"


def test_unusable_credentials_are_an_error_at_the_key_that_never_shows_them(tmp_path, account):
    secret_ish = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nQUJD'
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"vertex_credentials": secret_ish, "vertex_project": "p"})
    assert "litellm_params.vertex_credentials: looks like JSON but does not parse" in str(caught.value)
    broken = {**account, "private_key": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"vertex_credentials": broken, "vertex_project": "p"})
    assert "litellm_params.vertex_credentials: is not usable Google credentials (" in str(caught.value)
    for shown in (str(caught.value), *caught.value.errors):
        assert "QUJD" not in shown and "bm90IGEga2V5" not in shown and account["private_key"][40:80] not in shown


def test_other_model_garden_partners_load_disabled_with_a_reason(tmp_path, account):
    dep, _ = one(tmp_path, {"vertex_credentials": account}, model="meta/llama-3.1-405b-instruct-maas")
    assert not dep.enabled and "partner model RIN does not speak" in dep.disabled_reason


def test_capabilities_are_known_unless_model_info_says_otherwise(tmp_path, account):
    base = {"vertex_credentials": account, "vertex_location": "us-east5"}
    gemini = one(tmp_path, base)[0].info
    assert gemini.supports_vision is True and gemini.supports_function_calling is True
    haiku = one(tmp_path, base, model="claude-3-5-haiku@20241022")[0].info
    assert haiku.supports_function_calling is True and haiku.supports_vision is None
    [told] = load(tmp_path, base, info={"supports_vision": False}).deployments
    assert told.info.supports_vision is False and told.info.supports_function_calling is True
    embed = one(tmp_path, base, model="text-embedding-005")[0].info
    assert embed.supports_vision is None and embed.supports_function_calling is None


def test_vertex_prices_are_vertex_own():
    haiku = pricing_builtin.lookup("vertex_ai", "claude-3-5-haiku@20241022")
    assert haiku is not None and haiku.input_cost_per_token == Decimal("0.000001")  # $0.80 at Anthropic
    assert pricing_builtin.lookup("anthropic", "claude-3-5-haiku-20241022").input_cost_per_token == Decimal("8E-7")
    assert pricing_builtin.lookup("vertex_ai", "gemini-2.5-flash").output_cost_per_token == Decimal("0.0000025")
    assert pricing_builtin.lookup("vertex_ai", "text-embedding-005").input_cost_per_token == Decimal("1E-7")
    assert pricing_builtin.lookup("vertex_ai", "gemini-unknown") is None


# the adapter: URLs, bodies, errors


def test_gemini_goes_to_the_publisher_url_with_the_bearer_token(tmp_path, fake, account):
    dep = ready(tmp_path, {"vertex_credentials": account, "vertex_location": "us-east5", "api_base": fake.vertex_base})
    up = adapter.build_chat(chat({"temperature": 0.2}), dep)
    assert up.url == (f"{fake.vertex_base}/v1/projects/rin-test/locations/us-east5/publishers/google/models/"
                      "gemini-2.5-flash:generateContent")
    assert up.headers["authorization"] == f"Bearer {fake.google.latest(account['client_email'])}"
    body = orjson.loads(up.body)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    assert body["generationConfig"]["temperature"] == 0.2
    assert adapter.build_chat(chat({}, stream=True), dep).url.endswith(":streamGenerateContent?alt=sse")


def test_urls_by_region_global_tuned_endpoint_and_litellm_style_api_base(tmp_path, account):
    creds = {"vertex_credentials": account}
    dep = ready(tmp_path, {**creds, "vertex_location": "europe-west4"})
    assert adapter.build_chat(chat({}), dep).url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/rin-test/locations/europe-west4/"
        "publishers/google/models/gemini-2.5-flash:generateContent")
    dep = ready(tmp_path, {**creds, "vertex_location": "global"})
    assert adapter.build_chat(chat({}), dep).url.startswith(
        "https://aiplatform.googleapis.com/v1/projects/rin-test/locations/global/publishers/google/")
    dep = ready(tmp_path, {**creds, "vertex_location": "us-east5"}, model="4541843226421264384")
    assert "/locations/us-east5/endpoints/4541843226421264384:generateContent" in adapter.build_chat(chat({}), dep).url
    proxied = "https://gateway.example/v1/acct/gw/google-vertex-ai/v1/projects/p/locations/l/publishers/google/models/m"
    dep = ready(tmp_path, {**creds, "vertex_location": "l", "api_base": proxied})
    assert adapter.build_chat(chat({}), dep).url == proxied + ":generateContent"


def test_claude_gets_the_messages_body_without_model_on_raw_predict(tmp_path, account):
    dep = ready(tmp_path, {"vertex_credentials": account, "vertex_location": "us-east5"},
                model="claude-sonnet-4-5@20250929")
    up = adapter.build_chat(chat({"max_tokens": 100, "tools": [{"type": "function", "function": {"name": "f"}}]}), dep)
    assert up.url.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict")
    body = orjson.loads(up.body)
    assert "model" not in body and body["anthropic_version"] == ANTHROPIC_VERSION
    assert body["max_tokens"] == 100 and body["tools"][0]["name"] == "f"
    assert "anthropic-version" not in up.headers and up.headers["authorization"].startswith("Bearer ya29.")
    streamed = adapter.build_chat(chat({}, stream=True), dep)
    assert streamed.url.endswith(":streamRawPredict") and orjson.loads(streamed.body)["stream"] is True
    with pytest.raises(InvalidRequest):
        adapter.build_embeddings({"input": "x"}, dep)


def test_embeddings_are_predict_instances_and_come_back_as_an_openai_list(tmp_path, account):
    dep = ready(tmp_path, {"vertex_credentials": account, "vertex_location": "us-east5"}, model="text-embedding-005")
    up = adapter.build_embeddings({"input": ["one", "two"], "dimensions": 8, "task_type": "RETRIEVAL_QUERY"}, dep)
    assert up.url.endswith("/publishers/google/models/text-embedding-005:predict")
    assert orjson.loads(up.body) == {"instances": [{"content": "one", "task_type": "RETRIEVAL_QUERY"},
                                                   {"content": "two", "task_type": "RETRIEVAL_QUERY"}],
                                     "parameters": {"outputDimensionality": 8}}
    answer = VertexGeminiFormat().predict({"instances": [{"content": "one two"}, {"content": "three"}],
                                           "parameters": {"outputDimensionality": 8}})
    body, usage = adapter.parse_embeddings(answer.body, dep)
    data = orjson.loads(body)
    assert [len(d["embedding"]) for d in data["data"]] == [8, 8] and data["data"][1]["index"] == 1
    stats = [p["embeddings"]["statistics"]["token_count"] for p in orjson.loads(answer.body)["predictions"]]
    assert usage.prompt_tokens == sum(stats) == data["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize(("fmt", "fault", "kind"), [
    (VertexGeminiFormat, Fault("status", status=429, retry_after=7), UpstreamRateLimited),
    (VertexGeminiFormat, Fault("status", status=401), UpstreamAuthError),
    (VertexGeminiFormat, Fault("status", status=403), UpstreamAuthError),
    (VertexGeminiFormat, Fault("status", status=404), UpstreamNotFound),
    (VertexGeminiFormat, Fault("status", status=503), UpstreamServerError),
    (VertexGeminiFormat, Fault("ctx-overflow", status=400), ContextWindowExceeded),
    (VertexClaudeFormat, Fault("status", status=429, retry_after=7), UpstreamRateLimited),
    (VertexClaudeFormat, Fault("status", status=529), UpstreamServerError),
    (VertexClaudeFormat, Fault("ctx-overflow", status=400), ContextWindowExceeded),
], ids=lambda v: getattr(v, "__name__", None) or getattr(v, "kind", None))
def test_google_and_anthropic_envelopes_are_classified(fmt, fault, kind):
    reply = fmt().error(fault, "m")
    error = adapter.classify_error(reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.body)
    assert type(error) is kind
    assert error.retryable is (kind not in (UpstreamAuthError, UpstreamNotFound, ContextWindowExceeded))
    if kind is UpstreamRateLimited:
        assert error.retry_after == 7.0
    if fmt is VertexGeminiFormat:
        assert "Vertex AI" in error.message


def test_a_credential_never_fetched_is_a_credential_error_not_a_crash(tmp_path, account):
    dep, _ = one(tmp_path, {"vertex_credentials": account, "vertex_location": "us-east5"})
    fresh = type(dep.credential)({**account, "client_id": "not-shared"})
    dep.credential = fresh
    with pytest.raises(CredentialRefreshFailed, match="has not been fetched yet"):
        adapter.build_chat(chat({}), dep)


# the command line


def _pem_body(account: dict[str, Any]) -> list[str]:
    """The base64 lines of a key file's private key: none may ever be printed or logged."""
    return [line for line in account["private_key"].splitlines() if line and not line.startswith("-----")]


def test_check_config_fails_naming_vertex_project_and_never_prints_the_key(tmp_path, account):
    nameless = {k: v for k, v in account.items() if k != "project_id"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "v", "litellm_params": {
        "model": "vertex_ai/gemini-2.5-flash", "vertex_credentials": nameless}}]}, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "rin", "check-config", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    assert f"{path}:3: model_list[0].litellm_params.vertex_project: Vertex AI needs a Google Cloud project" in done.stderr
    assert not any(line in done.stdout + done.stderr for line in _pem_body(account))


def test_without_google_auth_the_model_loads_disabled_naming_the_extra(tmp_path, account):
    blocker = tmp_path / "no_google_auth"
    blocker.mkdir()
    # an absent package, as Python sees it: the import fails (this blocks it for that process only)
    (blocker / "sitecustomize.py").write_text(
        "import sys\nfor name in ('google.auth', 'google.oauth2', 'google.auth.transport',\n"
        "             'google.auth.transport.requests'):\n    sys.modules[name] = None\n")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "v", "litellm_params": {
        "model": "vertex_ai/gemini-2.5-flash", "vertex_credentials": account, "vertex_location": "us-east5"}}]}))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{blocker}:{REPO / 'src'}", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "rin", "models", "--json", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    [row] = orjson.loads(done.stdout)
    assert row["status"] == "unavailable"
    assert row["reason"] == "google-auth is not installed: pip install 'rin[vertex]'"


# end to end through rin serve


@pytest.fixture(scope="module")
def accounts(fake) -> dict[str, dict[str, Any]]:
    made = {name: fake.google.service_account(fake.google_token_uri, project_id="rin-vertex", name=name)
            for name in ("main", "short", "mid", "broken")}
    fake.google.expires_in[made["short"]["client_email"]] = 305  # just over the refresher's 300 s margin
    fake.google.expires_in[made["mid"]["client_email"]] = 5  # expires when its first refresh is due
    fake.google.failing.add(made["broken"]["client_email"])
    return made


@pytest.fixture(scope="module")
def gw(fake, accounts, tmp_path_factory):
    def vertex(name: str, model: str, account: str) -> dict[str, Any]:
        return deployment(name, f"vertex_ai/{model}", fake.vertex_base, None, vertex_location="us-east5",
                          vertex_credentials=accounts[account])

    config = {
        "model_list": [
            vertex("gem", "gemini-2.5-flash", "main"),
            vertex("claude", "claude-sonnet-4-5@20250929", "main"),
            vertex("embed", "text-embedding-005", "main"),
            vertex("short", "gemini-short", "short"),
            vertex("mid", "gemini-mid", "mid"),
            vertex("broken", "gemini-broken", "broken"),
            vertex("broken-fb", "claude-broken", "broken"),
            deployment("backup", "openai/gpt-4o", fake.openai_base),
        ],
        "router_settings": {"num_retries": 1, "timeout": 20, "fallbacks": [{"broken-fb": ["backup"]}]},
    }
    with Gateway(config, tmp_path_factory.mktemp("vertex"), env=KEYS) as gateway:
        fake.google.failing.add(accounts["mid"]["client_email"])  # its first token was fetched before serving
        yield gateway


def eventually(check: Callable[[], bool], what: str) -> None:
    """Polls `check` until it holds; fails after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def post(gw: Gateway, path: str, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, str], Any]:
    status, head, raw = gw.request("POST", path, body, headers=headers)
    return status, head, orjson.loads(raw) if raw.startswith(b"{") else raw


def user(model: str, text: str = "hello there") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def test_the_token_is_fetched_before_serving_and_sent_as_bearer(gw, fake, accounts):
    email = accounts["main"]["client_email"]
    assert fake.google.count(email) == 1  # one key file, three deployments: one token
    fake.reset()
    status, headers, body = post(gw, "/v1/chat/completions", user("gem"))
    assert status == 200 and body["choices"][0]["message"]["content"] == "Echo: hello there"
    [call] = fake.requests
    assert call.path == ("/vertex/v1/projects/rin-vertex/locations/us-east5/publishers/google/models/"
                         "gemini-2.5-flash:generateContent")
    assert call.headers["authorization"] == f"Bearer {fake.google.latest(email)}"
    assert "x-goog-api-key" not in call.headers


def test_claude_answers_chat_and_messages_natively_with_vertex_prices(gw, fake):
    status, headers, body = post(gw, "/v1/chat/completions", user("claude"))
    assert status == 200 and body["choices"][0]["message"]["content"] == "Echo: hello there"
    usage = body["usage"]
    expected = Decimal("0.000003") * usage["prompt_tokens"] + Decimal("0.000015") * usage["completion_tokens"]
    assert Decimal(headers["x-rin-response-cost"]) == expected > 0  # Vertex's price for claude-sonnet-4-5
    fake.reset()
    native = {"model": "claude", "max_tokens": 64, "stream": True,
              "messages": [{"role": "user", "content": [{"type": "text", "text": "native please"}]}]}
    status, _, raw = post(gw, "/v1/messages", native, **{"anthropic-beta": "context-1m-2025-08-07"})
    assert status == 200 and raw.rstrip().endswith(b'data: {"type":"message_stop"}')
    events = [orjson.loads(line[len(b"data: "):]) for line in raw.splitlines() if line.startswith(b"data: ")]
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "Echo: native please"
    [call] = fake.requests
    assert call.path.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict")
    assert call.json["anthropic_version"] == ANTHROPIC_VERSION and "model" not in call.json
    assert call.json["messages"] == native["messages"] and call.headers["anthropic-beta"] == "context-1m-2025-08-07"


def test_embeddings_through_predict_with_usage_and_cost(gw, fake):
    status, headers, body = post(gw, "/v1/embeddings", {"model": "embed", "input": ["a b c d e", "f"],
                                                         "dimensions": 16})
    assert status == 200, body
    assert [len(d["embedding"]) for d in body["data"]] == [16, 16]
    tokens = body["usage"]["prompt_tokens"]
    assert tokens > 0 and Decimal(headers["x-rin-response-cost"]) == Decimal("0.0000001") * tokens


def test_base64_embeddings_as_openai_sends_them(gw, fake):
    """encoding_format "base64" (the openai SDKs' default): Vertex answers floats, the client gets
    OpenAI's base64 of little-endian float32, which the SDK decodes to the same vectors."""
    floats = post(gw, "/v1/embeddings", {"model": "embed", "input": ["a b c", "d"], "dimensions": 8,
                                          "encoding_format": "float"})[2]["data"]
    status, _, body = post(gw, "/v1/embeddings", {"model": "embed", "input": ["a b c", "d"], "dimensions": 8,
                                                   "encoding_format": "base64"})
    assert status == 200 and all(isinstance(d["embedding"], str) for d in body["data"])
    decoded = [list(struct.unpack("<8f", base64.b64decode(d["embedding"]))) for d in body["data"]]
    assert decoded == [pytest.approx(d["embedding"], rel=1e-6) for d in floats]
    sdk = gw.openai().embeddings.create(model="embed", input=["a b c", "d"], dimensions=8)  # base64 by default
    assert [d.embedding for d in sdk.data] == [pytest.approx(d["embedding"], rel=1e-6) for d in floats]


def test_the_token_is_refreshed_in_the_background_before_it_expires(gw, fake, accounts):
    email = accounts["short"]["client_email"]
    first = fake.google.latest(email)
    assert fake.google.wait_for(lambda: fake.google.count(email) >= 2, PATIENCE), "no refresh before expiry"

    def sent() -> str:
        fake.reset()
        status, _, body = post(gw, "/v1/chat/completions", user("short"))
        assert status == 200, body
        # the refresher's own token requests land in the same log: pick the model call
        [call] = [r for r in fake.requests if "/publishers/" in r.path]
        return call.headers["authorization"]

    eventually(lambda: sent() != f"Bearer {first}", "the new token was never used")  # it lands a moment later
    used = sent().removeprefix("Bearer ")
    assert used in [token for e, token in fake.google.issued if e == email][1:]


def test_a_token_that_expires_and_cannot_be_refreshed_is_a_401_never_a_hang(gw, fake, accounts):
    email = accounts["mid"]["client_email"]
    assert fake.google.wait_for(lambda: email in fake.google.refused, PATIENCE), "the refresh was never tried"
    # the refusal reaches the credential a moment after the fake sent it; RIN logs it then
    eventually(lambda: f"refreshing Vertex AI service account {email} failed" in gw.log(), "no failure logged")
    status, _, body = post(gw, "/v1/chat/completions", user("mid"))
    assert status == 401, body
    assert body["error"]["code"] == "upstream_credential_refresh_failed"
    assert body["error"]["type"] == "authentication_error" and email in body["error"]["message"]
    assert "invalid_grant" in body["error"]["message"]


def test_a_failing_token_endpoint_is_a_401_and_cools_the_deployment_for_the_fallback(gw, fake, accounts):
    fake.reset()
    status, _, body = post(gw, "/v1/chat/completions", user("broken"))
    assert status == 401 and set(body) == {"error"}
    assert body["error"]["code"] == "upstream_credential_refresh_failed"
    assert "Invalid JWT Signature" in body["error"]["message"]
    status, headers, body = post(gw, "/v1/chat/completions", user("broken-fb"))
    assert status == 200 and headers["x-rin-model"] == "openai/gpt-4o" and headers["x-rin-attempts"] == "2"
    status, headers, _ = post(gw, "/v1/chat/completions", user("broken-fb"))
    assert status == 200 and headers["x-rin-attempts"] == "1"  # the cooled deployment is not tried
    assert not [r for r in fake.requests if r.path.startswith("/vertex")]  # Vertex was never called
    assert "cooldown: vertex_ai/claude-broken cooled" in gw.log()


def test_private_keys_never_reach_the_log(gw, accounts):
    log = gw.log()
    assert "credentials: refreshing Vertex AI service account" in log  # the failures were logged
    for account in accounts.values():
        assert not [line for line in _pem_body(account) if line in log]
