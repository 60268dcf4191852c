"""Where finished spans go: one bounded, counted BatchSpanProcessor per destination.

The SDK's BatchSpanProcessor already exports from its own thread; `Gate` in front of it keeps the
count of spans waiting (handed over, not yet given to the exporter) and drops a request's spans,
counting them, when they would not fit in `max_queue`: before they are even made. The batch processor's own queue therefore never overflows, and the count shown
on /metrics is exact. The exporter's thread may block on a hanging collector for as long as its
timeout; requests only ever append to the queue.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from rin.config.resolved import LangfuseExport, OtlpExport

log = logging.getLogger("rin.telemetry")

#: seconds an export may take before it is abandoned (a hanging collector holds only this thread)
EXPORT_TIMEOUT = 10.0


class Counts:
    """One destination's span counts, read by /metrics."""

    __slots__ = ("destination", "exported", "dropped", "failed", "_waiting", "_lock")

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.exported = 0
        self.dropped = 0
        #: spans in batches whose export failed (collector down, refused, timed out)
        self.failed = 0
        self._waiting = 0
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return self._waiting


class Gate:
    """In front of one destination's BatchSpanProcessor: `reserve` takes room for a request's
    spans (or drops and counts them when `max_queue` already wait, before any is made), `put`
    hands one over."""

    def __init__(self, exporter: SpanExporter, counts: Counts, statuses: frozenset[str] | None = None,
                 max_queue: int = 2048, delay_ms: float = 5000.0) -> None:
        self.counts = counts
        #: the request outcomes this destination receives (None: all)
        self.statuses = statuses
        self.max_queue = max_queue
        self._batch = BatchSpanProcessor(_Counted(exporter, counts), max_queue_size=max_queue,
                                         schedule_delay_millis=delay_ms,
                                         max_export_batch_size=min(512, max_queue))

    def reserve(self, spans: int, status: str) -> bool:
        if self.statuses is not None and status not in self.statuses:
            return False
        counts = self.counts
        with counts._lock:
            if counts._waiting + spans > self.max_queue:
                counts.dropped += spans
                return False
            counts._waiting += spans
        return True

    def put(self, span: ReadableSpan) -> None:
        self._batch.on_end(span)

    def shutdown(self) -> None:
        self._batch.shutdown()


class _Counted(SpanExporter):
    """The destination's exporter, counting what leaves the queue and how it went."""

    def __init__(self, inner: SpanExporter, counts: Counts) -> None:
        self.inner = inner
        self.counts = counts

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        counts = self.counts
        with counts._lock:
            counts._waiting -= len(spans)
        try:
            result = self.inner.export(spans)
        except Exception:  # noqa: BLE001 - an exporter's bug must not stop the export thread
            log.exception("tracing: exporting to %s failed", counts.destination)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            counts.exported += len(spans)
        else:
            counts.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def otlp_exporter(target: OtlpExport) -> SpanExporter:
    """The SDK's own OTLP exporter (timeouts, compression and certificates from the usual
    OTEL_EXPORTER_OTLP_* variables, as the SDK reads them)."""
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=target.endpoint, headers=dict(target.headers) or None)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=target.endpoint, headers=dict(target.headers) or None)


class LangfuseExporter(SpanExporter):
    """OTLP/HTTP protobuf to Langfuse's endpoint with Basic auth.

    Not the SDK's HTTP exporter: that one adds OTEL_EXPORTER_OTLP_HEADERS to every request, and
    the collector's credentials must never reach Langfuse."""

    def __init__(self, target: LangfuseExport, timeout: float = EXPORT_TIMEOUT) -> None:
        self.endpoint = target.endpoint
        token = base64.b64encode(f"{target.public_key}:{target.secret_key.get()}".encode()).decode()
        self._headers = {"Content-Type": "application/x-protobuf", "Authorization": "Basic " + token}
        self.timeout = timeout
        self._warned_at = 0.0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = encode_spans(spans).SerializeToString()
        request = urllib.request.Request(self.endpoint, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                resp.read()
            return SpanExportResult.SUCCESS
        except urllib.error.HTTPError as exc:
            self._warn(f"HTTP {exc.code}" + (" (check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY)"
                                             if exc.code in (401, 403) else ""))
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets
            self._warn(type(getattr(exc, "reason", exc)).__name__)
        return SpanExportResult.FAILURE

    def _warn(self, what: str) -> None:
        """At most one line a minute while Langfuse is unreachable."""
        now = time.monotonic()
        if now - self._warned_at >= 60.0:
            self._warned_at = now
            log.warning("tracing: Langfuse at %s did not take a batch of spans: %s", self.endpoint, what)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
