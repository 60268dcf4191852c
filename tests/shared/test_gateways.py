"""Two real `rin serve` processes sharing one Redis, against the fake upstream: the budget race,
a shared cooldown, and Redis stopped or frozen under live traffic.

Each test has a private redis-server (the gateway's key prefix is fixed, so a private server is
what keeps concurrent test runs apart; it is also the one these tests may stop and freeze)."""

from __future__ import annotations

import subprocess
from sqlite3 import connect as sqlite_connect
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cache.support import RedisServer
from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway
from tests.keys.conftest import pg_url  # noqa: F401 - the fixture: a fresh PostgreSQL schema
from tests.shared.support import private_server

pytestmark = [pytest.mark.services]
MESSAGES = [{"role": "user", "content": "Tell me about budgets"}]
DB = "data/litellm/litellm_cost_tracking.db"


@pytest.fixture
def server() -> Iterator[RedisServer]:
    yield from private_server()


def gateway_config(fake: Any, port: int, deps: list[dict[str, Any]] | None = None,
                   router: dict[str, Any] | None = None, **general: Any) -> dict[str, Any]:
    return {
        "model_list": deps or [deployment("slow", "openai/slow200", fake.openai_base,
                                          model_info={"input_cost_per_request": 0.05})],
        "router_settings": {"num_retries": 0, "allowed_fails": 1000, "redis_host": "127.0.0.1",
                            "redis_port": port, **(router or {})},
        "general_settings": general,
    }


def chat(gw: Gateway, model: str = "slow") -> tuple[int, bytes, float]:
    started = time.perf_counter()
    status, _, body = gw.request("POST", "/v1/chat/completions", {"model": model, "messages": MESSAGES})
    return status, body, time.perf_counter() - started


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def budget_report(gw: Gateway) -> dict[str, Any]:
    _, _, body = gw.request("GET", "/spend/report")
    [budget] = orjson.loads(body)["budgets"]
    return budget  # type: ignore[no-any-return]


