"""Helpers for the cache tests: a settable clock, and a private redis-server this test may kill."""

from __future__ import annotations

import os
from collections.abc import Iterator
import shutil
import signal
import socket
import subprocess
import time

import redis

from rin.cache import CachedAnswer
from rin.types import Usage


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    """A port nothing listens on (bound then released; the OS won't hand it out again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answer(text: str = "hello", group: str = "gpt-4o") -> CachedAnswer:
    body = (b'{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",'
            b'"content":"' + text.encode() + b'"},"finish_reason":"stop"}],'
            b'"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}')
    return CachedAnswer.from_json(body, Usage(9, 2, 11), "openai/gpt-4o", group)


def stream_answer(group: str = "gpt-4o") -> CachedAnswer:
    chunks = [b'{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"%d"}}]}' % i
              for i in range(5)]
    usage_chunk = b'{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,' \
        b'"completion_tokens":5,"total_tokens":8}}'
    return CachedAnswer.from_stream(chunks, usage_chunk, Usage(3, 5, 8), "openai/gpt-4o", group)


def shared_redis_problem(port: int = 6379) -> str | None:
    """None when the shared Redis on 127.0.0.1 answers a PING, else why not."""
    client = redis.Redis("127.0.0.1", port, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as err:
        return f"{type(err).__name__}: {err}"
    finally:
        client.close()
    return None


def claimed_keys(match: str) -> Iterator[None]:
    """Skips (or fails, with RIN_REQUIRE_SERVICES=1) without the shared Redis on 127.0.0.1:6379;
    after the test, deletes every key matching `match` there."""
    from tests.conftest import require_service

    why = shared_redis_problem()
    require_service("Redis", why is None, why or "")
    yield
    client = redis.Redis("127.0.0.1", 6379, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=match, count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class RedisServer:
    """Our own redis-server on a free port: this test's to stop, freeze and restart."""

    def __init__(self, *args: str) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.binary is not None
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start listening within 10 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def client(self, **kw: object) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.port, socket_timeout=2, **kw)  # type: ignore[arg-type]
