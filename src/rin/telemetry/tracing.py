"""The tracer: one TracerProvider, a gated batch processor per destination (OTLP collector,
Langfuse), and the spans of each client request.

    request span   SERVER, "{operation} {requested model}", from Tracing.begin to Runtime.finished;
                   a client's W3C traceparent makes it a child in the client's trace
    attempt span   CLIENT, "{operation} {provider model}", started as the upstream request is built
                   (its context goes upstream as traceparent), ended from the router's record of
                   that attempt (rin.router.Attempt: outcome, status, seconds)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from rin import __version__
from rin.config.resolved import TelemetrySettings
from rin.errors import RinError
from rin.telemetry import attributes as A
from rin.telemetry.export import Counts, Gate, LangfuseExporter, otlp_exporter
from rin.types import ChatRequest, Deployment, UpstreamRequest, Usage

log = logging.getLogger("rin.telemetry")

_PROPAGATOR = TraceContextTextMapPropagator()
#: seconds close() waits for the last spans to leave before the process goes on without them
CLOSE_WAIT = 5.0


class Tracing:
    """Built once per process from the startup config (a reload does not change destinations)."""

    def __init__(self, settings: TelemetrySettings) -> None:
        self.settings = settings
        resource = Resource.create({**settings.resource, "service.name": settings.service_name,
                                    "service.version": __version__})
        self.provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_ON), shutdown_on_exit=False)
        self.counts: list[Counts] = []
        queue = {"max_queue": settings.queue_size, "delay_ms": settings.schedule_delay_ms}
        if settings.otlp is not None:
            self._add(Counts("otlp"), otlp_exporter(settings.otlp), None, queue)
        self.langfuse = settings.langfuse is not None
        if settings.langfuse is not None:
            wanted = {s for s, on in (("success", settings.langfuse.on_success),
                                      ("error", settings.langfuse.on_failure),
                                      ("cancelled", settings.langfuse.on_failure)) if on}
            self._add(Counts("langfuse"), LangfuseExporter(settings.langfuse), _status_in(wanted), queue)
        self.tracer = self.provider.get_tracer("rin", __version__)

    def _add(self, counts: Counts, exporter: Any, accept: Any, queue: dict[str, Any]) -> None:
        self.counts.append(counts)
        self.provider.add_span_processor(Gate(exporter, counts, accept, **queue))

    def begin(self, req: ChatRequest, headers: Iterable[tuple[bytes, bytes]], route: str) -> None:
        """Starts the request span (continuing the client's traceparent) and sets `req.trace`."""
        carrier = {}
        for name, value in headers:
            if name in (b"traceparent", b"tracestate"):
                carrier[name.decode()] = value.decode("latin-1")
        parent = _PROPAGATOR.extract(carrier) if carrier else None
        span = self.tracer.start_span(f"{A.operation(req)} {req.model}", context=parent, kind=SpanKind.SERVER,
                                      attributes=A.request_start(req, route))
        req.trace = RequestTrace(self, span)

    def close(self) -> None:
        """Flushes what waits, within CLOSE_WAIT seconds: a hanging collector can't hold up exit."""
        worker = threading.Thread(target=self.provider.shutdown, name="rin-tracing-close", daemon=True)
        worker.start()
        worker.join(CLOSE_WAIT)
        if worker.is_alive():
            log.warning("tracing: spans still unsent after %gs at shutdown were dropped", CLOSE_WAIT)


class RequestTrace:
    """One client request's spans; `ChatRequest.trace` while tracing is on."""

    __slots__ = ("tracing", "span", "attempts")

    def __init__(self, tracing: Tracing, span: Any) -> None:
        self.tracing = tracing
        self.span = span
        #: (span, deployment) per upstream attempt, in the order they were made
        self.attempts: list[tuple[Any, Deployment]] = []

    def attempt(self, build: Callable[[ChatRequest, Deployment], UpstreamRequest], req: ChatRequest,
                dep: Deployment) -> UpstreamRequest:
        """`build(req, dep)` under a new attempt span, whose context the upstream receives."""
        context = trace.set_span_in_context(self.span)
        span = self.tracing.tracer.start_span(
            f"{A.operation(req)} {dep.provider_model}", context=context, kind=SpanKind.CLIENT,
            attributes=A.attempt_start(dep, req, len(self.attempts) + 1))
        self.attempts.append((span, dep))
        up = build(req, dep)
        headers = dict(up.headers)  # an adapter's dict is its own; never add to a shared one
        _PROPAGATOR.inject(headers, context=trace.set_span_in_context(span))
        up.headers = headers
        return up

    def finish(self, state: Any, usage: Usage | None, status: str, error: RinError | None, cost: Decimal,
               source: str, cache_hit: str | None) -> None:
        """Ends the attempt spans and the request span (from Runtime.finished, once)."""
        tracing = self.tracing
        self._end_attempts(state, status, error)
        span = self.span
        span.set_attributes(A.request_end(state, usage, status, error, cost, source, cache_hit))
        if tracing.langfuse:
            span.set_attributes(A.langfuse_request(state, tracing.settings.tags))
        if tracing.settings.log_content:
            self._content(state)
        if status == "error":
            span.set_status(Status(StatusCode.ERROR, type(error).__name__ if error else "error"))
        span.end()

    def _content(self, state: Any) -> None:
        prompt, answer = A.prompt_content(state.request), A.answer_content(state.answer)
        for value, names in ((prompt, ("gen_ai.input.messages", "langfuse.observation.input")),
                             (answer, ("gen_ai.output.messages", "langfuse.observation.output"))):
            if value is not None:
                for name in names[: 2 if self.tracing.langfuse else 1]:
                    self.span.set_attribute(name, value)

    def _end_attempts(self, state: Any, status: str, error: RinError | None) -> None:
        """Pairs each attempt span with the router's record of it: records come in the order of
        the calls, but a call that failed outside the upstream (e.g. building it) has none."""
        records, i = state.attempts, 0
        now = time.time_ns()
        for span, dep in self.attempts:
            record = records[i] if i < len(records) else None
            if record is not None and record.deployment == dep.label and record.model_group == dep.model_name:
                span.set_attributes(A.attempt_end(record, records[:i], status))
                if self.tracing.langfuse:
                    span.set_attribute("langfuse.observation.type", "span")
                i += 1
                if record.error:
                    span.set_status(Status(StatusCode.ERROR, record.error))
                    end = span.start_time + int(record.seconds * 1e9)
                else:  # a stream's attempt lasts until its last chunk
                    end = now if state.request.stream else span.start_time + int(record.seconds * 1e9)
                span.end(end_time=min(end, now))
                continue
            span.set_attribute("rin.request.status", status)
            if self.tracing.langfuse:
                span.set_attribute("langfuse.observation.type", "span")
            span.set_status(Status(StatusCode.ERROR, type(error).__name__ if error else "not sent"))
            span.end(end_time=now)


def _status_in(wanted: set[str]) -> Callable[[ReadableSpan], bool]:
    def accept(span: ReadableSpan) -> bool:
        return (span.attributes or {}).get("rin.request.status") in wanted

    return accept
