"""Spend rows and budgets end to end: real traffic through `rin serve`, read back with the
`sqlite3` program, as the guide's users do."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway, wait_for

MESSAGES = [{"role": "user", "content": "Tell me about budgets"}]
DB = "data/litellm/litellm_cost_tracking.db"


def sql(gw: Gateway, statement: str) -> list[list[str]]:
    out = subprocess.run(["sqlite3", "-separator", "|", str(gw.workdir / DB), statement],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.strip().splitlines()]


def rows(gw: Gateway) -> list[dict]:
    out = subprocess.run(["sqlite3", "-json", str(gw.workdir / DB), "SELECT * FROM spend_log"],
                         capture_output=True, text=True, check=True).stdout
    return orjson.loads(out) if out.strip() else []


def post_raw(gw: Gateway, body: bytes) -> socket.socket:
    """A chat request sent on a socket of our own, which the test closes when it likes (a client
    that goes away)."""
    sock = socket.create_connection(("127.0.0.1", gw.port))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                 b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def priced(name: str, model: str, base: str, key_var: str = "OPENAI_API_KEY", **extra) -> dict:
    info = extra.pop("model_info", {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002})
    return deployment(name, model, base, key_var, model_info=info, **extra)


def ledger_config(fake, **general) -> dict:
    o, r = fake.openai_base, fake.openrouter_base
    return {
        "model_list": [
            priced("gpt-4o", "openai/gpt-4o", o),
            priced("openrouter/gpt-4o", "openrouter/openai/gpt-4o", r, "OPENROUTER_API_KEY",
                   model_info={}),
            priced("unpriced-model", "openai/mystery-model-x", o, model_info={}),
            priced("down", "openai/fail-503", o),
            priced("stall", "openai/stall-mid", o),
            priced("slow", "openai/slow200", o, model_info={"input_cost_per_request": 0.05}),
            priced("thinking", "openai/gpt-4o-slow5000", o),
            priced("pondering", "openai/gpt-4o-slow1500", o),
            priced("broken", "openai/fail-500", o),  # no fallback
        ],
        "router_settings": {"num_retries": 2, "allowed_fails": 1000,
                            "fallbacks": [{"down": ["gpt-4o"]}]},
        "litellm_settings": {"stream_drain_timeout": 0.5},
        "general_settings": general,
    }


def test_guide_sql_runs_after_real_traffic(fake, tmp_path):
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        client = gw.openai()
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        completion = raw.parse()
        for _ in range(2):
            client.chat.completions.create(model="openrouter/gpt-4o", messages=MESSAGES)
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        usage = completion.usage
        expected = usage.prompt_tokens * Decimal("0.000001") + usage.completion_tokens * Decimal("0.000002")
        assert Decimal(raw.headers["x-rin-response-cost"]) == expected
    by_model = dict(sql(gw, "SELECT model, SUM(cost) as total_cost FROM spend_log GROUP BY model;"))
    assert set(by_model) == {"gpt-4o", "openrouter/gpt-4o"}
    assert float(by_model["openrouter/gpt-4o"]) > 0  # OpenRouter's own usage.cost
    latest = sql(gw, "SELECT * FROM spend_log ORDER BY created_at DESC LIMIT 10;")
    assert len(latest) == 4
    assert sql(gw, "SELECT COUNT(*) FROM spend_log;") == [["4"]]
    found = {r["request_id"]: r for r in rows(gw)}
    first = found[raw.headers["x-rin-request-id"]]
    assert Decimal(first["cost"]) == expected and first["cost_source"] == "config"
    assert {r["cost_source"] for r in found.values() if r["model"] == "openrouter/gpt-4o"} == {"provider"}
    assert sorted(r["stream"] for r in found.values()) == [0, 0, 0, 1]


def test_a_failed_request_names_the_deployment_it_tried_last(fake, tmp_path):
    """An error row says which provider and deployment failed (for spend by provider), not None."""
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        status, headers, _ = gw.request("POST", "/v1/chat/completions", {"model": "broken", "messages": MESSAGES})
        assert status == 502
        deployment_id = next(d["model_info"]["id"] for d in orjson.loads(gw.request("GET", "/model/info")[2])["data"]
                             if d["model_name"] == "broken")
    [row] = rows(gw)
    assert row["request_id"] == headers["x-rin-request-id"] and row["status"] == "error"
    assert (row["provider"], row["provider_model"], row["deployment_id"]) == ("openai", "fail-500", deployment_id)
    assert row["attempts"] == 3 and Decimal(row["cost"]) == 0


def test_retries_and_fallback_make_one_row(fake, tmp_path):
    fake.reset()
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        raw = gw.openai().chat.completions.with_raw_response.create(model="down", messages=MESSAGES)
    assert fake.count("fail-503") == 3
    [row] = rows(gw)
    assert row["request_id"] == raw.headers["x-rin-request-id"]
    assert row["attempts"] == 4 and row["fallback_from"] == "down"
    assert row["model"] == "gpt-4o" and row["requested_model"] == "down" and row["status"] == "success"


def test_unpriced_model_is_flagged_never_a_silent_zero(fake, tmp_path):
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        gw.openai().chat.completions.create(model="unpriced-model", messages=MESSAGES)
        status, _, body = gw.request("GET", "/spend/report?group_by=model")
        report = orjson.loads(body)
    [row] = rows(gw)
    assert row["cost_source"] == "unpriced"
    assert report["data"][0]["unpriced"] == 1
    assert "no price known for openai/mystery-model-x" in gw.log()


def test_a_client_gone_before_the_first_token_stops_the_call_and_is_cancelled(fake, tmp_path):
    """A stream whose client disconnects while the model has not answered yet (5 s here): the
    upstream call is stopped at once and the row says cancelled, billed for its prompt."""
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        body = orjson.dumps({"model": "thinking", "messages": MESSAGES, "stream": True})
        with post_raw(gw, body):
            assert wait_for(lambda: fake.count("gpt-4o-slow5000") == 1)  # the call is under way
        found = wait_for(lambda: rows(gw) or None)
        assert found, gw.log()
    [row] = found
    assert row["status"] == "cancelled" and row["model"] == "thinking"
    assert row["latency_ms"] < 4000  # not after the model's 5 s
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] == 0 and Decimal(row["cost"]) > 0


def test_a_json_client_gone_before_the_answer_is_billed_and_cancelled(fake, tmp_path):
    """A non-streaming client that disconnects while the model works (1.5 s here): the answer that
    came is billed in full (the provider charged it) and the row says cancelled, not success."""
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        body = orjson.dumps({"model": "pondering", "messages": MESSAGES})
        with post_raw(gw, body):
            assert wait_for(lambda: fake.count("gpt-4o-slow1500") == 1)  # the call is under way
        found = wait_for(lambda: rows(gw) or None)
        assert found, gw.log()
        gw.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES)  # one that stays (keep-alive)
        assert gw.request("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})[0] == 200
        every = wait_for(lambda: len(rows(gw)) == 3 and rows(gw))  # that one with Connection: close
    gone, *stayed = sorted(every, key=lambda r: r["model"] != "pondering")
    assert gone["status"] == "cancelled" and gone["completion_tokens"] > 0 and Decimal(gone["cost"]) > 0
    assert [r["status"] for r in stayed] == ["success", "success"]


def test_stream_disconnect_is_billed_as_cancelled(fake, tmp_path):
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        body = orjson.dumps({"model": "stall", "messages": MESSAGES, "stream": True})
        with post_raw(gw, body) as sock:
            received = b""
            while b"data: " not in received:
                received += sock.recv(4096)
    [row] = rows(gw)
    assert row["status"] == "cancelled"
    assert row["completion_tokens"] > 0 and Decimal(row["cost"]) > 0


def test_hard_budget_holds_under_a_concurrent_burst(fake, tmp_path):
    config = ledger_config(fake, max_budget=1.0, budget_duration="30d", enforce_budget=True)
    with Gateway(config, tmp_path, env=KEYS) as gw:
        def one(_: int) -> int:
            status, _, _ = gw.request("POST", "/v1/chat/completions", {"model": "slow", "messages": MESSAGES})
            return status

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(one, range(200)))
        assert statuses.count(200) == 20 and statuses.count(429) == 180
        status, _, body = gw.request("GET", "/spend/report")
        [budget] = orjson.loads(body)["budgets"]
        assert Decimal(budget["spent"]) == Decimal("1.00") and Decimal(budget["reserved"]) == 0
        assert (budget["spent"], budget["reserved"], budget["limit"]) == ("1", "0", "1")  # plain, never 0E-7
        status, _, body = gw.request("POST", "/v1/chat/completions", {"model": "slow", "messages": MESSAGES})
        error = orjson.loads(body)["error"]
        assert status == 429 and error["type"] == "insufficient_quota"
        assert "global budget" in error["message"] and "resets" in error["message"]
        assert "Set a lower max_tokens" in error["message"]
    total = sql(gw, "SELECT SUM(cost) FROM spend_log WHERE status = 'success';")[0][0]
    assert Decimal(total) == Decimal("1")


def test_sigterm_under_load_loses_no_row(fake, tmp_path):
    gw = Gateway(ledger_config(fake), tmp_path, env=KEYS).start()
    answered: list[str] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        status, headers, _ = gw.request("POST", "/v1/chat/completions", {"model": "slow", "messages": MESSAGES})
        if status == 200:
            with lock:
                answered.append(headers["x-rin-request-id"])

    with ThreadPoolExecutor(max_workers=30) as pool:
        futures = [pool.submit(one, i) for i in range(30)]
        while fake.count("slow200") < 10:
            threading.Event().wait(0.01)
        gw.stop(signal.SIGTERM)
        for future in futures:
            try:
                future.result()
            except OSError:
                pass  # refused after shutdown began: never answered, so never billed
    assert answered, "no request finished before the shutdown"
    written = {r["request_id"] for r in rows(gw)}
    assert set(answered) <= written


def test_budget_exhaustion_falls_back_to_a_cheaper_model(fake, tmp_path):
    o, r = fake.openai_base, fake.openrouter_base
    config = {
        "model_list": [
            priced("gpt-4o", "openai/gpt-4o", o, max_budget=0.0001, budget_duration="30d",
                   model_info={"input_cost_per_request": 0.0001}),
            priced("openrouter/llama-3.1-405b", "openrouter/meta-llama/llama-4-maverick", r, "OPENROUTER_API_KEY"),
        ],
        "router_settings": {"fallbacks": [{"gpt-4o": ["openrouter/llama-3.1-405b"]}]},
    }
    with Gateway(config, tmp_path, env=KEYS) as gw:
        client = gw.openai()
        first = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        second = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        assert first.headers["x-rin-model"] == "openai/gpt-4o"
        assert second.headers["x-rin-model"] == "openrouter/meta-llama/llama-4-maverick"
        assert "fallback: gpt-4o -> openrouter/llama-3.1-405b (reason: BudgetExceeded)" in gw.log()
    # the window is rebuilt from the ledger: a restarted gateway still knows gpt-4o is spent
    with Gateway(config, tmp_path, env=KEYS) as gw:
        again = gw.openai().chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        assert again.headers["x-rin-model"] == "openrouter/meta-llama/llama-4-maverick"


def test_spend_logs_and_cli(fake, tmp_path):
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        gw.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES, user="alice")
        gw.openai().chat.completions.create(model="gpt-4o", messages=MESSAGES, user="bob")
        logs = orjson.loads(gw.request("GET", "/spend/logs?model=gpt-4o")[2])
        assert {row["user"] for row in logs} == {"alice", "bob"}
        assert all(row["spend"] == row["cost"] for row in logs)
        only = orjson.loads(gw.request("GET", "/spend/logs?user=alice")[2])
        assert [r["user"] for r in only] == ["alice"]
        status, _, body = gw.request("GET", "/spend/logs?limit=abc")
        assert status == 400 and orjson.loads(body)["error"]["param"] == "limit"
        metrics = gw.request("GET", "/metrics")[2].decode()
        assert 'rin_requests_total{model="gpt-4o",status="success"} 2' in metrics
        assert "rin_ledger_pending_rows" in metrics
    import sys
    out = subprocess.run([sys.executable, "-m", "rin", "spend", "--by", "user", "--config", str(gw.config_path)],
                         cwd=gw.workdir, capture_output=True, text=True, check=True).stdout
    assert "alice" in out and "bob" in out and "total" in out
    as_json = subprocess.run([sys.executable, "-m", "rin", "spend", "--json", "--config", str(gw.config_path)],
                             cwd=gw.workdir, capture_output=True, text=True, check=True).stdout
    assert orjson.loads(as_json)[0]["model"] == "gpt-4o"


@pytest.mark.parametrize("path", ["/spend/logs?start_date=yesterday", "/spend/report?group_by=color"])
def test_spend_parameters_are_validated(fake, tmp_path, path):
    with Gateway(ledger_config(fake), tmp_path, env=KEYS) as gw:
        status, _, body = gw.request("GET", path)
    assert status == 400 and orjson.loads(body)["error"]["type"] == "invalid_request_error"


def test_soft_budget_warns_once_in_the_log_and_to_the_webhook(fake, tmp_path):
    fake.reset()
    config = ledger_config(fake, max_budget=0.12, budget_duration="30d",
                           alert_webhook_url=fake.base_url + "/hooks/alert")
    with Gateway(config, tmp_path, env=KEYS) as gw:
        statuses = [gw.request("POST", "/v1/chat/completions", {"model": "slow", "messages": MESSAGES})[0]
                    for _ in range(4)]
        assert statuses == [200, 200, 200, 200]  # soft: requests go on past the limit
        status, _, body = gw.request("GET", "/spend/report")
    assert gw.log().count("budget: global budget") == 1
    hooks = [r for r in fake.requests if r.path == "/hooks/alert"]
    assert len(hooks) == 1
    assert hooks[0].json["scope"] == "global" and hooks[0].json["limit"] == "0.12"
    [budget] = orjson.loads(body)["budgets"]
    assert Decimal(budget["spent"]) == Decimal("0.20")  # overage tracked
