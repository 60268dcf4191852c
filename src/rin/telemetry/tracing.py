"""The tracer: the spans of each client request, handed to a gated batch processor per
destination (OTLP collector, Langfuse).

    request span   SERVER, "{operation} {requested model}", from Tracing.begin to Runtime.finished;
                   a client's W3C traceparent makes it a child in the client's trace
    attempt span   CLIENT, "{operation} {provider model}", begun as the upstream request is built
                   (its id goes upstream in the traceparent header), ended from the router's record
                   of that attempt (rin.router.Attempt: outcome, status, seconds)

Spans are made finished when the request ends, as the SDK's `ReadableSpan`s, and their attributes
only when first read: by the exporter's thread as it encodes them. A request whose spans would not
fit in a destination's queue (a collector down) is dropped before anything is made. The request
path only takes ids, timestamps and references (measured in the gateway: ~10-20 µs of CPU a request
while the collector is down, against ~100 µs with the SDK's live `Span`, which validates each
attribute under a lock as it is set). Ids are W3C ones from `random`, as the SDK's
RandomIdGenerator makes them. Sampling as OTEL_TRACES_SAMPLER says (`Sampler`; by default parent-based
always-on: a client's unsampled traceparent is not traced, everything else is); a request not
sampled has no spans, and no traceparent goes upstream for it.
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
from rin.telemetry.stream_view import StreamView
from rin.types import ChatRequest, Deployment, UpstreamRequest, Usage

log = logging.getLogger("rin.telemetry")

#: seconds close() waits for the last spans to leave before the process goes on without them
CLOSE_WAIT = 5.0
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_OK = Status(StatusCode.UNSET)


#: the low 64 bits of a trace id, which the ratio samplers compare (as the SDK's TraceIdRatioBased)
_LOW_64 = (1 << 64) - 1


class Sampler:
    """OTEL_TRACES_SAMPLER's decision for one request, as the SDK's built-in samplers make it:
    `parentbased_*` follow a client traceparent's sampled flag and use their root sampler without
    one; `traceidratio` keeps a trace when its id's low 64 bits are under ratio x 2^64, so every
    service sampling by the same ratio keeps the same traces."""

    __slots__ = ("parent_based", "root", "bound")

    def __init__(self, name: str, ratio: float = 1.0) -> None:
        self.parent_based = name.startswith("parentbased_")
        self.root = name.removeprefix("parentbased_")
        self.bound = round(ratio * (_LOW_64 + 1))

    def __call__(self, trace_id: int, parent_id: int, parent_sampled: bool) -> bool:
        if self.parent_based and parent_id:
            return parent_sampled
        if self.root == "traceidratio":
            return (trace_id & _LOW_64) < self.bound
        return self.root == "always_on"


class Tracing:
    """Built once per process from the startup config (a reload does not change destinations)."""

    def __init__(self, settings: TelemetrySettings) -> None:
        self.settings = settings
        self.sample = Sampler(settings.sampler, settings.ratio)
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
            wanted = frozenset(s for s, on in (("success", settings.langfuse.on_success),
                                               ("error", settings.langfuse.on_failure),
                                               ("cancelled", settings.langfuse.on_failure)) if on)
            self._add(Counts("langfuse"), LangfuseExporter(settings.langfuse), wanted, queue)

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
        if not trace_id:
            trace_id, parent_id, flags, state = _random_id(128), 0, 1, None
        if not self.sample(trace_id, parent_id, bool(flags & 1)):
            return
        req.trace = RequestTrace(self, trace_id, parent_id, flags | 1, state if parent_id else None, route)

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

    __slots__ = ("tracing", "trace_id", "span_id", "parent_id", "flags", "state", "start", "route", "attempts",
                 "stream")

    # no reference to the request: it holds this (req.trace), and a cycle would outlive the request
    def __init__(self, tracing: Tracing, trace_id: int, parent_id: int, flags: int, state: str | None,
                 route: str) -> None:
        self.tracing = tracing
        self.trace_id = trace_id
        self.span_id = _random_id(64)
        self.parent_id = parent_id
        self.flags = flags
        #: the client's tracestate, passed on unchanged
        self.state = state
        self.start = time.time_ns()
        self.route = route
        #: (span id, start ns, deployment, attempt number) per upstream attempt, in call order
        self.attempts: list[tuple[int, int, Deployment, int]] = []
        #: what the relayed stream said of itself (stream_view), if the answer was streamed
        self.stream: StreamView | None = None

    def stream_view(self) -> StreamView:
        """A view for rin.server.relay to show the stream's payloads as it relays them."""
        self.stream = StreamView(self.tracing.settings.log_content)
        return self.stream

    def attempt(self, build: Callable[[ChatRequest, Deployment], UpstreamRequest], req: ChatRequest,
                dep: Deployment) -> UpstreamRequest:
        """`build(req, dep)` as a new attempt span, whose id the upstream receives as its parent."""
        span_id = _random_id(64)
        self.attempts.append((span_id, time.time_ns(), dep, len(self.attempts) + 1))
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
        gates = [g for g in tracing.gates if g.reserve(1 + len(self.attempts), status)]
        if not gates:  # full queues (a collector down) or not wanted: nothing is made
            return
        now = time.time_ns()
        flags = TraceFlags(self.flags)
        trace_state = TraceState.from_header([self.state]) if self.state else None
        context = SpanContext(self.trace_id, self.span_id, False, flags, trace_state)
        spans = self._attempt_spans(state, status, error, context, now)
        failed = Status(StatusCode.ERROR, type(error).__name__ if error else "error") if status == "error" else _OK
        parent = SpanContext(self.trace_id, self.parent_id, True, flags, trace_state) if self.parent_id else None

        def attributes() -> dict[str, Any]:
            attrs = A.request_start(state.request, self.route)
            attrs.update(A.request_end(state, usage, status, error, cost, source, cache_hit))
            if self.stream is not None and self.stream.reasons:
                attrs["gen_ai.response.finish_reasons"] = self.stream.reasons
            if tracing.langfuse:
                attrs.update(A.langfuse_request(state, tracing.settings.tags))
            if tracing.settings.log_content:
                self._content(state, attrs)
            return attrs

        req = state.request
        spans.append(_Span(attributes, f"{A.operation(req)} {req.model}", context, parent, tracing.resource,
                           kind=SpanKind.SERVER, status=failed, start_time=self.start, end_time=now,
                           instrumentation_scope=tracing.scope))
        for gate in gates:
            for span in spans:
                gate.put(span)

    def _content(self, state: Any, attrs: dict[str, Any]) -> None:
        prompt = A.prompt_content(state.request)
        answer = self.stream.content() if self.stream is not None else A.answer_content(state.answer)
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
        req = state.request
        spans: list[ReadableSpan] = []
        for span_id, start, dep, number in self.attempts:
            record = records[i] if i < len(records) else None
            end, outcome = now, _OK
            if record is not None and record.deployment == dep.label and record.model_group == dep.model_name:
                i += 1
                if record.error:
                    outcome = Status(StatusCode.ERROR, record.error)
                if record.error or not state.request.stream:  # a stream's attempt lasts to its last chunk
                    end = min(now, start + int(record.seconds * 1e9))
            else:
                record = None
                outcome = Status(StatusCode.ERROR, type(error).__name__ if error else "not sent")
            spans.append(_Span(_attempt_attributes(dep, req, number, record, records[:i - 1] if record else (),
                                                   status, tracing.langfuse),
                               f"{A.operation(req)} {dep.provider_model}",
                               SpanContext(self.trace_id, span_id, False, parent.trace_flags, parent.trace_state),
                               parent, tracing.resource, kind=SpanKind.CLIENT, status=outcome, start_time=start,
                               end_time=end, instrumentation_scope=tracing.scope))
        return spans


class _Span(ReadableSpan):
    """A finished span whose attributes are made by `make` when first read (in the exporter's
    thread)."""

    def __init__(self, make: Callable[[], dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._make: Callable[[], dict[str, Any]] | None = make
        self._made: dict[str, Any] = {}

    @property
    def attributes(self) -> dict[str, Any]:  # type: ignore[override]
        make = self._make
        if make is not None:  # two exporters may both make them: the same values, no harm
            self._made, self._make = make(), None
        return self._made


def _attempt_attributes(dep: Deployment, req: ChatRequest, number: int, record: Any, previous: Any, status: str,
                        langfuse: bool) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        attrs = A.attempt_start(dep, req, number)
        if record is not None:
            attrs.update(A.attempt_end(record, previous, status))
        else:
            attrs["rin.request.status"] = status
        if langfuse:
            attrs["langfuse.observation.type"] = "span"
        return attrs

    return make


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
