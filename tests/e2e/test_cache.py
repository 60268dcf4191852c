"""The response cache end to end: hits, replayed streams, isolation, controls, and Redis shared
between two gateway instances."""

from __future__ import annotations

import socket
import subprocess
import uuid

import orjson

from tests.conftest import require_service
from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway

DB = "data/litellm/litellm_cost_tracking.db"


def cache_config(fake, **cache_params) -> dict:
    o = fake.openai_base
    return {
        "model_list": [
            deployment("gpt-4o", "openai/gpt-4o-cached", o),
            deployment("primary", "openai/cache-primary", o),
            deployment("backup", "openai/cache-backup", o),
            deployment("broken", "openai/fail-500", o),
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 1000, "fallbacks": [{"primary": ["backup"]}]},
        "litellm_settings": {"cache": True, "cache_params": {"type": "local", **cache_params}},
    }


def ask(gw: Gateway, content: str, **extra) -> tuple[int, dict, dict]:
    status, headers, body = gw.request("POST", "/v1/chat/completions", {
        "model": extra.pop("model", "gpt-4o"), "messages": [{"role": "user", "content": content}], **extra},
        headers=extra.pop("headers", None))
    return status, headers, orjson.loads(body)


def test_repeat_is_a_free_hit_recorded_in_the_ledger(fake, tmp_path):
    fake.reset()
    question = f"cache me {uuid.uuid4().hex}"
    with Gateway(cache_config(fake), tmp_path, env=KEYS) as gw:
        _, first_headers, first = ask(gw, question)
        _, second_headers, second = ask(gw, question)
        assert first_headers["x-rin-cache-hit"] == "false" and second_headers["x-rin-cache-hit"] == "true"
        assert second == first and second_headers["x-rin-response-cost"] == "0"
        assert second_headers["x-rin-model"] == "openai/gpt-4o-cached"
        assert fake.count("gpt-4o-cached") == 1
    rows = orjson.loads(subprocess.run(["sqlite3", "-json", str(tmp_path / DB),
                                        "SELECT cache_hit, cost, model FROM spend_log ORDER BY created_at"],
                                       capture_output=True, text=True, check=True).stdout)
    assert [r["cache_hit"] for r in rows] == [0, 1]
    assert rows[1]["cost"] == "0" and rows[1]["model"] == "gpt-4o"


def test_streamed_answers_are_replayed_as_sse(fake, tmp_path):
    fake.reset()
    question = f"stream me {uuid.uuid4().hex}"
    with Gateway(cache_config(fake), tmp_path, env=KEYS) as gw:
        client = gw.openai()

        def run():
            chunks = list(client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": question}], stream=True,
                stream_options={"include_usage": True}))
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].usage

        text1, usage1 = run()
        text2, usage2 = run()
        assert text1 == text2 and "stream me" in text1
        assert usage2 is not None and usage2.total_tokens == usage1.total_tokens
        assert fake.count("gpt-4o-cached") == 1


def test_users_controls_errors_and_fallbacks(fake, tmp_path):
    fake.reset()
    q = f"isolate {uuid.uuid4().hex}"
    with Gateway(cache_config(fake), tmp_path, env=KEYS) as gw:
        ask(gw, q, user="alice")
        assert ask(gw, q, user="bob")[1]["x-rin-cache-hit"] == "false"  # another user: never shared
        assert ask(gw, q, user="alice")[1]["x-rin-cache-hit"] == "true"
        assert ask(gw, q, user="alice", temperature=0.1)[1]["x-rin-cache-hit"] == "false"  # output-affecting
        assert ask(gw, q, user="alice", cache={"no-cache": True})[1]["x-rin-cache-hit"] == "false"
        assert ask(gw, q, user="alice", headers={"cache-control": "no-cache"})[1]["x-rin-cache-hit"] == "false"
        assert fake.count("gpt-4o-cached") == 5
        fresh = f"never stored {uuid.uuid4().hex}"
        ask(gw, fresh, cache={"no-store": True})
        assert ask(gw, fresh)[1]["x-rin-cache-hit"] == "false"
        status, _, body = ask(gw, q, cache={"ttl": "soon"})
        assert status == 400 and body["error"]["param"] == "cache.ttl"
        for _ in range(2):
            assert ask(gw, "boom", model="broken")[0] == 502
        assert fake.count("fail-500") == 2  # errors are never cached
        fake.set_fault("cache-primary", "fail-500")
        try:
            for _ in range(2):
                status, headers, _ = ask(gw, "fallback answer", model="primary")
                assert status == 200 and headers["x-rin-cache-hit"] == "false"
        finally:
            fake.set_fault("cache-primary", None)
        assert fake.count("cache-backup") == 2  # a fallback's answer is not stored under the primary


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_redis_cache_is_shared_between_instances(fake, tmp_path):
    require_service("Redis", _redis_up(), "nothing listens on 127.0.0.1:6379")
    fake.reset()
    config = cache_config(fake, type="redis", host="127.0.0.1", port=6379, namespace=f"t{uuid.uuid4().hex[:8]}")
    q = f"shared {uuid.uuid4().hex}"
    with Gateway(config, tmp_path / "a", env=KEYS) as one, Gateway(config, tmp_path / "b", env=KEYS) as two:
        assert ask(one, q)[1]["x-rin-cache-hit"] == "false"
        _, headers, _ = ask(two, q)
        assert headers["x-rin-cache-hit"] == "true"
    assert fake.count("gpt-4o-cached") == 1


def test_unreachable_redis_falls_back_to_the_local_cache_without_hanging(fake, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    fake.reset()
    config = cache_config(fake, type="redis", host="127.0.0.1", port=dead_port)
    q = f"no redis {uuid.uuid4().hex}"
    with Gateway(config, tmp_path, env=KEYS) as gw:
        statuses = [ask(gw, q)[0] for _ in range(5)]
        assert statuses == [200] * 5
        assert fake.count("gpt-4o-cached") == 1  # the local fallback served the repeats
        assert gw.log().count("redis unavailable") == 1
