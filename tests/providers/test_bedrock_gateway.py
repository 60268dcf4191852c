"""Bedrock through a real `rin serve` against the fake, which checks every request's SigV4
signature: credentials from litellm_params, the AWS variables, a profile's files, a
`credential_process` whose short-lived credentials are refreshed before they expire, a failing one
(a 401 that cools the deployment and falls back, then recovers), an assumed role through STS, a
Bedrock API key; cross-region ids; embeddings; content-policy and context-window fallbacks; prices;
a missing region and a missing botocore; no secret in any log line or error body."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakes.bedrock_fmt import API_KEY, secret_for, session_token
from tests.gateway import REPO, Gateway

PATIENCE = 40.0  # seconds: the refresher retries a failed fetch after 5 s, then 10 s
STATIC = "AKIAFAKESTATIC01"
ENV_KEY = "ASIAFAKEENVIRON1"
BASE_KEY = "AKIAFAKEROLEBASE"
CLAUDE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
#: prints credential_process output for a fresh session key each run, counting its runs in a file;
#: fails while a "broken" file sits beside the count
PROCESS = """\
import datetime, json, pathlib, sys, time
sys.path.insert(0, {repo!r})
from tests.fakes.bedrock_fmt import secret_for, session_token
count = pathlib.Path(sys.argv[1])
if pathlib.Path(str(count) + ".broken").exists():
    sys.exit("credential helper failed: the SSO session has expired")
n = int(count.read_text() or 0) + 1 if count.exists() else 1
count.write_text(str(n))
key, expires = f"ASIAFAKEPROC{{n:04d}}", int(time.time()) + {lifetime}
stamp = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({{"Version": 1, "AccessKeyId": key, "SecretAccessKey": secret_for(key),
                  "SessionToken": session_token(key, expires), "Expiration": stamp}}))
"""


def aws_files(tmp_path: Path, lifetime: int = 20) -> dict[str, str]:
    """A credentials file with a static profile, a config file with two credential_process
    profiles, and the variables that point botocore at them (never at the machine's own)."""
    script = tmp_path / "creds.py"
    script.write_text(PROCESS.format(repo=str(REPO), lifetime=lifetime))
    (tmp_path / "credentials").write_text(f"[static]\naws_access_key_id = AKIAFAKEPROFILE1\n"
                                          f"aws_secret_access_key = {secret_for('AKIAFAKEPROFILE1')}\n")
    (tmp_path / "config").write_text(
        f"[profile static]\nregion = eu-central-1\n"
        f"[profile rotating]\ncredential_process = {sys.executable} {script} {tmp_path / 'rotating.count'}\n"
        f"[profile failing]\ncredential_process = {sys.executable} {script} {tmp_path / 'failing.count'}\n")
    (tmp_path / "failing.count.broken").write_text("")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"), "AWS_CONFIG_FILE": str(tmp_path / "config"),
            "AWS_EC2_METADATA_DISABLED": "true"}


def bedrock(name: str, model: str, fake: Any, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": f"bedrock/{model}", "api_base": fake.bedrock_base,
                                                   **params}}


def static_keys(key: str = STATIC, secret: str | None = None) -> dict[str, str]:
    return {"aws_access_key_id": key, "aws_secret_access_key": secret or secret_for(key)}


def start(config: dict[str, Any], workdir: Path, env: dict[str, str]) -> Gateway:
    """A gateway whose environment holds no AWS variable but those given."""
    gw = Gateway(config, workdir, env=env)
    gw.env = {k: v for k, v in gw.env.items() if not k.startswith("AWS_") or k in env}
    return gw


def chat(gw: Gateway, model: str, text: str = "hi", **extra: Any) -> tuple[int, dict[str, str], Any]:
    status, headers, body = gw.request("POST", "/v1/chat/completions",
                                       {"model": model, "messages": [{"role": "user", "content": text}], **extra})
    return status, headers, orjson.loads(body)


def signer(fake: Any, model: str | None = None) -> str:
    """The access key that signed the latest request (for `model`)."""
    request = [r for r in fake.requests if model is None or r.model == model][-1]
    return request.headers["authorization"].split("Credential=")[1].split("/")[0]


