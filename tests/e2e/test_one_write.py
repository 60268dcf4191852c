"""A response's head and body leave `rin serve` in one write (rin.server.http), seen from outside:
the gateway process's count of write system calls (/proc/PID/io, `syscw`) over many requests on
one keep-alive connection, and the bytes a raw client reads."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway

REQUESTS = 40


def write_calls(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw in /proc/PID/io")


def exchange(sock: socket.socket, body: bytes, port: int) -> bytes:
    """One POST on the open connection; the whole response (head + Content-Length bytes)."""
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (port, len(body), body))
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts write system calls in /proc/PID/io")
def test_head_and_body_of_a_response_go_out_in_one_write(fake, tmp_path: Path) -> None:
    config = {"model_list": [deployment("gpt-4o", "openai/gpt-4o", fake.openai_base)],
              "general_settings": {"disable_spend_logs": True}}
    with Gateway(config, tmp_path, env=KEYS) as gw:
        assert gw.proc is not None
        with socket.create_connection(("127.0.0.1", gw.port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            first = exchange(sock, json.dumps({"model": "gpt-4o", "messages": [
                {"role": "user", "content": "warm up"}]}).encode(), gw.port)
            assert first.startswith(b"HTTP/1.1 200 ")
            before = write_calls(gw.proc.pid)
            for i in range(REQUESTS):
                answer = exchange(sock, json.dumps({"model": "gpt-4o", "messages": [
                    {"role": "user", "content": f"hello {i}"}]}).encode(), gw.port)
                assert answer.startswith(b"HTTP/1.1 200 ") and b'"chat.completion"' in answer
            writes = write_calls(gw.proc.pid) - before
    # each request: one write of the answer to us and the upstream request (aiohttp: one write);
    # uvicorn's own way (head, then body) makes it three
    assert writes / REQUESTS < 2.5, f"{writes} write calls for {REQUESTS} requests"
