"""A recording HTTP reverse proxy for end-to-end tests of third-party clients (tests/e2e/test_cli_clients.py).

The gateway runs without an access log, so to see *every* call a client such as the `claude` or
`codex` CLI makes (HEAD probes, /v1/models, count_tokens, ...) the client is pointed at this proxy,
which forwards each request to the gateway unchanged, streams the answer back as it arrives (SSE
included) and records method, path, status and the parsed JSON body.

    with RecordingProxy(gw.base_url) as proxy:
        run_client(base_url=proxy.base_url)
        [(c.method, c.path, c.status) for c in proxy.calls]
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "host", "content-length"}


@dataclass(slots=True)
class Call:
    """One request a client made, as the proxy forwarded it."""

    method: str
    path: str
    headers: dict[str, str]  # lowercased names
    json: Any  # parsed request body, or None
    status: int | None = None  # the gateway's status; None when it could not be reached
    response_headers: dict[str, str] = field(default_factory=dict)
    response_excerpt: bytes = b""  # the first bytes of the answer, for failure messages

    def brief(self) -> str:
        model = self.json.get("model") if isinstance(self.json, dict) else None
        return f"{self.method} {self.path} -> {self.status}" + (f" (model {model})" if model else "")


class RecordingProxy:
    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target_host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True)

    def __enter__(self) -> "RecordingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def summary(self) -> list[str]:
        with self._lock:
            return [c.brief() for c in self.calls]

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        call = Call(handler.command, handler.path, headers, parsed)
        with self._lock:
            self.calls.append(call)
        out_headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        conn = http.client.HTTPConnection(self.target_host, self.target_port, timeout=120)
        try:
            conn.request(handler.command, handler.path, body=body or None, headers=out_headers)
            resp = conn.getresponse()
        except OSError as err:
            call.status = None
            handler.send_error(502, f"recording proxy: gateway unreachable: {err}")
            return
        call.status = resp.status
        call.response_headers = {k.lower(): v for k, v in resp.getheaders()}
        handler.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in _HOP:
                handler.send_header(name, value)
        no_body = handler.command == "HEAD" or resp.status in (204, 304)
        if not no_body:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            if no_body:
                resp.read()
                return
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                if len(call.response_excerpt) < 2000:
                    call.response_excerpt += chunk[: 2000 - len(call.response_excerpt)]
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except OSError:
            pass  # the client went away
        finally:
            conn.close()