@pytest.fixture(scope="module")
def gw(fake, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bedrock")
    env = {**aws_files(tmp), "AWS_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": ENV_KEY,
           "AWS_SECRET_ACCESS_KEY": secret_for(ENV_KEY),
           "AWS_SESSION_TOKEN": session_token(ENV_KEY, int(time.time()) + 7200),
           "AWS_ENDPOINT_URL_STS": fake.sts_endpoint, "RIN_TEST_BASE_SECRET": secret_for(BASE_KEY)}
    config = {
        "model_list": [
            bedrock("claude", f"converse/{CLAUDE}", fake, aws_region_name="us-west-2", **static_keys()),
            bedrock("claude-tool", "anthropic.claude-tool-v1:0", fake, aws_region_name="us-west-2", **static_keys()),
            bedrock("think", "anthropic.claude-think-v1:0", fake, **static_keys()),
            bedrock("titan", "amazon.titan-embed-text-v2:0", fake, **static_keys()),
            bedrock("cohere", "cohere.embed-english-v3", fake, **static_keys()),
            bedrock("guarded", "anthropic.claude-content-policy-v1:0", fake, **static_keys()),
            bedrock("small", "anthropic.claude-ctx-overflow-v1:0", fake, **static_keys()),
            *[bedrock(fault, f"anthropic.claude-{fault}-v1:0", fake, **static_keys())
              for fault in ("cut-mid", "garbage", "error-in-stream", "fail-500")],
            bedrock("wrong-secret", "anthropic.claude-x-v1:0", fake, **static_keys(secret="not-the-secret-at-all")),
            bedrock("from-env", "meta.llama3-1-70b-instruct-v1:0", fake),
            bedrock("profile", "amazon.nova-pro-v1:0", fake, aws_profile_name="static"),
            bedrock("rotating", "amazon.nova-rotating-v1:0", fake, aws_profile_name="rotating"),
            bedrock("failing", "amazon.nova-failing-v1:0", fake, aws_profile_name="failing"),
            bedrock("failing-fb", "amazon.nova-failing-fb-v1:0", fake, aws_profile_name="failing",
                    cooldown_time=1),
            bedrock("role", "amazon.nova-role-v1:0", fake, aws_access_key_id=BASE_KEY,
                    aws_secret_access_key="os.environ/RIN_TEST_BASE_SECRET",
                    aws_role_name="arn:aws:iam::123456789012:role/rin-test", aws_session_name="rin-gw"),
            bedrock("api-key", "amazon.nova-key-v1:0", fake, api_key=API_KEY),
        ],
        "router_settings": {"num_retries": 0, "timeout": 10, "allowed_fails": 1000,
                            "fallbacks": [{"failing-fb": ["claude"]}],
                            "content_policy_fallbacks": [{"guarded": ["claude"]}],
                            "context_window_fallbacks": [{"small": ["claude"]}]},
        "general_settings": {"model_cost": {"bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0": {
            "input_cost_per_token": 0.000003, "output_cost_per_token": 0.000015}}},
    }
    with start(config, tmp / "gw", env) as gateway:
        gateway.tmp = tmp
        yield gateway


@pytest.fixture
def up(fake):
    fake.reset()
    return fake


def test_chat_is_signed_for_the_cross_region_id(gw, up):
    status, headers, body = chat(gw, "claude", "hello there")
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "Echo: hello there"
    assert headers["x-rin-model"] == f"bedrock/converse/{CLAUDE}"
    [seen] = up.requests
    assert seen.path == f"/bedrock/model/{CLAUDE}/converse" and seen.model == CLAUDE
    assert f"Credential={STATIC}/" in seen.headers["authorization"]
    assert "/us-west-2/bedrock/aws4_request" in seen.headers["authorization"]


def test_stream_tools_and_thinking(gw, up):
    client = gw.openai()
    chunks = list(client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "stream it"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: stream it"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    assert up.requests[-1].path.endswith("/converse-stream")
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}
    status, _, body = chat(gw, "claude-tool", "Paris", tools=[weather], tool_choice="required")
    assert status == 200 and body["choices"][0]["finish_reason"] == "tool_calls", body
    assert orjson.loads(body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert up.requests[-1].json["toolConfig"]["toolChoice"] == {"any": {}}
    status, _, body = chat(gw, "think", "why", reasoning_effort="low")
    assert status == 200 and body["choices"][0]["message"]["reasoning_content"].startswith("The user wrote"), body


def test_embeddings_titan_and_cohere(gw, up):
    client = gw.openai()
    titan = client.embeddings.create(model="titan", input="hello", dimensions=256)
    assert len(titan.data) == 1 and titan.usage.prompt_tokens > 0
    assert up.requests[-1].json == {"inputText": "hello", "dimensions": 256}
    cohere = client.embeddings.create(model="cohere", input=["a", "b", "c"])
    assert [d.index for d in cohere.data] == [0, 1, 2]
    assert cohere.usage.prompt_tokens == 3  # Bedrock's Cohere gives no count: estimated, never a zero
    assert up.requests[-1].json == {"texts": ["a", "b", "c"], "input_type": "search_document"}
    assert all(r.path.endswith("/invoke") and "Credential=" in r.headers["authorization"] for r in up.requests)
    status, _, body = gw.request("POST", "/v1/embeddings", {"model": "titan", "input": ["a", "b"]})
    assert status == 400 and "one text per request" in orjson.loads(body)["error"]["message"]


def test_guardrails_and_long_prompts_fall_back(gw, up):
    status, headers, body = chat(gw, "guarded")
    assert status == 200 and headers["x-rin-model"] == f"bedrock/converse/{CLAUDE}", body
    status, headers, body = chat(gw, "small")
    assert status == 200 and headers["x-rin-model"] == f"bedrock/converse/{CLAUDE}", body
    assert up.count("anthropic.claude-ctx-overflow-v1:0") == 1
    client = gw.openai()
    chunks = list(client.chat.completions.create(model="guarded", messages=[{"role": "user", "content": "x"}],
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: x"


@pytest.mark.parametrize(("model", "said"), [
    ("cut-mid", "connection failed while streaming"),
    ("error-in-stream", "ModelStreamErrorException"),
    ("garbage", "not an AWS event stream"),
    ("fail-500", "InternalServerException"),
])
def test_broken_streams_end_with_an_error_never_a_clean_end(gw, up, model, said):
    status, _, body = gw.request("POST", "/v1/chat/completions", {
        "model": model, "stream": True, "messages": [{"role": "user", "content": "one two three four five"}]})
    assert said.encode() in body and b'"error"' in body, body
    assert b"[DONE]" not in body


def test_a_wrong_secret_is_refused_by_aws_and_never_shown(gw, up):
    status, _, body = chat(gw, "wrong-secret")
    assert status == 502 and body["error"]["type"] == "upstream_auth_error"
    assert "InvalidSignatureException" in body["error"]["message"]
    assert "not-the-secret-at-all" not in orjson.dumps(body).decode()


def test_credentials_from_the_environment_and_a_profile(gw, up):
    assert chat(gw, "from-env")[0] == 200
    assert signer(up) == ENV_KEY and "x-amz-security-token" in up.requests[-1].headers
    assert "/us-east-2/bedrock/" in up.requests[-1].headers["authorization"]  # AWS_REGION
    assert chat(gw, "profile")[0] == 200
    assert signer(up) == "AKIAFAKEPROFILE1"


def test_an_assumed_role_signs_with_its_session_credentials(gw, up):
    assert chat(gw, "role")[0] == 200
    assert signer(up, "amazon.nova-role-v1:0").startswith("ASIAFAKE")
    assert gw.request("GET", "/health/liveliness")[0] == 200


def test_a_bedrock_api_key_is_a_bearer_token(gw, up):
    assert chat(gw, "api-key")[0] == 200
    assert up.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


def test_short_lived_credentials_are_refreshed_before_they_expire(gw, up):
    count = gw.tmp / "rotating.count"
    assert chat(gw, "rotating")[0] == 200
    first, runs = signer(up), int(count.read_text())
    deadline = time.monotonic() + PATIENCE
    while int(count.read_text()) == runs:
        assert time.monotonic() < deadline, "the credential_process never ran again"
        time.sleep(0.1)
    deadline = time.monotonic() + PATIENCE
    while signer(up) == first:
        assert time.monotonic() < deadline, "the refreshed credentials were never used"
        assert chat(gw, "rotating")[0] == 200
    assert signer(up) > first  # a later run's key: ASIAFAKEPROC0002 > ...0001


def test_a_failing_credential_process_is_a_401_that_cools_and_falls_back(gw, up):
    status, _, body = chat(gw, "failing")
    assert status == 401, body
    assert body["error"]["code"] == "upstream_credential_refresh_failed"
    assert "AWS credentials for bedrock/amazon.nova-failing-v1:0" in body["error"]["message"]
    assert "the SSO session has expired" in body["error"]["message"]
    status, _, body = chat(gw, "failing")
    assert status == 503 and "cooling down" in body["error"]["message"], body
    status, headers, body = chat(gw, "failing-fb")
    assert status == 200 and headers["x-rin-model"] == f"bedrock/converse/{CLAUDE}", body
    assert up.count("amazon.nova-failing-v1:0") == 0 and up.count("amazon.nova-failing-fb-v1:0") == 0
    (gw.tmp / "failing.count.broken").unlink()  # the helper works again: the background retry recovers
    deadline = time.monotonic() + PATIENCE
    while chat(gw, "failing-fb")[1]["x-rin-model"] != "bedrock/amazon.nova-failing-fb-v1:0":
        assert time.monotonic() < deadline, "the deployment never recovered"
    assert signer(up).startswith("ASIAFAKEPROC")


def test_prices_come_from_the_base_models_entry(gw, up):
    status, headers, body = chat(gw, "claude", "count me")
    assert status == 200
    gw.request("POST", "/admin/reload")  # lets the ledger flush
    _, _, logs = gw.request("GET", "/spend/logs?limit=1000")
    [row] = [r for r in orjson.loads(logs) if r["request_id"] == headers["x-rin-request-id"]]
    usage = body["usage"]
    assert row["cost_source"] == "config" and row["provider"] == "bedrock"
    expected = usage["prompt_tokens"] * 0.000003 + usage["completion_tokens"] * 0.000015
    assert float(row["cost"]) == pytest.approx(expected)


def test_no_secret_reaches_the_log(gw):
    log = gw.log()
    assert "credentials: refreshing AWS credentials for bedrock/amazon.nova-failing" in log
    for secret in (secret_for(STATIC), secret_for(ENV_KEY), secret_for(BASE_KEY), "not-the-secret-at-all",
                   secret_for("AKIAFAKEPROFILE1"), API_KEY, "FAKESESSION"):
        assert secret not in log


# loading


def test_a_model_without_a_region_fails_check_config_naming_the_key(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("model_list:\n  - model_name: claude\n    litellm_params:\n"
                      "      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0\n")
    (tmp_path / "aws_config").write_text("[default]\noutput = json\n")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "aws_config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    done = subprocess.run([sys.executable, "-m", "rin", "check-config", str(config)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    # the line of the mapping the key goes into
    assert f"{config}:3: model_list[0].litellm_params.aws_region_name: Bedrock needs a region" in done.stderr
    assert "add aws_region_name" in done.stderr


def test_without_botocore_the_model_is_disabled_naming_the_extra(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text('import sys\nsys.modules["botocore"] = None\n')
    config = tmp_path / "config.yaml"
    config.write_text("model_list:\n  - model_name: claude\n    litellm_params:\n"
                      "      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0\n      aws_region_name: us-east-1\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(site), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "rin", "models", "--json", "--config", str(config)],
                          cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    [row] = orjson.loads(done.stdout)
    assert row["status"] == "unavailable"
    assert row["reason"] == "botocore is not installed: pip install 'rin[bedrock]'"
