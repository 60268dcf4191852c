"""Tracing: one OpenTelemetry pipeline feeding an OTLP collector and/or Langfuse.

    build_tracing(settings) -> Tracing | None       None when off: the request path then pays one
                                                     attribute check (`req.trace is None`)
    Tracing.begin(req, headers, route)             the request span, continuing the client's
                                                     traceparent; sets `req.trace`
    RequestTrace.attempt(build, req, dep)          a child span per upstream attempt, its context
                                                     sent upstream as traceparent
    RequestTrace.finish(...)                       from Runtime.finished: attributes, attempt
                                                     ends, the request span's end

Spans leave through BatchSpanProcessors behind a bounded gate (export.py): a slow, hanging or
absent collector never holds a request up; a full queue drops spans and counts them
(`rin_telemetry_spans_dropped_total`). Settings come from the config (rin.config.telemetry);
this package imports opentelemetry only when tracing is configured.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from rin.config.resolved import TelemetrySettings

if TYPE_CHECKING:
    from rin.telemetry.tracing import Tracing

log = logging.getLogger("rin.telemetry")

INSTALL_HINT = "pip install 'rin[otel]'"


def build_tracing(settings: TelemetrySettings) -> "Tracing | None":
    """The running tracer for `settings`, or None when tracing is off or its packages are missing
    (a warning names the install command; the gateway serves without traces)."""
    if not settings.enabled:
        return None
    try:
        from rin.telemetry.tracing import Tracing
    except ImportError as exc:
        log.warning("tracing is configured but OpenTelemetry is not installed (%s): run %s; "
                    "serving without traces", exc.name or exc, INSTALL_HINT)
        return None
    tracing = Tracing(settings)
    log.info("tracing: %s", describe(settings))
    return tracing


def describe(settings: TelemetrySettings) -> str:
    """Where spans go, one line (no header or key values)."""
    parts = []
    if settings.otlp is not None:
        parts.append(f"OpenTelemetry to {_public(settings.otlp.endpoint)} ({settings.otlp.protocol})")
    if settings.langfuse is not None:
        which = [w for w, on in (("successes", settings.langfuse.on_success),
                                 ("failures", settings.langfuse.on_failure)) if on]
        parts.append(f"Langfuse at {_public(settings.langfuse.endpoint)} ({' and '.join(which)})")
    if not parts:
        return "off"
    content = "with" if settings.log_content else "without"
    sampler = settings.sampler + (f" {settings.ratio:g}" if settings.sampler.endswith("traceidratio") else "")
    return (f"{'; '.join(parts)}; service {settings.service_name!r}, {content} prompts and answers, "
            f"sampler {sampler}")


def _public(url: str) -> str:
    """`url` without a user:password part."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))
