"""The tracer: the spans of each client request, handed to a gated batch processor per
destination (OTLP collector, Langfuse).

    request span   SERVER, "{operation} {requested model}", from Tracing.begin to Runtime.finished;
                   a client's W3C traceparent makes it a child in the client's trace
    attempt span   CLIENT, "{operation} {provider model}", begun as the upstream request is built
                   (its id goes upstream in the traceparent header), ended from the router's record
                   of that attempt (rin.router.Attempt: outcome, status, seconds)

Spans are built finished, as the SDK's `ReadableSpan`s, when the request ends: the SDK's live
`Span` validates every attribute under a lock as it is set, which cost more than the whole rest
of a gateway request (~70 µs for two spans, measured). Ids are W3C ones from `random`, as the
SDK's RandomIdGenerator makes them; parent-based sampling: a client's unsampled traceparent is
not traced (nor forwarded), everything else is.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from rin import __version__
from rin.config.resolved import TelemetrySettings
from rin.errors import RinError
from rin.telemetry import attributes as A
from rin.telemetry.export import Counts, Gate, LangfuseExporter, otlp_exporter
from rin.types import ChatRequest, Deployment, UpstreamRequest, Usage

log = logging.getLogger("rin.telemetry")

#: seconds close() waits for the last spans to leave before the process goes on without them
CLOSE_WAIT = 5.0
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_OK = Status(StatusCode.UNSET)


class Tracing:
    """Built once per process from the startup config (a reload does not change destinations)."""

    def __init__(self, settings: TelemetrySettings) -> None:
        self.settings = settings
        self.resource = Resource.create({**settings.resource, "service.name": settings.service_name,
                                         "service.version": __version__})
        self.scope = InstrumentationScope("rin", __version__)
        self.counts: list[Counts] = []
        self.gates: list[Gate] = []
        queue = {"max_queue": settings.queue_size, "delay_ms": settings.schedule_delay_ms}
        if settings.otlp is not None:
            self._add(Counts("otlp"), otlp_exporter(settings.otlp), None, queue)
        self.langfuse = settings.langfuse is not None
        if settings.langfuse is not None:
            wanted = {s for s, on in (("success", settings.langfuse.on_success),
                                      ("error", settings.langfuse.on_failure),
                                      ("cancelled", settings.langfuse.on_failure)) if on}
            self._add(Counts("langfuse"), LangfuseExporter(settings.langfuse), _status_in(wanted), queue)

    def _add(self, counts: Counts, exporter: Any, accept: Any, queue: dict[str, Any]) -> None:
        self.counts.append(counts)
        self.gates.append(Gate(exporter, counts, accept, **queue))

    def begin(self, req: ChatRequest, headers: Iterable[tuple[bytes, bytes]], route: str) -> None:
        """Starts the request's trace (continuing the client's traceparent): sets `req.trace`."""
        parent = state = None
        for name, value in headers:
            if name == b"traceparent":
                parent = value.decode("latin-1").strip().lower()
            elif name == b"tracestate":
                state = value.decode("latin-1")
        trace_id, parent_id, flags = _parse(parent) if parent else (0, 0, 1)
        if parent_id and not flags & 1:
            return  # the caller decided not to sample this trace
        if not trace_id:
            trace_id, parent_id, flags, state = _random_id(128), 0, 1, None
        req.trace = RequestTrace(self, trace_id, parent_id, flags, state if parent_id else None,
                                 A.request_start(req, route))

    def emit(self, span: ReadableSpan) -> None:
        for gate in self.gates:
            gate.on_end(span)

    def close(self) -> None:
        """Flushes what waits, within CLOSE_WAIT seconds: a hanging collector can't hold up exit."""
        def shutdown() -> None:
            for gate in self.gates:
                gate.shutdown()

        worker = threading.Thread(target=shutdown, name="rin-tracing-close", daemon=True)
        worker.start()
        worker.join(CLOSE_WAIT)
        if worker.is_alive():
            log.warning("tracing: spans still unsent after %gs at shutdown were dropped", CLOSE_WAIT)


