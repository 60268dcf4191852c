"""Injection strings in every spend parameter and in the request's own `user`, on SQLite and on
PostgreSQL: stored and matched verbatim, never executed."""

from __future__ import annotations

import socket
import urllib.parse
import uuid

import orjson
import pytest

from tests.conftest import require_service
from tests.e2e.conftest import KEYS, core_config
from tests.gateway import Gateway

INJECTIONS = [
    "' OR '1'='1", "x'; DROP TABLE spend_log; --", '" OR 1=1 --', "1; SELECT pg_sleep(5)",
    "alice') UNION SELECT * FROM rin_migrations --", "%' OR 'a'='a", "\\'; DELETE FROM spend_log; --",
]


def _pg_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
        return True
    except OSError:
        return False


def ledgers():
    yield "sqlite", None
    yield "postgresql", "postgresql://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize("engine,url", list(ledgers()))
def test_injection_strings_are_data(fake, tmp_path, engine, url):
    if url:
        require_service("PostgreSQL", _pg_up(), "nothing listens on 127.0.0.1:5432")
    config = core_config(fake)
    if url:
        config["general_settings"] = {"database_url": url}
    marker = uuid.uuid4().hex[:8]
    with Gateway(config, tmp_path, env=KEYS) as gw:
        for evil in INJECTIONS:
            status, _, _ = gw.request("POST", "/v1/chat/completions", {
                "model": "gpt-4o", "user": evil + marker, "messages": [{"role": "user", "content": "x"}]})
            assert status == 200
        for evil in INJECTIONS:
            q = urllib.parse.quote(evil + marker)
            status, _, body = gw.request("GET", f"/spend/logs?user={q}&limit=50")
            assert status == 200
            rows = orjson.loads(body)
            assert [r["user"] for r in rows] == [evil + marker]  # exactly its own row, matched verbatim
            for param in ("model", "start_date", "end_date", "limit", "group_by"):
                path = "/spend/report" if param == "group_by" else "/spend/logs"
                status, _, body = gw.request("GET", f"{path}?{param}={urllib.parse.quote(evil)}")
                assert status in (200, 400), (param, evil, status)
                if status == 400:
                    assert orjson.loads(body)["error"]["param"] == param
        status, _, body = gw.request("GET", "/spend/report?group_by=user&start_date=1d")
        users = {r["user"] for r in orjson.loads(body)["data"]}
        assert {e + marker for e in INJECTIONS} <= users  # the table is intact and every row is there