def ledger_total(gw: Gateway) -> Decimal:
    out = subprocess.run(["sqlite3", str(gw.workdir / DB), "SELECT COALESCE(SUM(cost), 0) FROM spend_log"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return Decimal(out)


def test_a_hard_budget_holds_across_two_instances_under_a_concurrent_burst(
    fake: Any, server: RedisServer, tmp_path: Path
) -> None:
    config = gateway_config(fake, server.port, max_budget=1.0, budget_duration="30d", enforce_budget=True)
    with Gateway(config, tmp_path / "a", env=KEYS) as a, Gateway(config, tmp_path / "b", env=KEYS) as b:
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(lambda i: chat((a, b)[i % 2])[0], range(200)))
        assert statuses.count(200) == 20 and statuses.count(429) == 180
        client = server.client()
        [key] = [k for k in client.scan_iter(match="rin:budget:global:*") if not k.endswith(b":holds")]
        eventually(lambda: client.hmget(key, "spent", "reserved") == [b"1000000000", b"0"])
        for gw in (a, b):  # each instance's own figures follow within a tick
            eventually(lambda: Decimal(budget_report(gw)["spent"]) == Decimal("1.00")  # noqa: B023
                       and Decimal(budget_report(gw)["reserved"]) == 0)  # noqa: B023
            status, body, _ = chat(gw)
            assert status == 429 and orjson.loads(body)["error"]["type"] == "insufficient_quota"
    assert ledger_total(a) + ledger_total(b) == Decimal("1")
    assert ledger_total(a) > 0 and ledger_total(b) > 0  # both instances served part of it


def test_a_deployment_cooled_by_one_instance_is_skipped_by_the_other(
    fake: Any, server: RedisServer, tmp_path: Path
) -> None:
    model = f"cool-{uuid.uuid4().hex[:8]}"
    config = gateway_config(fake, server.port, [deployment("cool", f"openai/{model}", fake.openai_base)],
                            {"allowed_fails": 2, "cooldown_time": 60})
    fake.set_fault(model, "fail-503")
    try:
        with Gateway(config, tmp_path / "a", env=KEYS) as a, Gateway(config, tmp_path / "b", env=KEYS) as b:
            assert [chat(a, "cool")[0] for _ in range(2)] == [502, 502]  # the upstream's 503s
            assert fake.count(model) == 2  # A called it twice, and cooled it
            eventually(lambda: b'"cooling_down"' in b.request("GET", "/model/info")[2])
            status, body, _ = chat(b, "cool")
            assert status == 503 and "cooling down" in orjson.loads(body)["error"]["message"]
            assert fake.count(model) == 2  # B never called it
            assert "cooled for" in b.log() and "opened by another instance" in b.log()
    finally:
        fake.set_fault(model, None)


def test_redis_stopped_mid_test_hard_budgets_refuse_then_recover(
    fake: Any, server: RedisServer, tmp_path: Path
) -> None:
    deps = [deployment("fast", "openai/gpt-4o", fake.openai_base, model_info={"input_cost_per_request": 0.001})]
    config = gateway_config(fake, server.port, deps, max_budget=100, budget_duration="30d", enforce_budget=True)
    with Gateway(config, tmp_path, env=KEYS) as gw:
        assert chat(gw, "fast")[0] == 200
        server.kill()
        for _ in range(6):
            status, body, seconds = chat(gw, "fast")
            assert status == 503 and seconds < 2.0
            message = orjson.loads(body)["error"]["message"]
            assert message.startswith(f"budget state unavailable (Redis 127.0.0.1:{server.port}: ")
            assert "refusing rather than risking overspend" in message
        server.start()  # empty: the window is seeded again from what the instance last saw
        eventually(lambda: chat(gw, "fast")[0] == 200, seconds=10)
        client = server.client()  # the answer before the outage and the one after, each once
        eventually(lambda: [k for k in client.scan_iter(match="rin:budget:global:*") if not k.endswith(b":holds")]
                   != [])
        [key] = [k for k in client.scan_iter(match="rin:budget:global:*") if not k.endswith(b":holds")]
        eventually(lambda: client.hmget(key, "spent", "reserved") == [b"2000000", b"0"])
        eventually(lambda: Decimal(budget_report(gw)["spent"]) == Decimal("0.002"), seconds=3)
    lines = [line for line in gw.log().splitlines() if "shared state: redis" in line]
    assert len(lines) == 2, lines
    assert "shared state: redis unavailable" in lines[0] and "shared state: redis recovered" in lines[1]


def test_redis_frozen_requests_are_still_answered_within_the_timeout_budget(
    fake: Any, server: RedisServer, tmp_path: Path
) -> None:
    deps = [deployment("fast", "openai/gpt-4o", fake.openai_base, model_info={"input_cost_per_request": 0.001})]
    hard = gateway_config(fake, server.port, deps, max_budget=100, budget_duration="30d", enforce_budget=True)
    soft = gateway_config(fake, server.port, deps, max_budget=100, budget_duration="30d")
    with Gateway(hard, tmp_path / "hard", env=KEYS) as h, Gateway(soft, tmp_path / "soft", env=KEYS) as s:
        assert chat(h, "fast")[0] == 200 and chat(s, "fast")[0] == 200
        server.freeze()  # the process stops; its sockets stay open and silent
        try:
            with ThreadPoolExecutor(max_workers=20) as pool:
                results = list(pool.map(lambda i: chat((h, s)[i % 2], "fast"), range(40)))
            hard_results, soft_results = results[0::2], results[1::2]
            assert all(status == 503 and seconds < 2.0 for status, _, seconds in hard_results), hard_results
            assert all(status == 200 and seconds < 2.0 for status, _, seconds in soft_results), soft_results
        finally:
            server.thaw()
        eventually(lambda: chat(h, "fast")[0] == 200, seconds=10)
        # both share the global window: 2 answers from the hard one, 21 from the soft one, whose 20
        # counted during the freeze are booked in Redis after it (once: the seed excludes them)
        client = server.client()
        [key] = [k for k in client.scan_iter(match="rin:budget:global:*") if not k.endswith(b":holds")]
        eventually(lambda: client.hmget(key, "spent", "reserved") == [b"23000000", b"0"], seconds=10)
        eventually(lambda: Decimal(budget_report(s)["spent"]) == Decimal("0.023"), seconds=3)


MASTER = "sk-master-shared-keys"


def key_chat(gw: Gateway, key: str, model: str = "slow") -> int:
    status, _, _ = gw.request("POST", "/v1/chat/completions", {"model": model, "messages": MESSAGES},
                              headers={"authorization": f"Bearer {key}"})
    return status


def generate_key(gw: Gateway, **fields: Any) -> dict[str, Any]:
    status, _, body = gw.request("POST", "/key/generate", fields)
    assert status == 200, body
    return orjson.loads(body)  # type: ignore[no-any-return]


def test_a_virtual_keys_budget_holds_across_two_instances_under_a_concurrent_burst(
    fake: Any, server: RedisServer, pg_url: str, tmp_path: Path
) -> None:
    """Two instances sharing PostgreSQL (the keys) and Redis: a key's $1.00 budget, 200 concurrent
    requests able to cost $0.05 each, half on each instance: exactly 20 are admitted."""
    config = gateway_config(fake, server.port, master_key=MASTER, database_url=pg_url)
    with Gateway(config, tmp_path / "a", env=KEYS, api_key=MASTER) as a:
        made = generate_key(a, key_alias="shared-team", max_budget=1.0, budget_duration="30d")
        with Gateway(config, tmp_path / "b", env=KEYS, api_key=MASTER) as b:  # loads the key at start
            with ThreadPoolExecutor(max_workers=50) as pool:
                statuses = list(pool.map(lambda i: key_chat((a, b)[i % 2], made["key"]), range(200)))
            assert statuses.count(200) == 20 and statuses.count(429) == 180
            client = server.client()
            [budget] = [k for k in client.scan_iter(match=f"rin:budget:key:{made['token']}:*")
                        if not k.endswith(b":holds")]
            eventually(lambda: client.hmget(budget, "spent", "reserved") == [b"1000000000", b"0"])
            _, _, body = b.request("POST", "/v1/chat/completions", {"model": "slow", "messages": MESSAGES},
                                   headers={"authorization": f"Bearer {made['key']}"})
            error = orjson.loads(body)["error"]
            assert error["type"] == "insufficient_quota" and "shared-team" in error["message"]
            def spend_seen_by_a() -> Decimal:  # A's rows and B's, once B's ledger has written them
                status, _, body = a.request("GET", f"/key/info?key={made['key']}")
                assert status == 200
                return Decimal(str(orjson.loads(body)["info"]["spend"]))

            eventually(lambda: spend_seen_by_a() == Decimal("1"))


def test_a_virtual_keys_rpm_holds_across_two_instances(
    fake: Any, server: RedisServer, pg_url: str, tmp_path: Path
) -> None:
    config = gateway_config(fake, server.port, [deployment("fast", "openai/gpt-4o", fake.openai_base)],
                            master_key=MASTER, database_url=pg_url)
    with Gateway(config, tmp_path / "a", env=KEYS, api_key=MASTER) as a:
        key = generate_key(a, rpm_limit=3)["key"]
        with Gateway(config, tmp_path / "b", env=KEYS, api_key=MASTER) as b:
            if time.time() % 60 > 50:  # the count is per wall-clock minute: start in a fresh one
                time.sleep(60 - time.time() % 60)
            assert [key_chat(a, key, "fast"), key_chat(b, key, "fast"), key_chat(a, key, "fast")] == [200] * 3
            assert key_chat(b, key, "fast") == 429  # B served one; the fleet served three
            _, _, body = a.request("POST", "/v1/chat/completions", {"model": "fast", "messages": MESSAGES},
                                   headers={"authorization": f"Bearer {key}"})
            assert "limit of 3 requests per minute" in orjson.loads(body)["error"]["message"]


def test_redis_stopped_a_keys_rpm_is_counted_by_the_instance_alone(
    fake: Any, server: RedisServer, tmp_path: Path
) -> None:
    config = gateway_config(fake, server.port, [deployment("fast", "openai/gpt-4o", fake.openai_base)],
                            master_key=MASTER)
    with Gateway(config, tmp_path, env=KEYS, api_key=MASTER) as gw:
        key = generate_key(gw, rpm_limit=2)["key"]
        if time.time() % 60 > 50:  # the count is per wall-clock minute: start in a fresh one
            time.sleep(60 - time.time() % 60)
        server.kill()
        assert [key_chat(gw, key, "fast") for _ in range(3)] == [200, 200, 429]


def test_redis_restarted_empty_budgets_are_read_again_from_the_shared_ledger(
    fake: Any, server: RedisServer, tmp_path: Path
) -> None:
    """Two instances writing one ledger (a shared database); a user's budget mostly spent through
    B; Redis restarts empty. A, which only ever saw its own first request, must not seed the
    window from that: it reads the spend again from the ledger first, so a burst through A admits
    only what the limit has left (before: A seeded its stale figure and the user overspent)."""
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    config = gateway_config(fake, server.port, max_end_user_budget=0.5, budget_duration="30d",
                            enforce_budget=True, database_url=database)

    def user_chat(gw: Gateway) -> int:
        return gw.request("POST", "/v1/chat/completions",
                          {"model": "slow", "messages": MESSAGES, "user": "u1"})[0]

    with Gateway(config, tmp_path / "a", env=KEYS) as a, Gateway(config, tmp_path / "b", env=KEYS) as b:
        assert user_chat(a) == 200
        assert [user_chat(b) for _ in range(7)] == [200] * 7  # $0.40 of $0.50 spent
        server.kill()
        server.start()  # empty
        statuses: list[int] = []
        eventually(lambda: statuses.append(user_chat(a)) or statuses[-1] == 429, seconds=20)
    answered = statuses.count(200)
    assert answered <= 2, statuses  # $0.10 left: two more at $0.05, never more
    with sqlite_connect(tmp_path / "shared.db") as db:
        spent = Decimal(str(db.execute("SELECT COALESCE(SUM(cost), 0) FROM spend_log WHERE user = 'u1' "
                                       "AND status = 'success'").fetchone()[0]))
    assert spent <= Decimal("0.5"), spent
    assert "reading budgets again from the ledger" in a.log() or "redis recovered" in a.log()