class RequestTrace:
    """One client request's spans; `ChatRequest.trace` while tracing is on."""

    __slots__ = ("tracing", "trace_id", "span_id", "parent_id", "flags", "state", "start", "attributes",
                 "attempts")

    def __init__(self, tracing: Tracing, trace_id: int, parent_id: int, flags: int, state: str | None,
                 attributes: dict[str, Any]) -> None:
        self.tracing = tracing
        self.trace_id = trace_id
        self.span_id = _random_id(64)
        self.parent_id = parent_id
        self.flags = flags
        #: the client's tracestate, passed on unchanged
        self.state = state
        self.start = time.time_ns()
        self.attributes = attributes
        #: (span id, start ns, deployment, attributes) per upstream attempt, in call order
        self.attempts: list[tuple[int, int, Deployment, dict[str, Any]]] = []

    def attempt(self, build: Callable[[ChatRequest, Deployment], UpstreamRequest], req: ChatRequest,
                dep: Deployment) -> UpstreamRequest:
        """`build(req, dep)` as a new attempt span, whose id the upstream receives as its parent."""
        span_id = _random_id(64)
        self.attempts.append((span_id, time.time_ns(), dep, A.attempt_start(dep, req, len(self.attempts) + 1)))
        up = build(req, dep)
        headers = dict(up.headers)  # an adapter's dict is its own; never add to a shared one
        headers["traceparent"] = f"00-{self.trace_id:032x}-{span_id:016x}-{self.flags:02x}"
        if self.state:
            headers["tracestate"] = self.state
        up.headers = headers
        return up

    def finish(self, state: Any, usage: Usage | None, status: str, error: RinError | None, cost: Decimal,
               source: str, cache_hit: str | None) -> None:
        """Emits the attempt spans and the request span (from Runtime.finished, once)."""
        tracing = self.tracing
        now = time.time_ns()
        flags = TraceFlags(self.flags)
        trace_state = TraceState.from_header([self.state]) if self.state else None
        context = SpanContext(self.trace_id, self.span_id, False, flags, trace_state)
        for span in self._attempt_spans(state, status, error, context, now):
            tracing.emit(span)
        attrs = self.attributes
        attrs.update(A.request_end(state, usage, status, error, cost, source, cache_hit))
        if tracing.langfuse:
            attrs.update(A.langfuse_request(state, tracing.settings.tags))
        if tracing.settings.log_content:
            self._content(state, attrs)
        failed = Status(StatusCode.ERROR, type(error).__name__ if error else "error") if status == "error" else _OK
        parent = SpanContext(self.trace_id, self.parent_id, True, flags, trace_state) if self.parent_id else None
        tracing.emit(ReadableSpan(
            f"{attrs['gen_ai.operation.name']} {state.request.model}", context, parent, tracing.resource, attrs,
            kind=SpanKind.SERVER, status=failed, start_time=self.start, end_time=now,
            instrumentation_scope=tracing.scope))

    def _content(self, state: Any, attrs: dict[str, Any]) -> None:
        prompt, answer = A.prompt_content(state.request), A.answer_content(state.answer)
        for value, names in ((prompt, ("gen_ai.input.messages", "langfuse.observation.input")),
                             (answer, ("gen_ai.output.messages", "langfuse.observation.output"))):
            if value is not None:
                for name in names[: 2 if self.tracing.langfuse else 1]:
                    attrs[name] = value

    def _attempt_spans(self, state: Any, status: str, error: RinError | None, parent: SpanContext,
                       now: int) -> list[ReadableSpan]:
        """Pairs each attempt with the router's record of it: records come in the order of the
        calls, but a call that failed outside the upstream (e.g. building it) has none."""
        tracing, records, i = self.tracing, state.attempts, 0
        spans = []
        for span_id, start, dep, attrs in self.attempts:
            record = records[i] if i < len(records) else None
            end, outcome = now, _OK
            if record is not None and record.deployment == dep.label and record.model_group == dep.model_name:
                attrs.update(A.attempt_end(record, records[:i], status))
                i += 1
                if record.error:
                    outcome = Status(StatusCode.ERROR, record.error)
                if record.error or not state.request.stream:  # a stream's attempt lasts to its last chunk
                    end = min(now, start + int(record.seconds * 1e9))
            else:
                attrs["rin.request.status"] = status
                outcome = Status(StatusCode.ERROR, type(error).__name__ if error else "not sent")
            if tracing.langfuse:
                attrs["langfuse.observation.type"] = "span"
            spans.append(ReadableSpan(
                f"{attrs['gen_ai.operation.name']} {dep.provider_model}",
                SpanContext(self.trace_id, span_id, False, parent.trace_flags, parent.trace_state), parent,
                tracing.resource, attrs, kind=SpanKind.CLIENT, status=outcome, start_time=start, end_time=end,
                instrumentation_scope=tracing.scope))
        return spans


def _parse(header: str) -> tuple[int, int, int]:
    """(trace id, parent span id, flags) of a W3C traceparent; zeros when it is not a valid one."""
    match = _TRACEPARENT.fullmatch(header)
    if match is None or match.group(1) == "ff" or (match.group(1) == "00" and match.group(5)):
        return 0, 0, 1
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if not trace_id or not span_id:
        return 0, 0, 1
    return trace_id, span_id, int(match.group(4), 16)


def _random_id(bits: int) -> int:
    value = 0
    while not value:
        value = random.getrandbits(bits)
    return value


def _status_in(wanted: set[str]) -> Callable[[ReadableSpan], bool]:
    def accept(span: ReadableSpan) -> bool:
        return (span.attributes or {}).get("rin.request.status") in wanted

    return accept
