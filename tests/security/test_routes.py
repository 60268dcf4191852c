"""Every route is guarded, and route confusion finds no way around the guard."""

from __future__ import annotations

import http.client
import socket

import orjson
import pytest

from rin.server.app import PUBLIC, App
from tests.e2e.conftest import KEYS, core_config
from tests.gateway import Gateway

MASTER = "sk-master-sec-8d21"


@pytest.fixture(scope="module")
def guarded(fake, tmp_path_factory):
    config = core_config(fake)
    config["general_settings"] = {"master_key": MASTER}
    with Gateway(config, tmp_path_factory.mktemp("sec"), env=KEYS) as gw:
        yield gw


def route_table() -> dict[str, list[str]]:
    """The real table, read from an App built on a minimal config (no network)."""
    from rin.config.resolved import Config
    from rin.runtime import Runtime

    app = App(Runtime(Config(path=None, deployments=[])))
    return {path: sorted(methods) for path, methods in app.routes.items()}


def raw(gw: Gateway, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
        host: str = "127.0.0.1") -> tuple[int, bytes]:
    """A request with the target sent exactly as given (no client-side normalising)."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
                 "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


def test_every_non_public_route_needs_the_key(guarded):
    table = route_table()
    assert "/v1/chat/completions" in table and "/spend/logs" in table
    checked = 0
    for path, methods in table.items():
        for method in methods:
            status, body = raw(guarded, method, path, b"{}", {"content-type": "application/json"})
            if path in PUBLIC:
                assert status != 401, path
            else:
                assert status == 401, f"{method} {path} answered {status} without a key"
                error = orjson.loads(body)
                if "/messages" in path:  # the Anthropic protocol's routes answer in its shape
                    assert error["type"] == "error" and error["error"]["type"] == "authentication_error", body
                else:
                    assert error["error"]["code"] == "invalid_api_key"
                checked += 1
    for method in ("GET", "DELETE"):  # the stored responses' routes, /v1/responses/{id}
        status, body = raw(guarded, method, "/v1/responses/resp_abc")
        assert status == 401 and orjson.loads(body)["error"]["code"] == "invalid_api_key"
    assert checked >= 10


@pytest.mark.parametrize("target", [
    "/v1/../v1/models", "/v1/%2e%2e/v1/models", "//v1/models", "/v1/models/", "/V1/models",
    "/health/../v1/models", "/health/..%2fv1%2fmodels", "/v1/chat%2Fcompletions", "/v1/models?x=../..",
    "/v1/models%00", "/ui/../spend/logs", "/ui/static/../../../etc/passwd", "/ui/static/%2e%2e%2fapp.py",
])
def test_route_confusion_never_reaches_data_without_the_key(guarded, target):
    status, body = raw(guarded, "GET", target)
    assert status in (400, 401, 404), f"{target} -> {status}"
    assert b'"data"' not in body and b"root:" not in body


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:1", "x" * 300, "[::1]"])
def test_odd_host_headers_change_nothing(guarded, host):
    assert raw(guarded, "GET", "/v1/models", host=host)[0] == 401
    status, _ = raw(guarded, "GET", "/v1/models", host=host, headers={"authorization": f"Bearer {MASTER}"})
    assert status == 200


@pytest.mark.parametrize("body", [
    b"", b"null", b"[]", b"{", b'{"model": 5, "messages": []}', b'{"model": "gpt-4o"}',
    b'{"model": "gpt-4o", "messages": "hi"}', b'{"model": "gpt-4o", "messages": [], "stream": true}',
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "n": -1}',
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": -1e7}',
    b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream_options": 3}',
    b"\xff\xfe\x00garbage", b'{"model": "' + b"m" * 100000 + b'", "messages": [{}]}',
])
def test_malformed_bodies_get_a_clear_4xx(guarded, body):
    status, payload = raw(guarded, "POST", "/v1/chat/completions", body,
                          {"authorization": f"Bearer {MASTER}", "content-type": "application/json"})
    assert 400 <= status < 500, (body[:40], status, payload[:200])
    error = orjson.loads(payload)["error"]
    assert error["message"] and error["type"]


def test_token_prefix_or_suffix_is_not_accepted(guarded):
    for token in (MASTER[:-1], MASTER + "x", MASTER.upper(), " " + MASTER[:10]):
        status, _ = raw(guarded, "GET", "/v1/models", headers={"authorization": f"Bearer {token}"})
        assert status == 401, token


def test_body_deadline_answers_slow_clients(fake, tmp_path):
    import rin.server.app as app_module

    assert app_module.BODY_TIMEOUT <= 60  # the guard exists; a real 30 s wait is too slow for a test
    config = core_config(fake)
    with Gateway(config, tmp_path, env=KEYS) as gw:
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        conn.putrequest("POST", "/v1/chat/completions")
        conn.putheader("content-length", "100")
        conn.endheaders()
        conn.send(b'{"model": ')  # and then nothing: the server must not wait forever holding resources
        conn.close()
        assert gw.request("GET", "/health/liveliness")[0] == 200
