"""Entra ID (Azure AD) tokens RIN fetches and refreshes itself for Azure OpenAI: which credential a
deployment uses, config errors at the key's line, and end to end through `rin serve` against a fake
Entra ID over TLS (tests/fakes/entra.py) and the fake Azure: the token as `Authorization: Bearer`,
its refresh before expiry, a failing Entra as a 401 with a fallback answering, never a hang, the
client secret never shown; without azure-identity the deployment loads disabled naming the extra."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from rin.config import ConfigError, load_config
from rin.errors import CredentialRefreshFailed
from rin.providers import PROVIDERS
from rin.types import ChatRequest
from tests.e2e.conftest import KEYS, deployment
from tests.fakes.entra import COGNITIVE_SCOPE, FakeEntra, FakeManagedIdentity
from tests.gateway import Gateway

SECRET = "entra-canary-Zq8~secret-4411"
APP = "6f1d0c2e-app"
TENANT = "contoso-tenant"
#: what the fake Entra's tokens live: just over the refresher's 5-minute margin, so it refreshes soon
SHORT_LIVED = 303
#: how long the tests wait for something the gateway does in the background
PATIENCE = 60.0

needs_azure_identity = pytest.mark.skipif(
    importlib.util.find_spec("azure.identity") is None, reason="the azure extra is not installed")

AZURE_HEAD = """model_list:
  - model_name: az
    litellm_params:
      model: azure/my-gpt-4o
      api_base: https://r.openai.azure.com
      api_version: "2024-10-21"
