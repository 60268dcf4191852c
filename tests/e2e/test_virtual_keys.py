"""Virtual keys end to end: created over the admin API, limited to their models, rpm and budget,
recorded in the ledger by hash, revoked at once."""

from __future__ import annotations

import subprocess

import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS, core_config
from tests.gateway import Gateway

MASTER = "sk-master-keys-e2e"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def gw(fake, tmp_path):
    config = core_config(fake)
    config["model_list"][0]["model_info"]["input_cost_per_request"] = 0.01
    config["general_settings"] = {"master_key": MASTER}
    with Gateway(config, tmp_path, env=KEYS, api_key=MASTER) as gateway:
        yield gateway


def generate(gw: Gateway, **fields) -> dict:
    status, _, body = gw.request("POST", "/key/generate", fields)
    assert status == 200, body
    return orjson.loads(body)


def test_key_limits_models_rate_and_budget(gw):
    key = generate(gw, key_alias="team-a", models=["gpt-4o"], max_budget=0.025, rpm_limit=100)["key"]
    client = gw.openai(api_key=key)
    # each request's worst case: $0.01 per request + 10 output tokens + the prompt, about $0.0102
    answers = [client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, max_tokens=10)
               for _ in range(2)]
    assert all(a.parse().choices[0].message.content for a in answers)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(model="claude", messages=MESSAGES)
    assert "may use: gpt-4o" in denied.value.message
    with pytest.raises(openai.RateLimitError) as spent:  # spent ~$0.0201 + ~$0.0102 > $0.025
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=10)
    assert spent.value.body["type"] == "insufficient_quota" and "team-a" in spent.value.message
    assert gw.request("GET", "/spend/logs", headers={"authorization": f"Bearer {key}"})[0] == 403
    status, _, body = gw.request("GET", "/key/info?key=" + key)
    info = orjson.loads(body)
    assert status == 200 and key not in body.decode() and info["info"]["spend"] > 0
    assert gw.request("POST", "/key/delete", {"keys": [key]})[0] == 200
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    ids = {a.headers["x-rin-request-id"] for a in answers}
    rows = orjson.loads(gw.request("GET", "/spend/logs?model=gpt-4o")[2])
    hashes = {r["api_key_hash"] for r in rows if r["request_id"] in ids}
    assert hashes == {info["info"]["token"]} and len(info["info"]["token"]) == 64


def test_rpm_limit(gw):
    key = generate(gw, rpm_limit=2)["key"]
    client = gw.openai(api_key=key)
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "2 requests per minute" in info.value.message
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60  # the counting minute's end


def test_virtual_key_cannot_use_admin_routes_and_cli_keys_work(gw):
    key = generate(gw, key_alias="viewer")["key"]
    for path in ("/key/generate", "/admin/reload", "/spend/report", "/metrics"):
        method = "POST" if path in ("/key/generate", "/admin/reload") else "GET"
        assert gw.request(method, path, {}, headers={"authorization": f"Bearer {key}"})[0] == 403
    import sys

    out = subprocess.run([sys.executable, "-m", "rin", "keys", "list", "--json", "--config", str(gw.config_path)],
                         cwd=gw.workdir, capture_output=True, text=True, env={**gw.env}, check=True).stdout
    listed = orjson.loads(out)
    assert any(k.get("key_alias") == "viewer" for k in listed) and key not in out


def test_spend_by_key(gw):
    one = generate(gw, key_alias="one")
    two = generate(gw, key_alias="two")
    for _ in range(2):
        gw.openai(api_key=one["key"]).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=5)
    gw.openai(api_key=two["key"]).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=5)
    report = orjson.loads(gw.request("GET", "/spend/report?group_by=key")[2])["data"]
    requests = {row["key"]: row["requests"] for row in report}
    assert requests[one["token"]] == 2 and requests[two["token"]] == 1
    logs = orjson.loads(gw.request("GET", "/spend/logs?api_key=" + one["key"])[2])
    assert len(logs) == 2 and {r["api_key_hash"] for r in logs} == {one["token"]}
    import sys

    out = subprocess.run([sys.executable, "-m", "rin", "spend", "--by", "key", "--config", str(gw.config_path)],
                         cwd=gw.workdir, capture_output=True, text=True, env={**gw.env}, check=True).stdout
    assert one["token"][:20] in out


def test_a_key_limited_to_some_models_lists_only_those(gw):
    limited = generate(gw, models=["gpt-4o"])["key"]
    everything = generate(gw)["key"]
    assert [m.id for m in gw.openai(api_key=limited).models.list()] == ["gpt-4o"]
    listed = {m.id for m in gw.openai(api_key=everything).models.list()}
    assert "gpt-4o" in listed and len(listed) > 1
    master = {m.id for m in gw.openai().models.list()}
    assert master == listed

    def info_models(key: str) -> set[str]:
        status, _, body = gw.request("GET", "/model/info", headers={"authorization": "Bearer " + key})
        assert status == 200, body
        return {d["model_name"] for d in orjson.loads(body)["data"]}

    assert info_models(limited) == {"gpt-4o"}
    assert info_models(everything) == info_models(MASTER) and len(info_models(MASTER)) > 1
