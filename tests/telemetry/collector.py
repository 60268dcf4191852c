"""Fake trace receivers on 127.0.0.1: an OTLP/HTTP collector (also Langfuse's endpoint), an OTLP
gRPC collector, and a port that accepts connections and never answers. They decode the real
`ExportTraceServiceRequest` protobuf with opentelemetry-proto.

    with OtlpHttpCollector() as collector:
        ... collector.endpoint ...          # http://127.0.0.1:PORT
        spans = collector.wait_for(lambda spans: len(spans) >= 3)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(slots=True)
class Span:
    """One received span, flattened."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    status_code: int
    start: int
    end: int
    resource: dict[str, Any] = field(default_factory=dict)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def flatten(request: trace_service_pb2.ExportTraceServiceRequest) -> list[Span]:
    out = []
    for rs in request.resource_spans:
        resource = {a.key: _value(a.value) for a in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(Span(s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.kind,
                                {a.key: _value(a.value) for a in s.attributes}, s.status.code,
                                s.start_time_unix_nano, s.end_time_unix_nano, resource))
    return out


class _Received:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[Span] = []
        #: request headers of each export, lowercased names
        self.headers: list[dict[str, str]] = []

    def add(self, headers: dict[str, str], request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self.lock:
            self.headers.append(headers)
            self.spans.extend(flatten(request))

    def wait_for(self, done: Callable[[list[Span]], bool], timeout: float = 15.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                spans = list(self.spans)
            if done(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"the collector did not receive the spans in {timeout}s; got "
                                     f"{[(s.name, s.attributes.get('rin.request_id')) for s in spans]}")
            time.sleep(0.02)


class OtlpHttpCollector(_Received):
    """POST {path} with an ExportTraceServiceRequest body (application/x-protobuf)."""

    def __init__(self, path: str = "/v1/traces", status: int = 200) -> None:
        super().__init__()
        collector = self
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                collector.paths.append(self.path)
                if self.path == path and status == 200:
                    request = trace_service_pb2.ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    collector.add({k.lower(): v for k, v in self.headers.items()}, request)
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "OtlpHttpCollector":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class OtlpGrpcCollector(_Received):
    """opentelemetry.proto.collector.trace.v1.TraceService/Export over gRPC (insecure)."""

    def __init__(self) -> None:
        import grpc

        super().__init__()
        collector = self

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the service's name
                collector.add({k: v for k, v in context.invocation_metadata()}, request)
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{port}"

    def __enter__(self) -> "OtlpGrpcCollector":
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)


class Silent:
    """A port that accepts connections and never answers (a hung collector)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.endpoint = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._held.append(conn)  # read nothing, answer nothing, close nothing

    def __enter__(self) -> "Silent":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()