"""


def load(tmp_path: Path, text: str, env: dict[str, str]) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, env=env)


def app_keys(tenant: str = TENANT, client: str = APP, secret: str = SECRET) -> str:
    return f"      tenant_id: {tenant}\n      client_id: {client}\n      client_secret: {secret}\n"


# which credential a deployment uses


def test_a_partial_app_is_a_config_error_naming_the_missing_key_at_its_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, AZURE_HEAD + f"      tenant_id: {TENANT}\n      client_id: {APP}\n", {})
    [error] = caught.value.errors
    assert error.startswith(f"{tmp_path / 'config.yaml'}:3: model_list[0].litellm_params.client_secret: is missing")
    assert "tenant_id, client_id are set" in error


@needs_azure_identity
def test_the_deployments_own_app_wins_over_the_shared_variables(tmp_path):
    config = load(tmp_path, AZURE_HEAD + app_keys(), {"AZURE_API_KEY": "ambient", "AZURE_AD_TOKEN": "ambient-token"})
    [dep] = config.deployments
    assert dep.enabled and dep.credential is not None and dep.credential.label == f"Entra ID app {APP} in tenant {TENANT}"
    assert dep.api_key is None and dep.extra_headers == {}
    assert SECRET not in repr(dep) and not any(SECRET in w for w in config.warnings)


@needs_azure_identity
def test_a_key_or_token_in_the_deployment_wins_over_its_app(tmp_path):
    [dep] = load(tmp_path, AZURE_HEAD + app_keys() + "      api_key: k\n", {}).deployments
    assert dep.credential is None and dep.api_key.get() == "k"
    [dep] = load(tmp_path, AZURE_HEAD + app_keys() + "      azure_ad_token: static\n", {}).deployments
    assert dep.credential is None and dep.extra_headers == {"authorization": "Bearer static"}


@needs_azure_identity
def test_token_refresh_setting_uses_the_azure_variables_when_nothing_else_is_given(tmp_path):
    text = AZURE_HEAD + "litellm_settings:\n  enable_azure_ad_token_refresh: true\n"
    env = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": APP, "AZURE_CLIENT_SECRET": SECRET}
    config = load(tmp_path, text, env)
    assert config.litellm.enable_azure_ad_token_refresh and config.deployments[0].credential is not None
    [dep] = load(tmp_path, text, {**env, "AZURE_API_KEY": "k"}).deployments
    assert dep.credential is None and dep.api_key.get() == "k"
    [dep] = load(tmp_path, text, {"AZURE_TENANT_ID": TENANT}).deployments  # no secret: the default chain
    assert dep.disabled_reason is None and dep.credential.label == "Entra ID DefaultAzureCredential chain"
    [dep] = load(tmp_path, AZURE_HEAD, env).deployments  # the setting off: the variables are not used
    assert dep.disabled_reason == "AZURE_API_KEY is not set"


@needs_azure_identity
def test_an_http_authority_or_a_bad_tenant_is_refused(tmp_path):
    [dep] = load(tmp_path, AZURE_HEAD + app_keys(), {"AZURE_AUTHORITY_HOST": "http://login.example"}).deployments
    assert dep.disabled_reason == "AZURE_AUTHORITY_HOST must be an https URL, not 'http://login.example'"
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, AZURE_HEAD + app_keys(tenant="'bad tenant!'"), {})
    assert "model_list[0].litellm_params.tenant_id: Invalid tenant ID" in caught.value.errors[0]


# against the fake Entra ID


@pytest.fixture
def entra(tmp_path, monkeypatch):
    with FakeEntra(tmp_path, APP, SECRET) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.cert_path))
        yield fake


@needs_azure_identity
def test_the_adapter_sends_the_fetched_token_and_a_failed_fetch_is_a_refresh_error(tmp_path, entra):
    text = AZURE_HEAD + app_keys()
    [dep] = load(tmp_path, text, {"AZURE_AUTHORITY_HOST": entra.authority}).deployments
    dep.credential.refresh()
    req = ChatRequest({"model": "az", "messages": [{"role": "user", "content": "hi"}]}, "az")
    headers = PROVIDERS["azure"].adapter.build_chat(req, dep).headers
    assert headers["authorization"] == f"Bearer {entra.tokens[0]}" and "api-key" not in headers
    assert [(m, p) for m, p, _ in entra.requests] == [
        ("GET", f"/{TENANT}/v2.0/.well-known/openid-configuration"), ("POST", f"/{TENANT}/oauth2/v2.0/token")]
    assert entra.requests[1][2]["scope"] == COGNITIVE_SCOPE

    entra.failing = True
    [dep] = load(tmp_path, text, {"AZURE_AUTHORITY_HOST": entra.authority}).deployments
    dep.credential.refresh()
    with pytest.raises(CredentialRefreshFailed) as caught:
        PROVIDERS["azure"].adapter.build_chat(req, dep)
    assert "AADSTS7000215" in caught.value.message and SECRET not in caught.value.message


def gateway_env(entra: FakeEntra) -> dict[str, str]:
    return {**KEYS, "REQUESTS_CA_BUNDLE": str(entra.cert_path), "SSL_CERT_FILE": str(entra.cert_path),
            "AZURE_AUTHORITY_HOST": entra.authority}


def azure_app(name: str, fake: Any, **extra: Any) -> dict[str, Any]:
    return deployment(name, "azure/deploy-4o", fake.azure_base, None, api_version="2024-10-21",
                      tenant_id=TENANT, client_id=APP, client_secret="os.environ/ENTRA_SECRET", **extra)


def chat(gw: Gateway, model: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, headers, raw = gw.request("POST", "/v1/chat/completions",
                                      {"model": model, "messages": [{"role": "user", "content": "hi"}]})
    return status, headers, orjson.loads(raw)


@needs_azure_identity
def test_tokens_reach_azure_and_are_refreshed_before_they_expire(fake, tmp_path):
    with FakeEntra(tmp_path, APP, SECRET, expires_in=SHORT_LIVED) as entra, \
            Gateway({"model_list": [azure_app("az", fake)]}, tmp_path / "gw",
                    env={**gateway_env(entra), "ENTRA_SECRET": SECRET}) as gw:
        fake.reset()
        status, headers, body = chat(gw, "az")
        assert status == 200, body
        assert headers["x-rin-model"] == "azure/deploy-4o" and body["choices"][0]["message"]["content"] == "Echo: hi"
        first = entra.tokens[0]
        [sent] = fake.requests
        assert sent.headers["authorization"] == f"Bearer {first}" and "api-key" not in sent.headers
        token_calls = [form for method, _, form in entra.requests if method == "POST"]
        assert token_calls[0]["client_id"] == APP and token_calls[0]["scope"] == COGNITIVE_SCOPE

        assert entra.wait_for_tokens(2, PATIENCE), "the gateway never refreshed its token"
        deadline = time.monotonic() + PATIENCE
        while fake.requests[-1].headers["authorization"] != f"Bearer {entra.tokens[1]}":
            assert time.monotonic() < deadline, "the refreshed token was never used"
            assert chat(gw, "az")[0] == 200
        assert entra.tokens[1] != first
    assert SECRET not in gw.log()


@needs_azure_identity
def test_a_failing_entra_is_a_401_that_cools_the_deployment_and_falls_back(fake, tmp_path):
    config = {
        "model_list": [
            azure_app("entra", fake),
            azure_app("entra-fb", fake, cooldown_time=1),
            deployment("backup", "openai/gpt-4o", fake.openai_base),
        ],
        "router_settings": {"num_retries": 0, "timeout": 10, "fallbacks": [{"entra-fb": ["backup"]}]},
    }
    with FakeEntra(tmp_path, APP, "the-secret-entra-expects") as entra, \
            Gateway(config, tmp_path / "gw", env={**gateway_env(entra), "ENTRA_SECRET": SECRET}) as gw:
        fake.reset()
        status, _, body = chat(gw, "entra")
        assert status == 401, body
        assert body["error"]["code"] == "upstream_credential_refresh_failed"
        assert body["error"]["type"] == "authentication_error"
        assert f"Entra ID app {APP} in tenant {TENANT}" in body["error"]["message"]
        assert "AADSTS7000215" in body["error"]["message"]
        status, cooling, body = chat(gw, "entra")  # cooled at once: no second try until the cooldown ends
        assert status == 503 and "cooling down" in body["error"]["message"], body
        assert int(cooling["retry-after"]) >= 1  # when the cooldown ends, for the client's retry

        status, headers, body = chat(gw, "entra-fb")
        assert status == 200 and headers["x-rin-model"] == "openai/gpt-4o", body
        assert [r.path for r in fake.requests] == ["/v1/chat/completions"]  # Azure was never called

        entra.client_secret = SECRET  # the app's secret fixed in Entra: the background retry recovers
        assert entra.wait_for_tokens(1, PATIENCE), "the gateway never retried its refresh"
        deadline = time.monotonic() + PATIENCE
        while chat(gw, "entra-fb")[1]["x-rin-model"] != "azure/deploy-4o":
            assert time.monotonic() < deadline, "the deployment never recovered"
        assert fake.requests[-1].headers["authorization"].removeprefix("Bearer ") in entra.tokens
    log = gw.log()
    assert SECRET not in log and "the-secret-entra-expects" not in log
    assert "credentials: refreshing Entra ID app" in log


def test_without_azure_identity_the_deployment_is_disabled_naming_the_extra(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text('import sys\nsys.modules["azure.identity"] = None\n')
    config = tmp_path / "config.yaml"
    config.write_text(AZURE_HEAD + app_keys())
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "rin", "models", "--json", "--config", str(config)],
                          cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    [row] = orjson.loads(done.stdout)
    assert row["status"] == "unavailable"
    assert row["reason"] == "Entra ID tokens need the azure-identity package: pip install 'rin[azure]'"
    assert SECRET.encode() not in done.stdout + done.stderr


# enable_azure_ad_token_refresh without an app secret: the host's managed identity, or another credential


def test_the_refresh_setting_without_a_secret_picks_the_credential_the_variables_point_to(tmp_path):
    text = AZURE_HEAD + "litellm_settings:\n  enable_azure_ad_token_refresh: true\n"
    labels = {
        "user-assigned identity": ({"AZURE_CLIENT_ID": "mi-user"}, "Entra ID managed identity mi-user"),
        "named": ({"AZURE_CREDENTIAL": "ManagedIdentityCredential"}, "Entra ID managed identity"),
        "nothing set": ({}, "Entra ID DefaultAzureCredential chain"),
        "workload identity": ({"AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "token"), "AZURE_CLIENT_ID": "c",
                               "AZURE_TENANT_ID": "t"}, "Entra ID DefaultAzureCredential chain"),
    }
    for case, (env, label) in labels.items():
        [dep] = load(tmp_path, text, env).deployments
        assert dep.disabled_reason is None and dep.credential is not None, case
        assert dep.credential.label == label, case
    [dep] = load(tmp_path, text, {"AZURE_CREDENTIAL": "AzureCliCredentialz"}).deployments
    assert dep.disabled_reason.startswith("AZURE_CREDENTIAL='AzureCliCredentialz' is not one RIN knows: ")
    [dep] = load(tmp_path, text, {"AZURE_CREDENTIAL": "CertificateCredential", "AZURE_CLIENT_ID": "c"}).deployments
    assert dep.disabled_reason == ("AZURE_CREDENTIAL=CertificateCredential needs AZURE_TENANT_ID, "
                                   "AZURE_CERTIFICATE_PATH")
    [dep] = load(tmp_path, text, {"AZURE_CREDENTIAL": "ClientSecretCredential", "AZURE_CLIENT_ID": "c"}).deployments
    assert dep.disabled_reason == ("litellm_settings.enable_azure_ad_token_refresh is on but "
                                   "AZURE_TENANT_ID, AZURE_CLIENT_SECRET are not set")


@needs_azure_identity
@pytest.mark.parametrize("identity", ["user-assigned", "default chain"])
def test_the_hosts_managed_identity_token_reaches_azure(fake, tmp_path, identity):
    """App Service's managed identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER), asked for the
    Cognitive Services resource: through ManagedIdentityCredential for a user-assigned identity
    (AZURE_CLIENT_ID), through azure.identity's default chain with nothing else set."""
    config = {"model_list": [deployment("az", "azure/deploy-4o", fake.azure_base, None, api_version="2024-10-21")],
              "litellm_settings": {"enable_azure_ad_token_refresh": True}}
    with FakeManagedIdentity(client_ids=("mi-user",)) as mi:
        env = {**KEYS, **mi.env, **({"AZURE_CLIENT_ID": "mi-user"} if identity == "user-assigned" else {})}
        with Gateway(config, tmp_path / "gw", env=env) as gw:
            fake.reset()
            status, headers, body = chat(gw, "az")
            assert status == 200, body
            assert headers["x-rin-model"] == "azure/deploy-4o"
            [sent] = fake.requests
            assert sent.headers["authorization"] == f"Bearer {mi.tokens[0]}" and "api-key" not in sent.headers
        query, header = mi.requests[0]
        assert header == mi.header and query["resource"] == "https://cognitiveservices.azure.com"
        assert query.get("client_id") == ("mi-user" if identity == "user-assigned" else None)
        assert mi.header not in gw.log()
