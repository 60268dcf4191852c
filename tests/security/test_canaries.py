"""Secret canaries: unique values for every provider key, the master key, the database URL's
password and the Redis password; every error path forced; none may appear anywhere a user or an
operator can read: log lines, response bodies and headers, ledger rows, metrics, dashboard JSON."""

from __future__ import annotations

import socket
import subprocess

import orjson

from tests.e2e.conftest import core_config
from tests.gateway import Gateway

CANARIES = {
    "OPENAI_API_KEY": "sk-canary-openai-0a1b2c",
    "ANTHROPIC_API_KEY": "sk-ant-canary-3d4e5f",
    "OPENROUTER_API_KEY": "sk-or-canary-6a7b8c",
    "RIN_MASTER_KEY": "sk-master-canary-9d0e1f",
}
DB_PASSWORD = "dbpw-canary-4242"
REDIS_PASSWORD = "redispw-canary-7777"
SECRETS = [*CANARIES.values(), DB_PASSWORD, REDIS_PASSWORD]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_secret_leaks_on_any_path(fake, tmp_path):
    config = core_config(fake)
    config["model_list"].append({"model_name": "silent", "litellm_params": {
        "model": "openai/silent", "api_base": fake.openai_base, "api_key": "os.environ/OPENAI_API_KEY",
        "timeout": 0.3}})
    config["router_settings"].update({"redis_host": "127.0.0.1", "redis_port": closed_port(),
                                      "redis_password": "os.environ/REDIS_PASSWORD"})
    config["general_settings"] = {
        "master_key": "os.environ/RIN_MASTER_KEY",
        # the ledger's database is down for the whole test: its URL carries a password
        "database_url": f"postgresql://rin:{DB_PASSWORD}@127.0.0.1:{closed_port()}/rin",
    }
    config["litellm_settings"] = {"cache": True, "cache_params": {
        "type": "redis", "host": "127.0.0.1", "port": closed_port(), "password": "os.environ/REDIS_PASSWORD"}}
    env = {**CANARIES, "REDIS_PASSWORD": REDIS_PASSWORD}
    seen: list[bytes] = []
    auth = {"authorization": "Bearer " + CANARIES["RIN_MASTER_KEY"]}
    with Gateway(config, tmp_path, env=env) as gw:
        def call(method: str, path: str, body=None, headers=None) -> None:
            status, response_headers, payload = gw.request(method, path, body, headers=headers)
            seen.append(payload)
            seen.append(orjson.dumps(response_headers))

        for model in ("gpt-4o", "broken", "unauthorized", "garbage", "cut", "silent", "no-such-model",
                      "needs-key", "claude"):
            for stream in (False, True):
                call("POST", "/v1/chat/completions", {"model": model, "stream": stream,
                                                      "messages": [{"role": "user", "content": "hi"}]}, auth)
        call("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": []}, auth)
        call("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
             {"authorization": "Bearer " + CANARIES["OPENAI_API_KEY"]})  # a provider key is not a gateway key
        call("POST", "/v1/embeddings", {"model": "embed", "input": "x"}, auth)
        for path in ("/v1/models", "/model/info", "/health", "/health/readiness", "/metrics", "/spend/logs",
                     "/spend/report", "/ui/api/state", "/ui", "/openapi.json"):
            call("GET", path, headers=auth)
        call("POST", "/admin/reload", headers=auth)
        log = gw.log()
    spill = b"".join(p.read_bytes() for p in tmp_path.rglob("*.jsonl"))
    everything = b"\n".join(seen) + log.encode() + spill
    leaked = [secret for secret in SECRETS if secret.encode() in everything]
    assert not leaked, f"secrets leaked: {leaked}"
    # the paths were really exercised: the database outage and the upstream failures are in the log
    assert "ledger" in log and "unavailable" in log
    assert "openai returned HTTP 500" in log and "timed out" in log


def test_ledger_rows_hold_no_secret(fake, tmp_path):
    config = core_config(fake)
    config["general_settings"] = {"master_key": "os.environ/RIN_MASTER_KEY"}
    with Gateway(config, tmp_path, env=CANARIES) as gw:
        for model in ("gpt-4o", "broken", "unauthorized"):
            gw.request("POST", "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "x"}]},
                       headers={"authorization": "Bearer " + CANARIES["RIN_MASTER_KEY"]})
    dump = subprocess.run(["sqlite3", str(tmp_path / "data/litellm/litellm_cost_tracking.db"), ".dump"],
                          capture_output=True, text=True, check=True).stdout
    assert "spend_log" in dump and "INSERT" in dump
    assert not [s for s in SECRETS if s in dump]
