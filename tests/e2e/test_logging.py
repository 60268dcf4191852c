"""`rin serve --log-format json` and the access log, read from a real gateway's stderr."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway, wait_for

MASTER = "sk-master-canary-3b9f1e"
MESSAGES = [{"role": "user", "content": "Say hello"}]
SECRETS = (MASTER, *KEYS.values())


def logging_config(fake) -> dict:
    o, r = fake.openai_base, fake.openrouter_base
    return {
        "model_list": [
            deployment("gpt-4o", "openai/fail-503", o),
            deployment("openrouter/gpt-4o", "openrouter/openai/gpt-4o", r, "OPENROUTER_API_KEY"),
            deployment("ok", "openai/gpt-4o-ok", o),
        ],
        "router_settings": {"num_retries": 1, "allowed_fails": 1000, "timeout": 20,
                            "fallbacks": [{"gpt-4o": ["openrouter/gpt-4o"]}]},
        "general_settings": {"master_key": MASTER},
    }


def json_lines(gw: Gateway) -> list[dict]:
    """Every line the gateway wrote to stderr, each parsed as one JSON object (a line that is not
    JSON fails the test)."""
    return [orjson.loads(line) for line in gw.log().splitlines() if line.strip()]


def test_json_lines_carry_the_request_and_keep_the_retry_and_fallback_words(fake, tmp_path):
    gw = Gateway(logging_config(fake), tmp_path, env=KEYS, api_key=MASTER,
                 args=["--log-format", "json", "--access-log"])
    with gw:
        status, _, body = gw.request("POST", "/key/generate", {"key_alias": "logs"})
        virtual = orjson.loads(body)["key"]
        status, headers, _ = gw.request("POST", "/v1/chat/completions",
                                        {"model": "gpt-4o", "messages": MESSAGES, "user": "alice"},
                                        headers={"authorization": f"Bearer {virtual}"})
        assert status == 200 and headers["x-rin-attempts"] == "3"
        rid = headers["x-rin-request-id"]
    lines = json_lines(gw)
    assert lines and all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(line["ts"].endswith("Z") and line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR") for line in lines)

    mine = [line for line in lines if line.get("request_id") == rid]
    retries = [line for line in mine if line["message"].startswith("retry: gpt-4o (openai/fail-503) attempt 2")]
    fallbacks = [line for line in mine if line["message"].startswith("fallback: gpt-4o -> openrouter/gpt-4o")]
    assert len(retries) == 1 and retries[0]["logger"] == "rin.router" and retries[0]["level"] == "WARNING"
    assert retries[0]["deployment"] == "openai/fail-503" and retries[0]["attempt"] == 2
    assert len(fallbacks) == 1 and fallbacks[0]["fallback_to"] == "openrouter/gpt-4o"

    (access,) = [line for line in mine if line["logger"] == "rin.access"]
    assert access["message"].startswith(f"request {rid} chat gpt-4o -> openrouter/gpt-4o")
    assert {k: access[k] for k in ("endpoint", "requested_model", "model", "deployment", "status",
                                   "attempts", "fallback_from", "user", "stream", "cache_hit")} == {
        "endpoint": "chat", "requested_model": "gpt-4o", "model": "openrouter/gpt-4o",
        "deployment": "openrouter/openai/gpt-4o", "status": "success", "attempts": 3,
        "fallback_from": "gpt-4o", "user": "alice", "stream": False, "cache_hit": False}
    assert access["latency_ms"] > 0 and access["cost"] >= 0 and access["prompt_tokens"] > 0
    assert len(access["key_hash"]) == 12 and access["key_hash"] not in virtual

    text = gw.log()
    for secret in (*SECRETS, virtual):
        assert secret not in text


def test_the_readable_format_keeps_its_words_and_no_access_log_by_default(fake, tmp_path):
    with Gateway(logging_config(fake), tmp_path, env=KEYS, api_key=MASTER) as gw:
        status, headers, _ = gw.request("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})
        assert status == 200
    text = gw.log()
    assert "retry: gpt-4o (openai/fail-503) attempt 2" in text
    assert "fallback: gpt-4o -> openrouter/gpt-4o" in text
    assert "rin.access" not in text and headers["x-rin-request-id"] not in text
    assert not text.lstrip().startswith("{")


@pytest.mark.parametrize("env, message", [
    ({"RIN_LOG_FORMAT": "xml"}, "RIN_LOG_FORMAT='xml' is not a log format: use text or json"),
    ({"RIN_ACCESS_LOG_RATE": "fast"}, "RIN_ACCESS_LOG_RATE='fast' is not a rate"),
])
def test_a_bad_setting_is_a_startup_error_naming_it(fake, tmp_path, env, message):
    gw = Gateway(logging_config(fake), tmp_path, env={**KEYS, **env})
    with pytest.raises(RuntimeError, match="exited with 2"):
        gw.start()
    gw.stop()
    assert message in gw.log()


def test_the_settings_may_come_from_the_dotenv_file(fake, tmp_path):
    (tmp_path / ".env").write_text("RIN_LOG_FORMAT=json\n")
    with Gateway(logging_config(fake), tmp_path, env=KEYS, api_key=MASTER) as gw:
        assert gw.request("GET", "/health/liveliness")[0] == 200
    assert any(line["message"].startswith("RIN listening on") for line in json_lines(gw))


def test_the_access_log_is_capped_and_counts_what_it_drops(fake, tmp_path):
    rate, total = 2, 40
    gw = Gateway(logging_config(fake), tmp_path, api_key=MASTER, args=["--log-format", "json"],
                 env={**KEYS, "RIN_ACCESS_LOG": "1", "RIN_ACCESS_LOG_RATE": str(rate)})
    with gw:
        def one(_: int) -> int:
            return gw.request("POST", "/v1/chat/completions", {"model": "ok", "messages": MESSAGES})[0]

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(one, range(total))) == {200}

        def accounted() -> tuple[list[dict], list[dict]] | None:
            lines = [line for line in json_lines(gw) if line["logger"] == "rin.access"]
            written = [line for line in lines if "request_id" in line]
            summaries = [line for line in lines if "skipped" in line]
            return (written, summaries) if len(written) + sum(s["skipped"] for s in summaries) == total else None

        found = wait_for(accounted)  # the last second's summary comes at that second's end
        assert found, gw.log()
        written, summaries = found
        dropped = sum(s["skipped"] for s in summaries)
        metrics = gw.request("GET", "/metrics")[2].decode()
    assert 0 < len(written) < total and dropped == total - len(written)
    assert f"rin_access_log_dropped_total {dropped}" in metrics
    assert all(s["skipped"] >= 1 and s["rate"] == rate and "skipped" in s["message"] for s in summaries)
    assert len({line["request_id"] for line in written}) == len(written)


def test_requests_refused_before_any_model_have_access_lines_too(fake, tmp_path):
    """No key, a wrong key, an unknown route, a body that is not JSON: each answered with its error
    and one access line (status refused, the HTTP status, the error's class), none with a secret."""
    gw = Gateway(logging_config(fake), tmp_path, env=KEYS, api_key=MASTER,
                 args=["--log-format", "json", "--access-log"])
    wrong = "sk-wrong-canary-9d2c41"
    with gw:
        asked = {
            gw.request("POST", "/v1/chat/completions", {"model": "ok", "messages": MESSAGES},
                       headers={"authorization": ""})[1]["x-rin-request-id"]: ("POST", "/v1/chat/completions", 401),
            gw.request("POST", "/v1/chat/completions", {"model": "ok", "messages": MESSAGES},
                       headers={"authorization": f"Bearer {wrong}"})[1]["x-rin-request-id"]: (
                "POST", "/v1/chat/completions", 401),
            gw.request("GET", "/v1/nothing-here")[1]["x-rin-request-id"]: ("GET", "/v1/nothing-here", 404),
            gw.request("POST", "/v1/chat/completions", raw=b"{not json")[1]["x-rin-request-id"]: (
                "POST", "/v1/chat/completions", 400),
        }
        status, headers, _ = gw.request("POST", "/v1/chat/completions", {"model": "ok", "messages": MESSAGES})
        assert status == 200

        def lines() -> dict[str, dict] | None:
            found = {line["request_id"]: line for line in json_lines(gw)
                     if line["logger"] == "rin.access" and line.get("request_id") in asked}
            return found if len(found) == len(asked) else None

        found = wait_for(lines)
        assert found, gw.log()
    for rid, (method, path, http_status) in asked.items():
        line = found[rid]
        assert (line["method"], line["path"], line["http_status"], line["status"]) == (
            method, path, http_status, "refused")
        assert line["message"] == f"request {rid} {method} {path} refused {http_status} {line['error']}"
    served = [line for line in json_lines(gw) if line.get("request_id") == headers["x-rin-request-id"]
              and line["logger"] == "rin.access"]
    assert len(served) == 1 and served[0]["status"] == "success"  # one line, not a refused one as well
    text = gw.log()
    for secret in (*SECRETS, wrong):
        assert secret not in text
